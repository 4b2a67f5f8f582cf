import Foundation
import XCTest
@testable import MetaOpt

final class CNNTests: XCTestCase {
    /// Loss against the Double reference and gradient against its finite differences, on every
    /// kernel path this CPU runs (the convolution blocks are each path's vector kernels).
    func check(height: Int, width: Int, channels: Int, conv: [Int], fc: [Int], classes: Int = 3,
               sd: Double = 0.5, batch: Int = 6, line: UInt = #line) throws {
        let d = try ClassificationData(dataset: imageTestDataset(count: 20, height: height, width: width, channels: channels,
                                                                 classes: classes, seed: 3))
        let arch = CNNArchitecture(convolutionChannels: conv, fullyConnectedSizes: fc)
        for kernels in KernelPath.supported {
            let task = CNNOptimizee(data: d, architecture: arch, batchSize: batch, key: RandomKey(seed: 2, horizon: 1, task: 3),
                                    kernels: kernels)
            let theta = imageTestTheta(task.dimension, sd: sd, seed: 17)
            let step = 2
            let examples = task.minibatchIndices(step: step)
            imageTestCheckGradient(task, theta: theta, step: step, reference: {
                imageTestCNNLoss($0, architecture: arch, data: d, examples: examples)
            }, line: line)
        }
    }

    /// Two blocks on 6×6×2 images (6 → 3 → 1), one hidden fc layer.
    func testGradientTwoBlocksMultiChannel() throws { try check(height: 6, width: 6, channels: 2, conv: [3, 2], fc: [4]) }
    /// Channel counts above one vector of 8 and not a multiple of it (two channel groups, the
    /// second stored lane by lane), in and out of a block: 10 channels, then 9.
    func testGradientWideLayers() throws {
        try check(height: 6, width: 6, channels: 2, conv: [10, 9], fc: [4], sd: 0.3)
    }
    /// The default channel count (8, one whole vector) on 9×9 images: 81 and 16 pixels, so the
    /// forward kernel's blocks of 8 pixels cross row ends and leave a single-pixel tail.
    func testGradientDefaultChannels() throws {
        try check(height: 9, width: 9, channels: 1, conv: [8, 8], fc: [5], sd: 0.3, batch: 3)
    }
    /// Odd, non-square images (7×5: the last row and column are dropped by the pooling), no hidden fc layer.
    func testGradientOddSizeNoHiddenFC() throws { try check(height: 7, width: 5, channels: 1, conv: [2], fc: []) }
    /// Three channels in (CIFAR-like layout), two fc layers, one-image chunks and a batch of one.
    func testGradientThreeChannels() throws { try check(height: 4, width: 4, channels: 3, conv: [2], fc: [3, 3], classes: 4, batch: 1) }

    /// A full-size batch of 28×28 images (25 of them, once the size at which an earlier im2col
    /// implementation split the batch into chunks) gives the per-example sums' loss.
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

    /// The kernel paths compute the same loss and gradient up to rounding (their sums differ only
    /// in fused or separate multiply-adds) on the default network and a Fashion-MNIST-sized batch.
    func testKernelPathsAgree() throws {
        let d = try ClassificationData(dataset: imageTestDataset(count: 40, height: 28, width: 28, classes: 10, seed: 8))
        let key = RandomKey(seed: 4, horizon: 0, task: 1)
        var results: [(KernelPath, Float, [Float])] = []
        for kernels in KernelPath.supported {
            let task = CNNOptimizee(data: d, architecture: CNNArchitecture(), batchSize: 32, key: key, kernels: kernels)
            let theta = task.initialParameters()
            var grad = [Float](repeating: .nan, count: task.dimension)
            let loss = theta.withUnsafeBufferPointer { t in
                grad.withUnsafeMutableBufferPointer { task.lossAndGradient(at: t, step: 1, gradient: $0) }
            }
            results.append((kernels, loss, grad))
        }
        let (_, loss0, grad0) = results[0]
        let scale = grad0.map(abs).max()!
        XCTAssertGreaterThan(scale, 0)
        for (path, loss, grad) in results.dropFirst() {
            XCTAssertEqual(loss, loss0, accuracy: 1e-5 * abs(loss0), "\(path)")
            let worst = zip(grad, grad0).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-4 * scale, "\(path) vs \(results[0].0)")
        }
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
