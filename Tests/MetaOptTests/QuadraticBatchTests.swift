import XCTest
@testable import MetaOpt

/// The engine evaluates all quadratics of a step in one `QuadraticBatch` call: it must give every
/// task's own loss and gradient bit for bit, and fall back to task-by-task where it cannot batch.
final class QuadraticBatchTests: XCTestCase {
    func testEveryLaneGivesItsTasksOwnBits() throws {
        // 13 tasks: one whole group of eight and a partial one, packed for a small n and run one
        // by one past `packedRemainderDimension` (a group of one task held and read eight tasks' W).
        try checkEveryTaskGetsItsOwnBits(dimension: 7)
        try checkEveryTaskGetsItsOwnBits(dimension: QuadraticBatch.packedRemainderDimension + 1)
        let key = RandomKey(seed: 3, horizon: 1, task: 0)
        XCTAssertEqual(QuadraticBatch(Array(repeating: QuadraticOptimizee(dimension: 7, key: key), count: 13)).count, 13)
        XCTAssertEqual(QuadraticBatch(Array(repeating: QuadraticOptimizee(dimension: 65, key: key), count: 13)).count, 8)
        XCTAssertEqual(QuadraticBatch([QuadraticOptimizee(dimension: 65, key: key)]).count, 0)
    }

    private func checkEveryTaskGetsItsOwnBits(dimension n: Int) throws {
        let tasks = (0..<13).map { QuadraticOptimizee(dimension: n, key: RandomKey(seed: 3, horizon: 1, task: $0)) }
        let batch = try XCTUnwrap(makeOptimizeeBatch(tasks))
        var stream = RandomKey(seed: 4, horizon: 0, task: 0).stream(.initialParameters)
        // θ over several orders of magnitude, so that the sums round differently in other orders.
        let theta = (0..<(13 * n)).map { i in Float(stream.normal()) * Float([1e-3, 1, 1e3][i % 3]) }
        var gradient = [Float](repeating: .nan, count: theta.count), losses = [Float](repeating: .nan, count: 13)
        batch.lossesAndGradients(theta: theta, step: 0, gradient: &gradient, losses: &losses)
        for (b, task) in tasks.enumerated() {
            var own = [Float](repeating: 0, count: n)
            let loss = theta[(b * n)..<((b + 1) * n)].withUnsafeBufferPointer { t in
                own.withUnsafeMutableBufferPointer { task.lossAndGradient(at: t, step: 0, gradient: $0) }
            }
            XCTAssertEqual(losses[b].bitPattern, loss.bitPattern, "task \(b)'s loss, n = \(n)")
            XCTAssertEqual(gradient[(b * n)..<((b + 1) * n)].map(\.bitPattern), own.map(\.bitPattern), "task \(b)'s gradient, n = \(n)")
        }
    }

    func testOtherTypesAndMixedDimensionsAreEvaluatedOneByOne() {
        let key = RandomKey(seed: 1, horizon: 0, task: 0)
        XCTAssertNotNil(makeOptimizeeBatch([QuadraticOptimizee(dimension: 4, key: key)]))
        XCTAssertNil(makeOptimizeeBatch([QuadraticOptimizee(dimension: 4, key: key), QuadraticOptimizee(dimension: 5, key: key)]))
        XCTAssertNil(makeOptimizeeBatch([QuadraticOptimizee(dimension: 4, key: key), RosenbrockOptimizee(dimension: 4, key: key)]))
        XCTAssertNil(makeOptimizeeBatch([RosenbrockOptimizee(dimension: 4, key: key)]))
    }
}
