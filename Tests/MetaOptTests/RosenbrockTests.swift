import Foundation
import XCTest
@testable import MetaOpt

/// The randomly shifted and scaled Rosenbrock family.
final class RosenbrockTests: XCTestCase {
    private func lossAndGradient(_ f: RosenbrockOptimizee, _ theta: [Double]) -> (Double, [Double]) {
        var g = [Double](repeating: 0, count: f.dimension)
        let loss = theta.withUnsafeBufferPointer { t in
            g.withUnsafeMutableBufferPointer { f.lossAndGradientInDouble(at: t, step: 0, gradient: $0) }
        }
        return (loss, g)
    }

    func testGradientMatchesFiniteDifferences() {
        for (n, task) in [(2, 0), (3, 1), (7, 2), (10, 3)] {
            let f = RosenbrockOptimizee(dimension: n, key: RandomKey(seed: 4, horizon: 1, task: task))
            var s = RandomKey(seed: 9, horizon: 0, task: task).stream(.auxiliary)
            let theta = (0..<n).map { _ in 1.5 * s.normal() }
            let (_, g) = lossAndGradient(f, theta)
            for i in 0..<n {
                let h = 1e-6 * max(1, abs(theta[i]))
                var plus = theta, minus = theta
                plus[i] += h
                minus[i] -= h
                let numeric = (lossAndGradient(f, plus).0 - lossAndGradient(f, minus).0) / (2 * h)
                XCTAssertEqual(g[i], numeric, accuracy: 1e-5 * max(1, abs(numeric)), "n \(n), coordinate \(i)")
            }
            // The Float routine agrees with the Double one.
            var gf = [Float](repeating: 0, count: n)
            let t = theta.map { Float($0) }
            let lossFloat = t.withUnsafeBufferPointer { tp in
                gf.withUnsafeMutableBufferPointer { f.lossAndGradient(at: tp, step: 0, gradient: $0) }
            }
            let (lossAtFloat, gAtFloat) = lossAndGradient(f, t.map(Double.init))
            XCTAssertEqual(Double(lossFloat), lossAtFloat, accuracy: 1e-5 * lossAtFloat)
            for i in 0..<n { XCTAssertEqual(Double(gf[i]), gAtFloat[i], accuracy: 1e-4 * max(1, abs(gAtFloat[i]))) }
        }
    }

    func testMinimumIsAtTheShiftedOnes() {
        let f = RosenbrockOptimizee(dimension: 5, key: RandomKey(seed: 1, horizon: 0, task: 0))
        let (loss, g) = lossAndGradient(f, f.shifts.map { $0 + 1 })
        XCTAssertEqual(loss, 0)
        XCTAssertEqual(g, [Double](repeating: 0, count: 5))
        XCTAssertGreaterThan(lossAndGradient(f, f.initialParameters().map(Double.init)).0, 0)
    }

    func testTheKeyDrawsTheFunction() {
        let key = RandomKey(seed: 3, horizon: 2, task: 5)
        let a = RosenbrockOptimizee(dimension: 6, key: key), b = RosenbrockOptimizee(dimension: 6, key: key)
        XCTAssertEqual(a.curvatures, b.curvatures)
        XCTAssertEqual(a.shifts, b.shifts)
        XCTAssertEqual(a.theta0, b.theta0)
        let c = RosenbrockOptimizee(dimension: 6, key: RandomKey(seed: 3, horizon: 2, task: 6))
        XCTAssertNotEqual(a.curvatures, c.curvatures)
        XCTAssertNotEqual(a.shifts, c.shifts)
        XCTAssertNotEqual(a.theta0, c.theta0)
        XCTAssertTrue(a.curvatures.allSatisfy { (1..<100).contains($0) }, "\(a.curvatures)")
        XCTAssertTrue(a.shifts.allSatisfy { (-1..<1).contains($0) }, "\(a.shifts)")
    }

    func testTaskSpecAndValidation() throws {
        let spec = try TaskSpec.parse(name: "rosenbrock", arguments: TaskArguments(dimension: 4))
        XCTAssertEqual(spec.name, "rosenbrock")
        XCTAssertEqual("\(spec)", "rosenbrock(dimension: 4)")
        XCTAssertEqual(try JSONEncoder().encode(spec), Data(#"{"rosenbrock":{"dimension":4}}"#.utf8))
        XCTAssertEqual(try spec.dimension(), 4)
        XCTAssertEqual(try spec.makeFamily().sample(RandomKey(seed: 0, horizon: 0, task: 0)).dimension, 4)
        XCTAssertFalse(spec.hasDataSplit)
        XCTAssertEqual(TaskSpec(RosenbrockTask(dimension: 1)).problems(), ["the Rosenbrock dimension must be at least 2 (got 1)"])
        var config = TrainingConfig(task: spec, metaBatch: 4, blockSize: 2)
        XCTAssertEqual(config.problems(), [])
        config.mode = .secondOrder
        XCTAssertEqual(config.problems(), ["second-order meta-gradients need the optimizee's Hessian, which only the quadratic task provides"])
    }

    /// A few meta-steps on a tiny meta-batch stay finite, and the trained optimizer evaluates
    /// against a tuned baseline.
    func testShortTrainingAndEvaluation() throws {
        let task = TaskSpec(RosenbrockTask(dimension: 3))
        let config = TrainingConfig(task: task, metaBatch: 4, blockSize: 2, unroll: 5, horizon: 10, iterations: 6, seed: 2)
        let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
        var losses: [Double] = []
        for _ in 0..<6 { losses.append(try trainer.step().metaLoss) }
        XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(losses)")
        let file = OptimizerFile(optimizer: config.optimizer, phi: trainer.state.phi, training: config, iteration: 6)
        let functions = Evaluation.sampleFunctions(from: try task.makeFamily(), seed: 99, count: 2)
        let tuning = try Evaluation.tuneBaselines([.adam], trainingFunctions: Evaluation.sampleFunctions(
            from: try task.makeFamily(), seed: 100, count: 1), steps: 5)
        let report = try Evaluation.run(optimizers: [LearnedOptimizer(file: file)] + tuning.map { BaselineOptimizer(tuned: $0) },
                                        functions: functions, steps: 5, tuning: tuning, metadata: ["task": "\(task)"])
        XCTAssertEqual(report.curves.count, 2)
        XCTAssertTrue(report.curves.allSatisfy { $0.losses.count == 2 && $0.losses.allSatisfy { $0.allSatisfy(\.isFinite) } })
    }
}
