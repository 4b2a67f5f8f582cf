import Foundation
import XCTest
@testable import MetaOpt

final class RandomScalingTests: XCTestCase {
    let data = try! ClassificationData(dataset: imageTestDataset(count: 40, height: 3, width: 4, classes: 4))
    let key = RandomKey(seed: 5, horizon: 2, task: 3)

    func mlp(hidden: [Int] = [5]) -> MLPOptimizee {
        MLPOptimizee(data: data, architecture: MLPArchitecture(hiddenSizes: hidden), batchSize: 8, key: key)
    }

    /// ∇f̃(θ̃) = c ⊙ ∇f(c ⊙ θ̃), checked against central differences of the Double reference of f(c ⊙ θ̃).
    func testGradientMatchesFiniteDifferences() {
        let base = mlp(hidden: [5, 3])
        let scaled = RandomlyScaledOptimizee(base: base, logRange: LogScaleRange(symmetric: 2), key: key)
        let c = scaled.scales.map(Double.init)
        let step = 3
        let batch = base.minibatchIndices(step: step)
        imageTestCheckGradient(scaled, theta: imageTestTheta(scaled.dimension, sd: 0.5), step: step) { theta in
            imageTestMLPLoss(zip(c, theta).map { $0 * $1 }, hidden: [5, 3], activation: .sigmoid, data: self.data,
                             examples: batch).loss
        }
    }

    /// The scaled problem starts where the original does (c ⊙ θ̃₀ = θ₀), so a learned optimizer sees
    /// the same function from the same point, only in stretched coordinates.
    func testStartsAtTheSamePoint() {
        let base = mlp()
        let scaled = RandomlyScaledOptimizee(base: base, logRange: LogScaleRange(symmetric: 3), key: key)
        let theta0 = base.initialParameters()
        let stretched = zip(scaled.scales, scaled.initialParameters()).map { $0 * $1 }
        for (a, b) in zip(stretched, theta0) { XCTAssertEqual(a, b, accuracy: 1e-6 * max(1, abs(b))) }
        let lossBase = theta0.withUnsafeBufferPointer { base.evaluationLoss(at: $0, step: 0) }
        let lossScaled = scaled.initialParameters().withUnsafeBufferPointer { scaled.evaluationLoss(at: $0, step: 0) }
        XCTAssertEqual(lossScaled, lossBase, accuracy: 1e-5)
    }

    /// Factors lie in [e^−a, e^a), cover most of that range, come from the key alone, and a = 0 is no scaling.
    func testFactorsComeFromTheKeyAndTheRange() {
        let base = mlp()
        let a = 1.5
        let s1 = RandomlyScaledOptimizee(base: base, logRange: LogScaleRange(symmetric: a), key: key).scales
        XCTAssertEqual(s1, RandomlyScaledOptimizee(base: base, logRange: LogScaleRange(symmetric: a), key: key).scales)
        XCTAssertNotEqual(s1, RandomlyScaledOptimizee(base: base, logRange: LogScaleRange(symmetric: a), key: RandomKey(seed: 5, horizon: 2, task: 4)).scales)
        let logs = s1.map { Foundation.log(Double($0)) }
        XCTAssert(logs.allSatisfy { $0 >= -a - 1e-6 && $0 <= a + 1e-6 })
        XCTAssertLessThan(logs.min()!, -0.9 * a)
        XCTAssertGreaterThan(logs.max()!, 0.9 * a)
        XCTAssertEqual(abs(logs.reduce(0, +) / Double(logs.count)), 0, accuracy: 0.25, "log-factors should be centred on 0")

        let oneSided = RandomlyScaledOptimizee(base: base, logRange: LogScaleRange(lower: 0, upper: 2), key: key).scales
        XCTAssert(oneSided.allSatisfy { $0 >= 1 && Double($0) <= Foundation.exp(2) * (1 + 1e-6) })

        let identity = RandomlyScaledOptimizee(base: base, logRange: LogScaleRange(lower: 0, upper: 0), key: key)
        XCTAssert(identity.scales.allSatisfy { $0 == 1 })
        XCTAssertEqual(identity.initialParameters(), base.initialParameters())
    }

