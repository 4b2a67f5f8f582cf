import Foundation
import XCTest
@testable import MetaOpt

/// Optimizees of one's own whose θ₀ or parameter groups do not fit their dimension: `MetaTrainer`
/// and `LearnedOptimizer.run` throw an error naming the function and the fault (the engine trapped
/// on a θ₀ of the wrong length, and stepped outside θ, twice or never on groups that do not tile).
final class OptimizeeShapeTests: XCTestCase {
    /// f(θ) = Σ θ_i² on 6 coordinates, with a fault of `kind`.
    struct Faulty: Optimizee, Sendable {
        var kind: String
        var dimension: Int { 6 }
        var parameterGroups: [ParameterGroup] {
            switch kind {
            case "gap": return [.init(range: 0..<2, optimizer: 0), .init(range: 4..<6, optimizer: 0)]
            case "beyond": return [.init(range: 0..<10, optimizer: 0)]
            case "overlap": return [.init(range: 0..<4, optimizer: 0), .init(range: 2..<6, optimizer: 0)]
            case "none": return []
            case "empty-group": return [.init(range: 0..<3, optimizer: 0), .init(range: 3..<3, optimizer: 0), .init(range: 3..<6, optimizer: 0)]
            default: return [.init(range: 0..<6, optimizer: 0)]
            }
        }
        func initialParameters() -> [Float] { [Float](repeating: 0.5, count: kind == "short-start" ? 3 : 6) }
        func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutableBufferPointer<Float>) -> Float {
            for i in 0..<dimension { gradient[i] = 2 * theta[i] }
            return theta.reduce(0) { $0 + $1 * $1 }
        }
    }

    /// `Faulty` with named tensors, the second past θ for kind "tensors-beyond".
    struct NamedFaulty: TensorNamedOptimizee, Sendable {
        var faulty: Faulty
        var dimension: Int { faulty.dimension }
        var parameterGroups: [ParameterGroup] { faulty.parameterGroups }
        var tensors: [NamedTensor] {
            [NamedTensor(name: "w", range: 0..<3), NamedTensor(name: "b", range: 3..<(faulty.kind == "tensors-beyond" ? 9 : 6))]
        }
        func initialParameters() -> [Float] { faulty.initialParameters() }
        func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutableBufferPointer<Float>) -> Float {
            faulty.lossAndGradient(at: theta, step: step, gradient: gradient)
        }
    }

    struct NamedFaultyFamily: TaskFamily {
        var kind: String
        var name: String { "named-faulty-\(kind)" }
        var optimizerCount: Int { 1 }
        func sample(_ key: RandomKey) -> any Optimizee { NamedFaulty(faulty: Faulty(kind: key.task == 1 ? kind : "ok")) }
    }

    struct FaultyFamily: TaskFamily {
        var kind: String
        var name: String { "faulty-\(kind)" }
        var optimizerCount: Int { 1 }
        func sample(_ key: RandomKey) -> any Optimizee { Faulty(kind: key.task == 1 ? kind : "ok") }
    }

    /// `Faulty(kind: "ok")`, counting how often its θ₀ is drawn.
    struct Counted: Optimizee, Sendable {
        final class Draws: @unchecked Sendable {
            private let lock = NSLock()
            private var count = 0
            var value: Int { lock.withLock { count } }
            func add() { lock.withLock { count += 1 } }
        }
        let draws: Draws
        var dimension: Int { 6 }
        func initialParameters() -> [Float] {
            draws.add()
            return Faulty(kind: "ok").initialParameters()
        }
        func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutableBufferPointer<Float>) -> Float {
            Faulty(kind: "ok").lossAndGradient(at: theta, step: step, gradient: gradient)
        }
    }

    struct CountedFamily: TaskFamily {
        let draws: Counted.Draws
        var name: String { "counted" }
        var optimizerCount: Int { 1 }
        func sample(_ key: RandomKey) -> any Optimizee { Counted(draws: draws) }
    }

    static let groupFaults = ["gap": "[0..<2, 4..<6]", "beyond": "[0..<10]", "overlap": "[0..<4, 2..<6]", "none": "[]"]

    static var optimizer: LearnedOptimizer {
        let config = LearnedOptimizerConfig(hiddenSizes: [4])
        return LearnedOptimizer(config: config, phi: ParameterLayout(config).initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0)))
    }

    static let shortTraining = TrainingConfig(task: .quadratic(dimension: 10), optimizer: LearnedOptimizerConfig(hiddenSizes: [4]),
                                              metaBatch: 2, blockSize: 2, unroll: 5, horizon: 10, iterations: 2)

    /// What training `family` under `config` to its end throws, as text (nil: nothing).
    func trainingError(_ config: TrainingConfig, _ family: any TaskFamily) -> String? {
        do {
            let trainer = try MetaTrainer(config: config, family: family, communicator: LocalCommunicator())
            while !trainer.finished { try trainer.step() }
            return nil
        } catch { return "\(error)" }
    }

    func testTrainerRefusesFunctionsOfTheWrongShape() throws {
        func error(_ kind: String) -> String? { trainingError(Self.shortTraining, FaultyFamily(kind: kind)) }
        XCTAssertEqual(error("short-start"),
                       "invalid configuration: function 1 of the family at horizon 0: dimension is 6 but initialParameters() has 3 values")
        for (kind, ranges) in Self.groupFaults {
            XCTAssertEqual(error(kind), "invalid configuration: function 1 of the family at horizon 0: its parameter groups \(ranges) do not tile 0..<6 in order", kind)
        }
        XCTAssertNil(error("empty-group"))
        XCTAssertNil(error("ok"))
    }

    /// Under --initial-scaling every function is wrapped to rescale its tensors: a θ₀ of the wrong
    /// length ended in an index out of range there, tensors past θ in a precondition failure,
    /// before the trainer's check could name them.
    func testTrainerRefusesFunctionsOfTheWrongShapeUnderInitialScaling() throws {
        var config = Self.shortTraining
        config.initialScaling = LogScaleRange(symmetric: 1)
        func error(_ kind: String) -> String? { trainingError(config, NamedFaultyFamily(kind: kind)) }
        XCTAssertEqual(error("short-start"),
                       "invalid configuration: function 1 of the family at horizon 0: dimension is 6 but initialParameters() has 3 values")
        XCTAssertEqual(error("tensors-beyond"),
                       "invalid configuration: function 1 of the family at horizon 0: its named tensors [0..<3, 3..<9] do not lie within 0..<6")
        XCTAssertNil(error("ok"))
        // Under the other augmentations' wrappers as well (they trained without a word).
        for other in [\TrainingConfig.lossScaling, \TrainingConfig.randomScaling] {
            var both = config
            both[keyPath: other] = LogScaleRange(symmetric: 1)
            XCTAssertEqual(trainingError(both, NamedFaultyFamily(kind: "tensors-beyond")),
                           "invalid configuration: function 1 of the family at horizon 0: its named tensors [0..<3, 3..<9] do not lie within 0..<6")
        }
        // Without the augmentation the tensors are checked too (layer reports index θ by them).
        config.initialScaling = nil
        XCTAssertEqual(error("tensors-beyond"),
                       "invalid configuration: function 1 of the family at horizon 0: its named tensors [0..<3, 3..<9] do not lie within 0..<6")
    }

    /// The trainer checks the θ₀ its engine starts from: one draw per function and horizon (an
    /// MLP's or CNN's θ₀ is drawn from the random stream each time).
    func testTrainerDrawsEachStartOnce() throws {
        let draws = Counted.Draws()
        let config = TrainingConfig(task: .quadratic(dimension: 10), optimizer: LearnedOptimizerConfig(hiddenSizes: [4]),
                                    metaBatch: 2, blockSize: 2, unroll: 5, horizon: 10, iterations: 4)
        let trainer = try MetaTrainer(config: config, family: CountedFamily(draws: draws), communicator: LocalCommunicator())
        while !trainer.finished { try trainer.step() }
        XCTAssertEqual(draws.value, 2 * 2, "2 functions × 2 horizons")
    }

    func testRunRefusesFunctionsOfTheWrongShape() throws {
        let optimizer = Self.optimizer
        let functions: (String) -> [any Optimizee] = { [Faulty(kind: "ok"), Faulty(kind: $0)] }
        XCTAssertThrowsError(try optimizer.run(on: functions("short-start"), steps: 3)) {
            XCTAssertEqual($0 as? EvaluationError, .dimensionMismatch(function: 1, dimension: 6, parameters: 3))
        }
        for (kind, ranges) in Self.groupFaults {
            XCTAssertThrowsError(try optimizer.run(on: functions(kind), steps: 3), kind) {
                XCTAssertEqual("\($0)", "function 1: its parameter groups \(ranges) do not tile 0..<6 in order")
            }
        }
        XCTAssertEqual(try optimizer.run(on: functions("empty-group"), steps: 3), try optimizer.run(on: functions("ok"), steps: 3))
    }
}
