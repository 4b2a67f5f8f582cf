import Foundation
import XCTest
@testable import MetaOpt

/// `MetaTrainer(config:family:communicator:)`: meta-training on a family the caller defines.
final class OwnFamilyTrainingTests: XCTestCase {
    /// f(θ) = Σ_i a_i (θ_i − c_i)² with a_i log-uniform in [0.1, 10] and c_i in [−1, 1), θ₀ = 0:
    /// a family defined outside the library's registry (no Hessian).
    struct ScaledBowl: Optimizee {
        let scales: [Float], centres: [Float]
        var dimension: Int { scales.count }
        func initialParameters() -> [Float] { [Float](repeating: 0, count: dimension) }
        func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutableBufferPointer<Float>) -> Float {
            var loss: Float = 0
            for i in 0..<dimension {
                let d = theta[i] - centres[i]
                loss += scales[i] * d * d
                gradient[i] = 2 * scales[i] * d
            }
            return loss
        }
    }

    struct ScaledBowlFamily: TaskFamily {
        var dimension: Int
        var name: String { "scaled-bowl" }
        var optimizerCount: Int { 1 }
        func sample(_ key: RandomKey) -> any Optimizee {
            var s = key.stream(.auxiliary)
            return ScaledBowl(scales: (0..<dimension).map { _ in Float(exp(s.uniform(log(0.1), log(10)))) },
                              centres: (0..<dimension).map { _ in Float(s.uniform(-1, 1)) })
        }
    }

    func train(_ trainer: MetaTrainer) throws -> [Double] {
        var losses: [Double] = []
        while !trainer.finished { losses.append(try trainer.step().meanStepLoss) }
        return losses
    }

    /// The quadratic family passed as one's own family trains the same φ, bit for bit, as the
    /// configuration's task.
    func testBuiltInFamilyPassedExplicitlyGivesTheSamePhi() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 8, blockSize: 4, unroll: 5, horizon: 10,
                                    iterations: 6, learningRate: 1e-2, seed: 3)
        let builtIn = try MetaTrainer(config: config, communicator: LocalCommunicator())
        let own = try MetaTrainer(config: config, family: QuadraticFamily(dimension: 10), communicator: LocalCommunicator())
        let a = try train(builtIn), b = try train(own)
        XCTAssertEqual(a, b)
        XCTAssertEqual(builtIn.state.phi.map(\.bitPattern), own.state.phi.map(\.bitPattern))
    }

    /// A family of one's own trains (the meta-loss falls), with the configuration's augmentations on top.
    func testOwnFamilyTrains() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 16, blockSize: 8, unroll: 10, horizon: 50,
                                    iterations: 60, learningRate: 1e-2, seed: 5)
        let trainer = try MetaTrainer(config: config, family: ScaledBowlFamily(dimension: 12), communicator: LocalCommunicator())
        let losses = try train(trainer)
        let early = losses.prefix(10).reduce(0, +) / 10, late = losses.suffix(10).reduce(0, +) / 10
        XCTAssertLessThan(late, 0.7 * early, "meta-loss early \(early), late \(late)")

        // The configuration's loss scaling wraps one's own family as it wraps a built-in one.
        var scaled = config
        scaled.lossScaling = LogScaleRange(lower: 0, upper: 2)
        scaled.iterations = 4
        var plain = config
        plain.iterations = 4
        let family = ScaledBowlFamily(dimension: 12)
        let augmented = try MetaTrainer(config: scaled, family: family, communicator: LocalCommunicator())
        let wrapped = try MetaTrainer(config: plain, family: AugmentedFamily(base: family, augmentation: .randomLossScale(scaled.lossScaling!)),
                                      communicator: LocalCommunicator())
        let unscaled = try MetaTrainer(config: plain, family: family, communicator: LocalCommunicator())
        let a = try train(augmented), w = try train(wrapped), u = try train(unscaled)
        XCTAssertEqual(a, w)
        XCTAssertEqual(augmented.state.phi.map(\.bitPattern), wrapped.state.phi.map(\.bitPattern))
        XCTAssertNotEqual(a, u)
    }

    func testOwnFamilyProblemsAreReported() {
        let config = TrainingConfig(task: .quadratic(dimension: 10), iterations: 1)
        XCTAssertThrowsError(try MetaTrainer(config: config, family: ScaledBowlFamily(dimension: 3).withTwoOptimizers,
                                             communicator: LocalCommunicator())) { error in
            XCTAssertTrue("\(error)".contains("the scaled-bowl family needs 2 learned optimizer(s)"), "\(error)")
        }
        var secondOrder = config
        secondOrder.mode = .secondOrder
        XCTAssertNoThrow(try MetaTrainer(config: secondOrder, communicator: LocalCommunicator()))
        XCTAssertThrowsError(try MetaTrainer(config: secondOrder, family: ScaledBowlFamily(dimension: 3),
                                             communicator: LocalCommunicator())) { error in
            XCTAssertTrue("\(error)".contains("not SecondOrderOptimizee"), "\(error)")
        }
        XCTAssertNoThrow(try MetaTrainer(config: secondOrder, family: QuadraticFamily(dimension: 10),
                                         communicator: LocalCommunicator()))
    }

    /// A family whose later functions have no Hessian (the configuration's check samples the
    /// first): the step throws, naming the function (the engine trapped without a word).
    func testSecondOrderWithAFunctionWithoutHessianIsAnError() throws {
        struct Mixed: TaskFamily {
            var name: String { "mixed" }
            var optimizerCount: Int { 1 }
            func sample(_ key: RandomKey) -> any Optimizee {
                key.task == 0 ? QuadraticFamily(dimension: 3).sample(key) : ScaledBowlFamily(dimension: 3).sample(key)
            }
        }
        var config = TrainingConfig(task: .quadratic(dimension: 3), metaBatch: 2, blockSize: 2, unroll: 2, horizon: 4, iterations: 2)
        config.mode = .secondOrder
        let trainer = try MetaTrainer(config: config, family: Mixed(), communicator: LocalCommunicator())
        XCTAssertThrowsError(try trainer.step()) { error in
            XCTAssertTrue("\(error)".contains("function 1 of the family at horizon 0: second-order meta-gradients need the optimizee's Hessian"), "\(error)")
        }
    }
}

extension OwnFamilyTrainingTests {
    /// Functions whose parameter groups ask for a learned optimizer the family does not declare:
    /// an error the trainer throws (it trapped in the engine).
    func testAParameterGroupBeyondTheOptimizersIsAnError() {
        struct Undeclared: TaskFamily {
            var name: String { "undeclared" }
            var optimizerCount: Int { 1 }
            func sample(_ key: RandomKey) -> any Optimizee { TwoGroupBowl() }
        }
        let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 2, iterations: 1)
        XCTAssertThrowsError(try {
            let trainer = try MetaTrainer(config: config, family: Undeclared(), communicator: LocalCommunicator())
            try trainer.step()
        }()) { error in
            XCTAssertEqual("\(error)", "invalid configuration: a function of the family has a parameter group for learned optimizer 1; the configuration has 1 (0..<1)")
        }
    }
}

extension OwnFamilyTrainingTests.ScaledBowlFamily {
    /// The same functions claiming two learned optimizers (a mismatch with a one-optimizer configuration).
    struct TwoOptimizers: TaskFamily {
        var base: OwnFamilyTrainingTests.ScaledBowlFamily
        var name: String { base.name }
        var optimizerCount: Int { 2 }
        func sample(_ key: RandomKey) -> any Optimizee { base.sample(key) }
    }
    var withTwoOptimizers: TwoOptimizers { TwoOptimizers(base: self) }
}
