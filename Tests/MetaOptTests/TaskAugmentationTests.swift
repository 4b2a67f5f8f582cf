import Foundation
import XCTest
@testable import MetaOpt

/// Random initial scale and random loss scale (random scaling has its own file: it needs a gradient check).
final class TaskAugmentationTests: XCTestCase {
    let data = try! ClassificationData(dataset: imageTestDataset(count: 40, height: 3, width: 4, classes: 4))
    let key = RandomKey(seed: 8, horizon: 1, task: 2)

    func mlp() -> MLPOptimizee {
        MLPOptimizee(data: data, architecture: MLPArchitecture(hiddenSizes: [5, 3]), batchSize: 8, key: key)
    }

    /// θ₀ is the base θ₀ with each tensor multiplied by one factor from the range; f and ∇f are the base's.
    func testRescalesEachTensorOfTheStartOnly() {
        let base = mlp()
        let range = LogScaleRange(symmetric: 2)
        let scaled = RandomInitialScaleOptimizee(base: base, logRange: range, key: key)
        XCTAssertEqual(scaled.tensors, base.tensors)
        XCTAssertEqual(Set(scaled.factors).count, base.tensors.count, "every tensor gets its own factor")
        XCTAssert(scaled.factors.allSatisfy { abs(Foundation.log(Double($0))) <= 2 + 1e-6 })
        let theta0 = base.initialParameters(), start = scaled.initialParameters()
        for (tensor, s) in zip(base.tensors, scaled.factors) {
            for i in tensor.range { XCTAssertEqual(start[i], theta0[i] * s) }
        }
        var g1 = [Float](repeating: 0, count: base.dimension), g2 = g1
        let l1 = start.withUnsafeBufferPointer { t in g1.withUnsafeMutableBufferPointer { base.lossAndGradient(at: t, step: 3, gradient: $0) } }
        let l2 = start.withUnsafeBufferPointer { t in g2.withUnsafeMutableBufferPointer { scaled.lossAndGradient(at: t, step: 3, gradient: $0) } }
        XCTAssertEqual(l1, l2)
        XCTAssertEqual(g1, g2)
        XCTAssertEqual(RandomInitialScaleOptimizee(base: base, logRange: range, key: key).factors, scaled.factors)
        XCTAssertNotEqual(RandomInitialScaleOptimizee(base: base, logRange: range, key: RandomKey(seed: 8, horizon: 1, task: 3)).factors,
                          scaled.factors)
    }

    /// An optimizee without named tensors is one tensor.
    func testUnnamedOptimizeeIsOneTensor() {
        let quadratic = QuadraticFamily(dimension: 6).sample(key)
        let scaled = RandomInitialScaleOptimizee(base: quadratic, logRange: LogScaleRange(lower: 1, upper: 2), key: key)
        XCTAssertEqual(scaled.tensors.map(\.range), [0..<6])
        let s = scaled.factors[0]
        XCTAssert(Double(s) >= Foundation.exp(1) * (1 - 1e-6) && Double(s) <= Foundation.exp(2) * (1 + 1e-6))
        XCTAssertEqual(scaled.initialParameters(), quadratic.initialParameters().map { $0 * s })
    }

    /// The training family applies the setting; the configuration checks it and still encodes as
    /// before when it is off.
    func testConfiguration() throws {
        var config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 4, blockSize: 2)
        XCTAssertFalse(String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self).contains("initialScaling"))
        XCTAssertFalse(try config.makeTrainingFamily() is AugmentedFamily)
        config.initialScaling = LogScaleRange(lower: 1, upper: 1)
        XCTAssert(config.problems().contains { $0.contains("--initial-scaling") }, "\(config.problems())")
        config.initialScaling = LogScaleRange(symmetric: 1)
        XCTAssert(config.problems().isEmpty)
        XCTAssertEqual((try config.makeTrainingFamily() as? AugmentedFamily)?.augmentation, .randomInitialScale(LogScaleRange(symmetric: 1)))
        config.randomScaling = LogScaleRange(symmetric: 2)
        let both = try XCTUnwrap(try config.makeTrainingFamily() as? AugmentedFamily)
        XCTAssertEqual(both.augmentation, .randomScaling(LogScaleRange(symmetric: 2)))
        XCTAssertEqual((both.base as? AugmentedFamily)?.augmentation, .randomInitialScale(LogScaleRange(symmetric: 1)))
        XCTAssertEqual(try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder.sorted.encode(config)), config)
    }

    /// a·f: loss and gradient are the base's times one factor from the range; θ₀ is the base's.
    func testLossScale() {
        let base = mlp()
        let scaled = RandomLossScaleOptimizee(base: base, logRange: LogScaleRange(symmetric: 2), key: key)
        let a = scaled.factor
        XCTAssert(abs(Foundation.log(Double(a))) <= 2 + 1e-6)
        XCTAssertEqual(RandomLossScaleOptimizee(base: base, logRange: LogScaleRange(symmetric: 2), key: key).factor, a)
        XCTAssertNotEqual(RandomLossScaleOptimizee(base: base, logRange: LogScaleRange(symmetric: 2),
                                                   key: RandomKey(seed: 8, horizon: 1, task: 3)).factor, a)
        let theta = base.initialParameters()
        XCTAssertEqual(scaled.initialParameters(), theta)
        var g1 = [Float](repeating: 0, count: base.dimension), g2 = g1
        let l1 = theta.withUnsafeBufferPointer { t in g1.withUnsafeMutableBufferPointer { base.lossAndGradient(at: t, step: 2, gradient: $0) } }
        let l2 = theta.withUnsafeBufferPointer { t in g2.withUnsafeMutableBufferPointer { scaled.lossAndGradient(at: t, step: 2, gradient: $0) } }
        XCTAssertEqual(l2, a * l1)
        XCTAssertEqual(g2, g1.map { $0 * a })
        XCTAssertEqual(theta.withUnsafeBufferPointer { scaled.evaluationLoss(at: $0, step: 2) }, a * l1)
    }

    func testLossScaleConfiguration() throws {
        var config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 4, blockSize: 2)
        XCTAssertFalse(String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self).contains("lossScaling"))
        config.lossScaling = LogScaleRange(lower: 2, upper: 1)
        XCTAssert(config.problems().contains { $0.contains("--loss-scaling") }, "\(config.problems())")
        config.lossScaling = LogScaleRange(symmetric: 1)
        XCTAssert(config.problems().isEmpty)
        XCTAssertEqual((try config.makeTrainingFamily() as? AugmentedFamily)?.augmentation, .randomLossScale(LogScaleRange(symmetric: 1)))
        // The augmented optimizees have no Hessian: second order is refused up front, not a crash later.
        config.mode = .secondOrder
        XCTAssert(config.problems().contains { $0.contains("--loss-scaling") && $0.contains("first-order") }, "\(config.problems())")
        config.lossScaling = nil
        config.initialScaling = LogScaleRange(symmetric: 1)
        XCTAssert(config.problems().contains { $0.contains("--initial-scaling") && $0.contains("first-order") }, "\(config.problems())")
    }
}
