import Foundation

/// Reduction operations supported by `Communicator.allreduce`.
public enum ReductionOperation: String, Sendable, Codable {
    case sum, max, min
}

/// An error raised by a communicator; `function` names the failing call (for MPI: the MPI function).
public struct CommunicatorError: Error, CustomStringConvertible, Sendable {
    public var function: String
    public var message: String
    public init(function: String, message: String) {
        self.function = function
        self.message = message
    }
    public var description: String { "\(function): \(message)" }
}

/// The only way the core library talks to other ranks.
///
/// Every collective must be called by every rank in the same order with the same element counts;
/// a rank that cannot continue calls `abort(code:message:)`, which brings the whole job down
/// instead of leaving the others waiting in a collective.
public protocol Communicator: AnyObject {
    /// This process's rank, `0..<size`.
    var rank: Int { get }
    /// Number of ranks in the job.
    var size: Int { get }

    /// In-place reduction across all ranks; every rank receives the result.
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ op: ReductionOperation) throws
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ op: ReductionOperation) throws
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ op: ReductionOperation) throws

    /// Broadcast raw bytes from `root`; every rank passes a buffer of the same size.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws

    /// Gathers every rank's `send` into `receive` on every rank, in rank order: rank r's values
    /// land at offset counts[0] + … + counts[r − 1]. `counts[r]` is rank r's `send.count`; every
    /// rank passes the same `counts`, and `receive.count` is their sum.
    func allgather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>,
                   counts: [Int]) throws

    /// Splits the ranks into new communicators, one per `color` (≥ 0): the ranks that pass the same
    /// color form one, ordered by `key` and then by their rank here. Collective: every rank calls
    /// it. The new communicator's collectives involve only its own ranks.
    func split(color: Int, key: Int) throws -> any Communicator

    /// Blocks until every rank has called it.
    func barrier() throws

    /// Ends the whole job with exit status `code` after printing `message` to stderr. Never returns.
    func abort(code: Int32, message: String) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// In-place reduction of a Swift array (one overload per element type the protocol reduces:
    /// a generic one accepted types it could only trap on).
    public func allreduce(_ array: inout [Float], _ op: ReductionOperation) throws {
        try array.withUnsafeMutableBufferPointer { try allreduce($0, op) }
    }
    public func allreduce(_ array: inout [Double], _ op: ReductionOperation) throws {
        try array.withUnsafeMutableBufferPointer { try allreduce($0, op) }
    }
    public func allreduce(_ array: inout [Int64], _ op: ReductionOperation) throws {
        try array.withUnsafeMutableBufferPointer { try allreduce($0, op) }
    }

    /// Checks `allgather`'s arguments against this communicator (the implementations' common part).
    public func checkAllgather(send: Int, receive: Int, counts: [Int], function: String) throws {
        guard counts.count == size, counts.allSatisfy({ $0 >= 0 }) else {
            throw CommunicatorError(function: function, message: "need \(size) non-negative counts, got \(counts)")
        }
        guard counts[rank] == send, counts.reduce(0, +) == receive else {
            throw CommunicatorError(function: function,
                                    message: "rank \(rank) sends \(send) and receives \(receive) values, counts say \(counts[rank]) and \(counts.reduce(0, +))")
        }
    }

    /// Broadcast of a buffer of trivial values (its count must match on every rank).
    public func broadcast<T: BitwiseCopyable>(_ array: inout [T], root: Int = 0) throws {
        try array.withUnsafeMutableBytes { try broadcast($0, root: root) }
    }

    /// Broadcast of a `Codable` value from `root`: its JSON length first, then the bytes.
    /// Non-root ranks may pass any value; they receive root's.
    public func broadcast<T: Codable>(value: T, root: Int = 0) throws -> T {
        var bytes: [UInt8] = []
        if rank == root { bytes = Array(try JSONEncoder().encode(value)) }
        var count: [Int64] = [Int64(bytes.count)]
        try broadcast(&count, root: root)
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(count[0])) }
        try broadcast(&bytes, root: root)
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    }
}