    /// The family keeps the base family's name and optimizer count and rescales each sample with its own key.
    func testFamilyWrapsEverySample() throws {
        let family = AugmentedFamily(base: QuadraticFamily(dimension: 6), augmentation: .randomScaling(LogScaleRange(symmetric: 1)))
        XCTAssertEqual(family.name, "quadratic")
        XCTAssertEqual(family.optimizerCount, 1)
        let k = RandomKey(seed: 1, horizon: 0, task: 0)
        let sample = try XCTUnwrap(family.sample(k) as? RandomlyScaledOptimizee)
        XCTAssertEqual(sample.scales, RandomlyScaledOptimizee(base: QuadraticFamily(dimension: 6).sample(k), logRange: LogScaleRange(symmetric: 1), key: k).scales)
    }

    func testParsing() {
        XCTAssertEqual(LogScaleRange(parsing: "1.5"), LogScaleRange(lower: -1.5, upper: 1.5))
        XCTAssertEqual(LogScaleRange(parsing: "0,2"), LogScaleRange(lower: 0, upper: 2))
        XCTAssertEqual(LogScaleRange(parsing: "-1, 0.5"), LogScaleRange(lower: -1, upper: 0.5))
        for bad in ["", "0", "-1", "x", "1,", ",1", "1,2,3", "a,b"] { XCTAssertNil(LogScaleRange(parsing: bad), bad) }
    }

    func testConfigurationChecks() {
        var config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 4, blockSize: 2)
        XCTAssert(config.problems().isEmpty)
        config.randomScaling = LogScaleRange(symmetric: 0)
        XCTAssert(config.problems().contains { $0.contains("--random-scaling") && $0.contains("lower < upper") }, "\(config.problems())")
        config.randomScaling = LogScaleRange(symmetric: .infinity)
        XCTAssert(config.problems().contains { $0.contains("finite") })
        config.randomScaling = LogScaleRange(lower: 0, upper: 25)
        XCTAssert(config.problems().contains { $0.contains("[−20, 20]") })
        config.randomScaling = LogScaleRange(lower: 0, upper: 1)
        XCTAssert(config.problems().isEmpty)
        config.mode = .secondOrder
        XCTAssert(config.problems().contains { $0.contains("first-order") }, "\(config.problems())")
    }

    /// Without random scaling a configuration encodes exactly as before the setting existed, so older
    /// checkpoints and optimizer files still decode and their configurations still match.
    func testConfigurationWithoutScalingEncodesAsBefore() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 4, blockSize: 2)
        let json = String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self)
        XCTAssertFalse(json.contains("randomScaling"), json)
        XCTAssertEqual(try JSONDecoder().decode(TrainingConfig.self, from: Data(json.utf8)), config)
        var scaled = config
        scaled.randomScaling = LogScaleRange(lower: -1, upper: 2)
        XCTAssertEqual(try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder.sorted.encode(scaled)), scaled)
    }

    /// The trainer samples from the rescaled family: same seed, different meta-loss; same setting, same φ.
    func testTrainerUsesScaledFunctions() throws {
        func train(_ scaling: LogScaleRange?) throws -> (loss: Double, phi: [Float]) {
            let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 4, blockSize: 2, unroll: 5, horizon: 10,
                                        iterations: 3, seed: 9, randomScaling: scaling)
            let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
            var loss = 0.0
            while !trainer.finished { loss = try trainer.step().meanStepLoss }
            return (loss, trainer.state.phi)
        }
        let plain = try train(nil), scaled = try train(LogScaleRange(symmetric: 2)), again = try train(LogScaleRange(symmetric: 2))
        XCTAssertNotEqual(plain.loss, scaled.loss)
        XCTAssertEqual(scaled.phi, again.phi)
    }
}
