internal import CMPI
import Foundation
import MetaOpt

/// `Communicator` over MPI's world communicator.
///
/// Construction initialises MPI if needed (`MPIRuntime.initialize`), so it works both under mpirun
/// and as a singleton started directly. Every failing MPI call throws `CommunicatorError` whose
/// `function` is the MPI function's name and whose `message` is `MPI_Error_string`'s text.
///
/// Buffers of more than `Int32.max` elements (MPI counts are C `int`) are split into consecutive
/// collectives of at most `maxElementsPerCall` elements; since every rank passes the same count,
/// every rank issues the same sequence of calls.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    /// Largest element count passed to one MPI call; longer buffers are split. Must be the same on
    /// every rank. Defaults to `Int32.max`; tests lower it to exercise the splitting.
    public var maxElementsPerCall: Int = Int(Int32.max) {
        didSet {
            precondition((1...Int(Int32.max)).contains(maxElementsPerCall),
                         "maxElementsPerCall must be in 1...Int32.max, got \(maxElementsPerCall)")
        }
    }

    private let comm: MPI_Comm

    /// The deadline of every collective of this communicator (`CollectiveWatchdog`).
    public let watchdog: CollectiveWatchdog

    /// The communicator of all ranks of the job (`MPI_COMM_WORLD`), initialising MPI first if
    /// no one did.
    public convenience init() throws {
        try MPIRuntime.initialize()
        try self.init(comm: metaopt_mpi_comm_world())
    }

    /// Whether `comm` was made by `split` (and is freed with this object).
    private let ownsComm: Bool

    private init(comm: MPI_Comm, watchdog: CollectiveWatchdog? = nil) throws {
        var rank: Int32 = 0
        var size: Int32 = 0
        try mpiCheck(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank")
        try mpiCheck(MPI_Comm_size(comm, &size), "MPI_Comm_size")
        self.comm = comm
        ownsComm = watchdog != nil
        self.watchdog = watchdog ?? CollectiveWatchdog(rank: Int(rank))
        self.rank = Int(rank)
        self.size = Int(size)
    }

    deinit {
        if ownsComm && MPIRuntime.isActive {
            var c: MPI_Comm? = comm
            _ = MPI_Comm_free(&c)
        }
    }

    /// Name of the host this rank runs on (`MPI_Get_processor_name`).
    public var processorName: String {
        var chars = [CChar](repeating: 0, count: Int(metaopt_mpi_max_processor_name()) + 1)
        var length: Int32 = 0
        let rc = chars.withUnsafeMutableBufferPointer { MPI_Get_processor_name($0.baseAddress, &length) }
        guard rc == metaopt_mpi_success() else { return ProcessInfo.processInfo.hostName }
        return String(decoding: chars.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Collectives

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ op: ReductionOperation) throws {
        try allreduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                      stride: MemoryLayout<Float>.stride, type: metaopt_mpi_float(), op: op)
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ op: ReductionOperation) throws {
        try allreduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                      stride: MemoryLayout<Double>.stride, type: metaopt_mpi_double(), op: op)
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ op: ReductionOperation) throws {
        try allreduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                      stride: MemoryLayout<Int64>.stride, type: metaopt_mpi_int64(), op: op)
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard (0..<size).contains(root) else {
            throw CommunicatorError(function: "MPI_Bcast", message: "root \(root) out of range for a job of \(size) ranks")
        }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        var offset = 0
        while offset < buffer.count {
            let n = min(maxElementsPerCall, buffer.count - offset)
            try collective("MPI_Bcast") {
                try mpiCheck(MPI_Bcast(base + offset, Int32(n), metaopt_mpi_byte(), Int32(root), comm), "MPI_Bcast")
            }
            offset += n
        }
    }

    public func allgather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>,
                          counts: [Int]) throws {
        try checkAllgather(send: send.count, receive: receive.count, counts: counts, function: "MPI_Allgatherv")
        guard receive.count <= Int(Int32.max) else {
            throw CommunicatorError(function: "MPI_Allgatherv", message: "\(receive.count) values are more than one call can gather")
        }
        guard receive.count > 0 else { return }
        var displacements = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) { displacements[r] = displacements[r - 1] + Int32(counts[r - 1]) }
        let counts32 = counts.map { Int32($0) }
        // MPI wants a valid pointer even for an empty contribution.
        var empty: Float = 0
        try withUnsafeMutablePointer(to: &empty) { emptyPointer in
            let sendBase = UnsafeRawPointer(send.baseAddress ?? UnsafePointer(emptyPointer))
            try collective("MPI_Allgatherv") {
                try mpiCheck(MPI_Allgatherv(sendBase, Int32(send.count), metaopt_mpi_float(), receive.baseAddress,
                                            counts32, displacements, metaopt_mpi_float(), comm), "MPI_Allgatherv")
            }
        }
    }

    /// `MPI_Comm_split`. The new communicator shares this one's watchdog (its deadline and activity).
    public func split(color: Int, key: Int) throws -> any Communicator {
        guard (0...Int(Int32.max)).contains(color), let key32 = Int32(exactly: key) else {
            throw CommunicatorError(function: "MPI_Comm_split", message: "color \(color) or key \(key) out of range")
        }
        var newComm: MPI_Comm? = nil
        try collective("MPI_Comm_split") {
            try mpiCheck(MPI_Comm_split(comm, Int32(color), key32, &newComm), "MPI_Comm_split")
        }
        guard let newComm else { throw CommunicatorError(function: "MPI_Comm_split", message: "returned no communicator") }
        return try MPICommunicator(comm: newComm, watchdog: watchdog)
    }

    public func barrier() throws {
        try collective("MPI_Barrier") { try mpiCheck(MPI_Barrier(comm), "MPI_Barrier") }
    }

    /// Prints `metaopt-dist: rank R: message` to stderr and ends the whole job with `MPI_Abort`
    /// (or `exit` where MPI is not active, or for a singleton). Flushes stdout first so finished
    /// lines are not lost.
    public func abort(code: Int32, message: String) -> Never {
        fflush(nil)  // all C streams, stdout included
        Console.error("metaopt-dist: rank \(rank): \(message)\n")
        // A singleton (started without a launcher) has no other rank to stop, and Open MPI 4's
        // MPI_Abort there prints a spurious ORTE_ERROR_LOG line: just exit.
        if MPIRuntime.isActive, size > 1 || LaunchEnvironment.atLaunch.isLaunched {
            _ = MPI_Abort(comm, code)
        }
        exit(code)
    }

    // MARK: Private

    /// One collective call `name`, under the watchdog's deadline. After `MPIRuntime.finalize()`
    /// Open MPI would end the process at the call: a thrown error instead.
    private func collective(_ name: StaticString, _ body: () throws -> Void) throws {
        guard MPIRuntime.isActive else {
            throw CommunicatorError(function: "\(name)", message: "MPI is not active (MPIRuntime.finalize() has run)")
        }
        try watchdog.guarding("\(name)", body)
    }

    private func allreduce(_ base: UnsafeMutableRawPointer?, count: Int, stride: Int,
                           type: MPI_Datatype, op: ReductionOperation) throws {
        guard let base, count > 0 else { return }
        let mpiOp: MPI_Op
        switch op {
        case .sum: mpiOp = metaopt_mpi_op_sum()
        case .max: mpiOp = metaopt_mpi_op_max()
        case .min: mpiOp = metaopt_mpi_op_min()
        }
        var offset = 0
        while offset < count {
            let n = min(maxElementsPerCall, count - offset)
            try collective("MPI_Allreduce") {
                try mpiCheck(MPI_Allreduce(UnsafeRawPointer(metaopt_mpi_in_place()), base + offset * stride, Int32(n),
                                           type, mpiOp, comm), "MPI_Allreduce")
            }
            offset += n
        }
    }
}
