import Foundation
import XCTest
@testable import MetaOpt

final class CNNTests: XCTestCase {
    func check(height: Int, width: Int, channels: Int, conv: [Int], fc: [Int], classes: Int = 3,
               sd: Double = 0.5, batch: Int = 6, chunkRowLimit: Int = CNNNetwork.defaultChunkRowLimit) throws {
        let d = try ClassificationData(dataset: imageTestDataset(count: 20, height: height, width: width, channels: channels,
                                                                 classes: classes, seed: 3))
        let arch = CNNArchitecture(convolutionChannels: conv, fullyConnectedSizes: fc)
        let task = CNNOptimizee(data: d, architecture: arch, batchSize: batch, key: RandomKey(seed: 2, horizon: 1, task: 3),
                                chunkRowLimit: chunkRowLimit)
        let theta = imageTestTheta(task.dimension, sd: sd, seed: 17)
        let step = 2
        let examples = task.minibatchIndices(step: step)
        imageTestCheckGradient(task, theta: theta, step: step) {
            imageTestCNNLoss($0, architecture: arch, data: d, examples: examples)
        }
    }

    /// Two blocks on 6×6×2 images (6 → 3 → 1), one hidden fc layer.
    func testGradientTwoBlocksMultiChannel() throws { try check(height: 6, width: 6, channels: 2, conv: [3, 2], fc: [4]) }
    /// The same with the im2col done in chunks: one image per chunk in block 1 (36 rows), four in
    /// block 2 (9 rows each), so a batch of 6 takes 6 and 2 chunks, forward and backward.
    func testGradientChunked() throws {
        try check(height: 6, width: 6, channels: 2, conv: [3, 2], fc: [4], chunkRowLimit: 40)
    }
    /// Odd, non-square images (7×5: the last row and column are dropped by the pooling), no hidden fc layer.
    func testGradientOddSizeNoHiddenFC() throws { try check(height: 7, width: 5, channels: 1, conv: [2], fc: []) }
    /// Three channels in (CIFAR-like layout), two fc layers, one-image chunks and a batch of one.
    func testGradientThreeChannels() throws { try check(height: 4, width: 4, channels: 3, conv: [2], fc: [3, 3], classes: 4, batch: 1) }

    /// im2col chunking: a batch larger than one chunk (8192 rows / 28·28 = 10 images per chunk)
    /// gives the same loss and gradient as the per-example sums.
    func testChunkingMatchesSmallBatches() throws {
        let d = try ClassificationData(dataset: imageTestDataset(count: 30, height: 28, width: 28, classes: 10, seed: 5))
        let arch = CNNArchitecture(convolutionChannels: [2, 2], fullyConnectedSizes: [4])
        let key = RandomKey(seed: 1, horizon: 0, task: 0)
        let big = CNNOptimizee(data: d, architecture: arch, batchSize: 25, key: key)
        let theta = big.initialParameters()
        let t64 = theta.map(Double.init)
        let loss = theta.withUnsafeBufferPointer { big.evaluationLoss(at: $0, step: 0) }
        XCTAssertEqual(Double(loss), imageTestCNNLoss(t64, architecture: arch, data: d, examples: big.minibatchIndices(step: 0)),
                       accuracy: 1e-5)
        let m = theta.withUnsafeBufferPointer { big.evaluate(at: $0) }
        XCTAssertEqual(m.count, 30)
        XCTAssertEqual(m.loss, imageTestCNNLoss(t64, architecture: arch, data: d, examples: Array(0..<30)), accuracy: 1e-5)
    }

    /// The default network on CIFAR-shaped input: runs, loss near ln 10 at θ₀, gradient finite and
    /// nonzero in both parameter groups.
    func testDefaultArchitectureOnCIFARShape() throws {
        let d = try ClassificationData(dataset: imageTestDataset(count: 16, height: 32, width: 32, channels: 3, classes: 10, seed: 6))
        let task = CNNOptimizee(data: d, batchSize: 16, key: RandomKey(seed: 0, horizon: 0, task: 0))
        let theta = task.initialParameters()
        var grad = [Float](repeating: .nan, count: task.dimension)
        let clock = ContinuousClock()
        var loss: Float = 0
        let elapsed = clock.measure {
            loss = theta.withUnsafeBufferPointer { t in grad.withUnsafeMutableBufferPointer { task.lossAndGradient(at: t, step: 0, gradient: $0) } }
        }
        print("CNNTests: default CNN, 16 CIFAR-shaped images, loss+gradient \(elapsed) (debug build)")
        XCTAssert(loss.isFinite && abs(Double(loss) - log(10)) < 1.5, "loss \(loss)")
        XCTAssert(grad.allSatisfy { $0.isFinite })
        for g in task.parameterGroups {
            XCTAssertGreaterThan(grad[g.range].reduce(0) { $0 + abs($1) }, 0, "group \(g.optimizer)")
        }
    }
}
