import XCTest
@testable import MetaOpt

/// The engine evaluates all quadratics of a step in one `QuadraticBatch` call: it must give every
/// task's own loss and gradient bit for bit, and fall back to task-by-task where it cannot batch.
final class QuadraticBatchTests: XCTestCase {
    func testEveryLaneGivesItsTasksOwnBits() throws {
        // 13 tasks: one whole group of eight and a partial one.
        let n = 7
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
            XCTAssertEqual(losses[b].bitPattern, loss.bitPattern, "task \(b)'s loss")
            XCTAssertEqual(gradient[(b * n)..<((b + 1) * n)].map(\.bitPattern), own.map(\.bitPattern), "task \(b)'s gradient")
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
