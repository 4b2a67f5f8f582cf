import Foundation
import MetaOpt
import XCTest

final class LocalCommunicatorTests: XCTestCase {
    func testRankAndSize() {
        let comm = LocalCommunicator()
        XCTAssertEqual(comm.rank, 0)
        XCTAssertEqual(comm.size, 1)
        XCTAssertTrue(comm.isRoot)
    }

    func testAllreduceIsIdentityForEveryTypeAndOperation() throws {
        let comm = LocalCommunicator()
        for op in [ReductionOperation.sum, .max, .min] {
            var floats: [Float] = [1.5, -2, .pi, 0]
            try comm.allreduce(&floats, op)
            XCTAssertEqual(floats, [1.5, -2, .pi, 0])
            var doubles: [Double] = [1e300, -0.25, 3]
            try comm.allreduce(&doubles, op)
            XCTAssertEqual(doubles, [1e300, -0.25, 3])
            var ints: [Int64] = [.max, .min, 7]
            try comm.allreduce(&ints, op)
            XCTAssertEqual(ints, [.max, .min, 7])
            var empty: [Double] = []
            try comm.allreduce(&empty, op)
            XCTAssertEqual(empty, [])
        }
    }

    func testAllreduceThroughBufferPointer() throws {
        let comm = LocalCommunicator()
        var values: [Float] = [1, 2, 3]
        try values.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
        XCTAssertEqual(values, [1, 2, 3])
    }

    func testBroadcastKeepsRootBuffer() throws {
        let comm = LocalCommunicator()
        var values: [Double] = [1, 2, 3]
        try comm.broadcast(&values, root: 0)
        XCTAssertEqual(values, [1, 2, 3])
        var bytes: [UInt8] = Array("abc".utf8)
        try comm.broadcast(&bytes)
        XCTAssertEqual(bytes, Array("abc".utf8))
    }

    func testBroadcastFromRankOutsideJobThrows() {
        let comm = LocalCommunicator()
        var values: [Double] = [1]
        XCTAssertThrowsError(try comm.broadcast(&values, root: 1)) { error in
            let error = error as? CommunicatorError
            XCTAssertEqual(error?.function, "broadcast")
            XCTAssertTrue(error?.message.contains("out of range") ?? false)
        }
    }

    private struct Config: Codable, Equatable {
        var name: String
        var seed: UInt64
        var rates: [Double]
        var nested: [String: [Int]]
        var optional: Float?
    }

    func testCodableBroadcastRoundTrips() throws {
        let comm = LocalCommunicator()
        let config = Config(name: "quadratic ✓", seed: .max, rates: [1e-3, 0.1], nested: ["a": [1, 2], "b": []],
                            optional: nil)
        XCTAssertEqual(try comm.broadcast(value: config), config)
        XCTAssertEqual(try comm.broadcast(value: "plain string", root: 0), "plain string")
        XCTAssertEqual(try comm.broadcast(value: [Int64.min, 0, .max]), [Int64.min, 0, .max])
    }

    func testCodableBroadcastFromRankOutsideJobThrows() {
        XCTAssertThrowsError(try LocalCommunicator().broadcast(value: 42, root: 3))
    }

    func testBarrierReturns() throws {
        try LocalCommunicator().barrier()
    }

    func testCommunicatorErrorDescriptionNamesTheFunction() {
        let error = CommunicatorError(function: "MPI_Allreduce", message: "MPI_ERR_TRUNCATE: message truncated")
        XCTAssertEqual(error.description, "MPI_Allreduce: MPI_ERR_TRUNCATE: message truncated")
    }
}

extension LocalCommunicatorTests {
    /// allgather refuses a send count other than counts[rank] (found unchecked by mutation: the
    /// values were copied silently).
    func testAllgatherRefusesASendCountOtherThanItsCount() {
        let send: [Float] = [1, 2]
        var receive = [Float](repeating: 0, count: 3)
        XCTAssertThrowsError(try send.withUnsafeBufferPointer { s in
            try receive.withUnsafeMutableBufferPointer { try LocalCommunicator().allgather(s, into: $0, counts: [3]) }
        })
    }
}
