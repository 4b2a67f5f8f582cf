@testable import MetaOpt

/// One rank's view of a job of two in a test that runs one process: every collective does nothing
/// (gathers and splits are not for these doubles and trap) unless the conforming class implements
/// it, so each double states only the collective it answers.
protocol TwoRankTestCommunicator: Communicator {}

extension TwoRankTestCommunicator {
    var size: Int { 2 }
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ op: ReductionOperation) throws {}
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ op: ReductionOperation) throws {}
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ op: ReductionOperation) throws {}
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    func allgather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>,
                   counts: [Int]) throws {
        preconditionFailure("\(Self.self) does not gather")
    }
    func split(color: Int, key: Int) throws -> any Communicator {
        preconditionFailure("\(Self.self) does not split")
    }
    func barrier() throws {}
    func abort(code: Int32, message: String) -> Never { fatalError(message) }
}
