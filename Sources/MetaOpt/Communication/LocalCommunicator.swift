import Foundation

/// A job of one rank: every collective is the identity. Used for tests and for running without MPI.
public final class LocalCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ op: ReductionOperation) throws {}
    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ op: ReductionOperation) throws {}
    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ op: ReductionOperation) throws {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard root == 0 else {
            throw CommunicatorError(function: "broadcast", message: "root \(root) out of range for a job of 1 rank")
        }
    }
    public func allgather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>,
                          counts: [Int]) throws {
        try checkAllgather(send: send.count, receive: receive.count, counts: counts, function: "allgather")
        if let base = send.baseAddress, send.count > 0 { receive.baseAddress!.update(from: base, count: send.count) }
    }
    public func split(color: Int, key: Int) throws -> any Communicator {
        guard color >= 0 else { throw CommunicatorError(function: "split", message: "color \(color) is negative") }
        return LocalCommunicator()
    }
    public func barrier() throws {}
    public func abort(code: Int32, message: String) -> Never {
        Console.error("metaopt-dist: \(message)\n")
        exit(code)
    }
}
