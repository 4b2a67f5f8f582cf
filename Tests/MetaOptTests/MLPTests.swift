import Foundation
import XCTest
@testable import MetaOpt

final class MLPTests: XCTestCase {
    /// 3×4 images, 4 classes, minibatch 8: small enough for a finite difference of every coordinate.
    let data = try! ClassificationData(dataset: imageTestDataset(count: 40, height: 3, width: 4, classes: 4))

    func check(hidden: [Int], activation: Activation, sd: Double = 0.7, labelSubset: [Int]? = nil) throws {
        let d = try ClassificationData(dataset: data.dataset, labelSubset: labelSubset)
        let task = MLPOptimizee(data: d, architecture: MLPArchitecture(hiddenSizes: hidden, activation: activation),
                                batchSize: 8, key: RandomKey(seed: 11, horizon: 0, task: 1))
        XCTAssertEqual(task.dimension, DenseStack.parameterCount(task.layerSizes))
        let theta = imageTestTheta(task.dimension, sd: sd)
        let step = 4
        let batch = task.minibatchIndices(step: step)
        imageTestCheckGradient(task, theta: theta, step: step) {
            imageTestMLPLoss($0, hidden: hidden, activation: activation, data: d, examples: batch).loss
        }
    }

    func testGradientSigmoidOneHiddenLayer() throws { try check(hidden: [5], activation: .sigmoid) }
    func testGradientSigmoidTwoHiddenLayers() throws { try check(hidden: [5, 3], activation: .sigmoid) }
    func testGradientReLUOneHiddenLayer() throws { try check(hidden: [6], activation: .relu) }
    func testGradientReLUTwoHiddenLayers() throws { try check(hidden: [5, 4], activation: .relu) }
    func testGradientLabelSubset() throws { try check(hidden: [5], activation: .sigmoid, labelSubset: [3, 0]) }
    func testGradientNoHiddenLayer() throws { try check(hidden: [], activation: .sigmoid) }

    /// `evaluate` over all examples (in chunks of the minibatch size, the last one partial) equals
    /// the Double reference, and `limit` takes a prefix.
    func testFullDataEvaluation() throws {
        let task = MLPOptimizee(data: data, architecture: MLPArchitecture(hiddenSizes: [5]), batchSize: 16,
                                key: RandomKey(seed: 1, horizon: 0, task: 0))
        let theta = imageTestTheta(task.dimension, sd: 1)
        let t64 = theta.map(Double.init)
        let all = theta.withUnsafeBufferPointer { task.evaluate(at: $0) }
        let ref = imageTestMLPLoss(t64, hidden: [5], activation: .sigmoid, data: data, examples: Array(0..<40))
        XCTAssertEqual(all.count, 40)
        XCTAssertEqual(all.loss, ref.loss, accuracy: 1e-5)
        XCTAssertEqual(all.accuracy, ref.accuracy)
        let some = theta.withUnsafeBufferPointer { task.evaluate(at: $0, on: nil, limit: 21) }
        XCTAssertEqual(some.count, 21)
        XCTAssertEqual(some.loss, imageTestMLPLoss(t64, hidden: [5], activation: .sigmoid, data: data, examples: Array(0..<21)).loss,
                       accuracy: 1e-5)
    }

    /// Plain gradient descent on a learnable synthetic problem (label = brightest of four pixel
    /// groups) drives the training loss down: the gradient points the right way at scale.
    func testGradientDescentLearns() throws {
        var s = RandomKey(seed: 4, horizon: 0, task: 0).stream(.auxiliary)
        let n = 400
        var pixels: [Float] = [], labels: [UInt8] = []
        for _ in 0..<n {
            let label = s.integer(below: 4)
            for p in 0..<16 { pixels.append(Float(s.uniform()) * 0.5 + (p / 4 == label ? 0.5 : 0)) }
            labels.append(UInt8(label))
        }
        let d = try ClassificationData(dataset: ImageDataset(images: pixels, labels: labels, height: 4, width: 4, channels: 1, classCount: 4))
        for activation in Activation.allCases {
            let task = MLPOptimizee(data: d, architecture: MLPArchitecture(hiddenSizes: [10], activation: activation,
                                                                           initialization: .fanIn),
                                    batchSize: 32, key: RandomKey(seed: 2, horizon: 0, task: 0))
            var theta = task.initialParameters()
            var grad = [Float](repeating: 0, count: task.dimension)
            let before = theta.withUnsafeBufferPointer { task.evaluate(at: $0) }
            for step in 0..<200 {
                _ = theta.withUnsafeBufferPointer { t in grad.withUnsafeMutableBufferPointer { task.lossAndGradient(at: t, step: step, gradient: $0) } }
                for i in theta.indices { theta[i] -= 0.5 * grad[i] }
            }
            let after = theta.withUnsafeBufferPointer { task.evaluate(at: $0) }
            XCTAssertLessThan(after.loss, 0.5 * before.loss, "\(activation)")
            XCTAssertGreaterThan(after.accuracy, 0.9, "\(activation)")
        }
    }
}

/// Found unchecked by mutating the library: the initialisation's gain and how ties are scored.
extension MLPTests {
    private func smallImages(labels: [UInt8], classes: Int) -> ImageDataset {
        var stream = RandomKey(seed: 9, horizon: 0, task: 0).stream(.auxiliary)
        let pixels = (0..<(labels.count * 16)).map { _ in Float(stream.uniform()) }
        return ImageDataset(images: pixels, labels: labels, height: 4, width: 4, channels: 1, classCount: classes)
    }

    /// `.fanIn` gives sigmoid layers LeCun's gain 1 (standard deviation √(1/fan-in)), not He's √2.
    func testSigmoidFanInInitialisationHasGainOne() throws {
        let data = try ClassificationData(dataset: smallImages(labels: [0, 1, 2, 3], classes: 4))
        let task = MLPOptimizee(data: data, architecture: MLPArchitecture(hiddenSizes: [50], activation: .sigmoid, initialization: .fanIn),
                                batchSize: 4, key: RandomKey(seed: 1, horizon: 0, task: 0))
        let firstLayer = task.initialParameters().prefix(16 * 50).map(Double.init)
        let rms = (firstLayer.map { $0 * $0 }.reduce(0, +) / Double(firstLayer.count)).squareRoot()
        XCTAssertEqual(rms, (1.0 / 16).squareRoot(), accuracy: 0.025)  // He's gain would give 0.354
    }

    /// Tied logits predict the first class, as numpy's and JAX's argmax do.
    func testTiedLogitsPredictTheFirstClass() throws {
        let data = try ClassificationData(dataset: smallImages(labels: [UInt8](repeating: 0, count: 8), classes: 4))
        let task = MLPOptimizee(data: data, architecture: MLPArchitecture(hiddenSizes: [3]), batchSize: 4,
                                key: RandomKey(seed: 1, horizon: 0, task: 0))
        let zeros = [Float](repeating: 0, count: task.dimension)
        XCTAssertEqual(zeros.withUnsafeBufferPointer { task.evaluate(at: $0) }.accuracy, 1.0)
    }
}
