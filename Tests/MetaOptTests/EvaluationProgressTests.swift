import Foundation
import XCTest
@testable import MetaOpt

/// The progress callbacks of the evaluation and tuning code, and the ETA meter `evaluate` shows.
final class EvaluationProgressTests: XCTestCase {
    func testEvaluationReportsEveryFunction() throws {
        let functions = Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 5, count: 3)
        var events: [EvaluationProgress] = []
        let report = try Evaluation.run(optimizers: [BaselineOptimizer(kind: .sgd, learningRate: 0.01), BaselineOptimizer(kind: .adam, learningRate: 0.1)],
                                        functions: functions, steps: 5) { events.append($0) }
        XCTAssertEqual(events.map { "\($0.optimizer) \($0.functionsDone)/\($0.functionCount)" },
                       ["SGD 0/3", "SGD 1/3", "SGD 2/3", "SGD 3/3", "Adam 0/3", "Adam 1/3", "Adam 2/3", "Adam 3/3"])
        XCTAssertTrue(events.allSatisfy { $0.phase == .evaluating })
        // The callback changes nothing.
        let quiet = try Evaluation.run(optimizers: [BaselineOptimizer(kind: .sgd, learningRate: 0.01), BaselineOptimizer(kind: .adam, learningRate: 0.1)],
                                       functions: functions, steps: 5)
        XCTAssertEqual(report, quiet)
    }

    func testTuningReportsLearningRateAndFunctions() throws {
        let functions = Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 5, count: 2)
        var events: [EvaluationProgress] = []
        _ = try Evaluation.tuneBaselines([.nag], trainingFunctions: functions, steps: 5, grid: [0.1, 0.01]) { events.append($0) }
        XCTAssertEqual(Array(events.prefix(6)), [
            EvaluationProgress(optimizer: "NAG", phase: .tuning(learningRate: 0.01, rate: 1, rates: 2), functionsDone: 0, functionCount: 2),
            EvaluationProgress(optimizer: "NAG", phase: .tuning(learningRate: 0.01, rate: 1, rates: 2), functionsDone: 1, functionCount: 2),
            EvaluationProgress(optimizer: "NAG", phase: .tuning(learningRate: 0.01, rate: 1, rates: 2), functionsDone: 2, functionCount: 2),
            EvaluationProgress(optimizer: "NAG", phase: .tuning(learningRate: 0.1, rate: 2, rates: 2), functionsDone: 0, functionCount: 2),
            EvaluationProgress(optimizer: "NAG", phase: .tuning(learningRate: 0.1, rate: 2, rates: 2), functionsDone: 1, functionCount: 2),
            EvaluationProgress(optimizer: "NAG", phase: .tuning(learningRate: 0.1, rate: 2, rates: 2), functionsDone: 2, functionCount: 2),
        ])
        // A best rate at an end of the grid extends it past that end (here 0.01 is best: 0.001, …):
        // each added rate is reported as the first (or last) of a longer list.
        for event in events.dropFirst(6) {
            guard case let .tuning(learningRate, rate, rates) = event.phase else { return XCTFail("\(event)") }
            XCTAssertTrue(learningRate < 0.01 ? rate == 1 : learningRate > 0.1 && rate == rates, "\(event)")
            XCTAssertGreaterThan(rates, 2)
        }
    }

    /// The learned optimizer finishes a batch of functions at a time.
    func testLearnedOptimizerReportsPerBatch() throws {
        let config = LearnedOptimizerConfig()
        let phi = [Float](repeating: 0.01, count: ParameterLayout(config).count)
        let functions = Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 5, count: 5)
        let dimension = functions[0].dimension
        // Two functions' coordinates per batch: batches of 2, 2, 1.
        let learned = LearnedOptimizer(config: config, phi: phi, maxCoordinatesPerBatch: 2 * dimension)
        var done: [Int] = []
        let curves = try learned.run(on: functions, steps: 3) { done.append($0) }
        XCTAssertEqual(done, [2, 4, 5])
        XCTAssertEqual(curves, try learned.run(on: functions, steps: 3))
    }

    /// A fake clock: A takes 1 s per function, B 2 s; B is unmeasured at first (the average is used).
    func testMeterEstimatesTheTimeLeft() {
        let meter = EvaluationProgressMeter(planned: EvaluationProgressMeter.plan(learned: ["A"], baselines: ["B"], gridSize: 2,
                                                                                  tuningFunctions: 1, functions: 2))
        XCTAssertEqual(meter.planned, ["A": 2, "B": 4])
        func event(_ name: String, _ done: Int) -> EvaluationProgress {
            EvaluationProgress(optimizer: name, phase: .evaluating, functionsDone: done, functionCount: 2)
        }
        XCTAssertEqual(meter.update(event("A", 0), now: 10), "evaluating A: 0/2 functions, ETA ?")
        XCTAssertEqual(meter.update(event("A", 1), now: 11), "evaluating A: 1/2 functions, ETA 5s")  // A: 1 × 1 s, B: 4 × 1 s
        meter.update(event("A", 2), now: 12)
        XCTAssertEqual(meter.remainingSeconds(), 4)
        meter.update(event("B", 0), now: 12.5)  // time between passes is not counted
        meter.update(event("B", 2), now: 16.5)
        XCTAssertEqual(meter.remainingSeconds(), 4, "B: 2 left at 2 s each")
        let tuning = EvaluationProgress(optimizer: "B", phase: .tuning(learningRate: 0.003, rate: 2, rates: 10), functionsDone: 1, functionCount: 20)
        meter.update(EvaluationProgress(optimizer: "B", phase: .tuning(learningRate: 0.003, rate: 2, rates: 10), functionsDone: 0, functionCount: 20), now: 17)
        XCTAssertEqual(meter.update(tuning, now: 19), "tuning B, lr 0.003 (2/10): 1/20 functions, ETA 2s")
        XCTAssertEqual(meter.remainingSeconds(), 2)
    }
}
