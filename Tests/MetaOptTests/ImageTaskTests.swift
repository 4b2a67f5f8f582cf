import Foundation
import XCTest
@testable import MetaOpt

// MARK: - Shared helpers of the image-classification tests (MLPTests, CNNTests, ImageTaskTests)

/// A small synthetic data set: pixels uniform in [0, 1) from a Philox stream, labels `i % classes`
/// permuted by the stream, so every class occurs.
func imageTestDataset(count: Int, height: Int, width: Int, channels: Int = 1, classes: Int, seed: UInt64 = 1) -> ImageDataset {
    var s = RandomKey(seed: seed, horizon: 0, task: 0).stream(.auxiliary)
    let pixels = (0..<(count * height * width * channels)).map { _ in Float(s.uniform()) }
    var labels = (0..<count).map { UInt8($0 % classes) }
    for i in stride(from: count - 1, to: 0, by: -1) { labels.swapAt(i, s.integer(below: i + 1)) }
    return ImageDataset(images: pixels, labels: labels, height: height, width: width, channels: channels,
                        classCount: classes, source: "synthetic")
}

/// θ with i.i.d. N(0, sd²) entries (larger than the default θ₀, so that gradients are not tiny and
/// ReLUs are active on some examples and inactive on others).
func imageTestTheta(_ n: Int, sd: Double, seed: UInt64 = 99) -> [Float] {
    var s = RandomKey(seed: seed, horizon: 0, task: 0).stream(.auxiliary)
    return s.normals(n, scale: sd)
}

/// Mean softmax cross-entropy and correct count of logit rows, in Double.
func imageTestCrossEntropy(_ logits: [Double], target: Int) -> (loss: Double, correct: Bool) {
    let m = logits.max()!
    let lse = m + log(logits.reduce(0) { $0 + exp($1 - m) })
    return (lse - logits[target], logits.firstIndex(of: m)! == target)
}

/// Dense layers in Double: `z = a·W + b` with W row-major n_in × n_out starting at `offset`.
func imageTestDense(_ input: [Double], theta: [Double], offset: Int, sizes: [Int], activation: Activation) -> [Double] {
    var a = input
    var o = offset
    for l in 1..<sizes.count {
        let nIn = sizes[l - 1], nOut = sizes[l]
        var z = [Double](repeating: 0, count: nOut)
        for j in 0..<nOut {
            var s = theta[o + nIn * nOut + j]
            for i in 0..<nIn { s += a[i] * theta[o + i * nOut + j] }
            z[j] = s
        }
        o += nIn * nOut + nOut
        if l < sizes.count - 1 {
            z = z.map { activation == .sigmoid ? 1 / (1 + exp(-$0)) : max($0, 0) }
        }
        a = z
    }
    return a
}

/// Mean loss (and accuracy) of the MLP on `examples`, computed independently of the library in Double.
func imageTestMLPLoss(_ theta: [Double], hidden: [Int], activation: Activation, data: ClassificationData,
                      examples: [Int]) -> (loss: Double, accuracy: Double) {
    let d = data.dataset
    let sizes = [d.featureCount] + hidden + [data.outputCount]
    var total = 0.0, correct = 0
    for i in examples {
        let x = (0..<d.featureCount).map { Double(d.images[i * d.featureCount + $0]) }
        let r = imageTestCrossEntropy(imageTestDense(x, theta: theta, offset: 0, sizes: sizes, activation: activation),
                                      target: data.target(ofExample: i))
        total += r.loss
        if r.correct { correct += 1 }
    }
    return (total / Double(examples.count), Double(correct) / Double(examples.count))
}

/// Mean loss of the CNN on `examples`, in Double, written from the definition (CHW tensors,
/// direct convolution loops), independently of the library's NHWC/im2col code.
func imageTestCNNLoss(_ theta: [Double], architecture: CNNArchitecture, data: ClassificationData, examples: [Int]) -> Double {
    let d = data.dataset
    var total = 0.0
    for i in examples {
        var c = d.channels, h = d.height, w = d.width
        var x = (0..<d.featureCount).map { Double(d.images[i * d.featureCount + $0]) }  // CHW
        var o = 0
        for cOut in architecture.convolutionChannels {
            var y = [Double](repeating: 0, count: cOut * h * w)
            for co in 0..<cOut {
                for yy in 0..<h {
                    for xx in 0..<w {
                        var s = theta[o + 9 * c * cOut + co]
                        for ci in 0..<c {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let iy = yy + ky - 1, ix = xx + kx - 1
                                    guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                                    s += x[(ci * h + iy) * w + ix] * theta[o + ((ky * 3 + kx) * c + ci) * cOut + co]
                                }
                            }
                        }
                        y[(co * h + yy) * w + xx] = max(s, 0)
                    }
                }
            }
            o += 9 * c * cOut + cOut
            let ph = h / 2, pw = w / 2
            var p = [Double](repeating: 0, count: cOut * ph * pw)
            for co in 0..<cOut {
                for py in 0..<ph {
                    for px in 0..<pw {
                        p[(co * ph + py) * pw + px] = [y[(co * h + 2 * py) * w + 2 * px], y[(co * h + 2 * py) * w + 2 * px + 1],
                                                       y[(co * h + 2 * py + 1) * w + 2 * px], y[(co * h + 2 * py + 1) * w + 2 * px + 1]].max()!
                    }
                }
            }
            x = p; c = cOut; h = ph; w = pw
        }
        // Flatten in HWC order.
        var flat = [Double](repeating: 0, count: c * h * w)
        for ch in 0..<c { for p in 0..<(h * w) { flat[p * c + ch] = x[ch * h * w + p] } }
        let sizes = [flat.count] + architecture.fullyConnectedSizes + [data.outputCount]
        total += imageTestCrossEntropy(imageTestDense(flat, theta: theta, offset: o, sizes: sizes, activation: .relu),
                                       target: data.target(ofExample: i)).loss
    }
    return total / Double(examples.count)
}

/// Compares the library's gradient at θ with
/// 1. central finite differences, in Double, of the independent Double reference `reference`
///    (every coordinate, step 1e-6: truncation error ~h²·f''' ≈ 1e-12 and rounding ~1e-16/h ≈ 1e-10,
///    so the reference derivative is exact to far below the tolerance), and
/// 2. a directional derivative of the library's own Float loss along a random unit direction.
/// Also checks that the Float loss matches the reference loss and that every gradient coordinate is
/// written (the buffer starts as NaN).
///
/// Tolerances: the library computes in Float (relative rounding 6e-8) with sums of at most a few
/// hundred products, so its loss and gradient carry relative errors around 1e-6; we allow
/// |g − g_fd| ≤ 1e-4·max|g_fd| + 1e-3·|g_fd| per coordinate: ≥ 100× the expected error (the
/// observed worst error is below 1e-3 of this tolerance, which every check prints), yet a 1 % error
/// in one backward step (e.g. a mis-scaled col2im) already fails it by a factor of 4. The Float directional derivative uses h = 1e-2
/// (Float loss rounding ≈ 1e-7·|f| gives ≈ 1e-5 error in the quotient, truncation ≈ h²/6·f''' ≈
/// 1e-5 for these smooth-ish losses), so we allow 2e-3 relative to |g|.
func imageTestCheckGradient(_ task: some Optimizee, theta: [Float], step: Int,
                            reference: ([Double]) -> Double, file: StaticString = #filePath, line: UInt = #line) {
    let n = task.dimension
    XCTAssertEqual(theta.count, n, file: file, line: line)
    var grad = [Float](repeating: .nan, count: n)
    let loss = theta.withUnsafeBufferPointer { t in
        grad.withUnsafeMutableBufferPointer { task.lossAndGradient(at: t, step: step, gradient: $0) }
    }
    XCTAssert(grad.allSatisfy { $0.isFinite }, "some gradient coordinates not written", file: file, line: line)
    let evalLoss = theta.withUnsafeBufferPointer { task.evaluationLoss(at: $0, step: step) }
    XCTAssertEqual(loss, evalLoss, "evaluationLoss differs from lossAndGradient's loss", file: file, line: line)

    let t64 = theta.map(Double.init)
    let refLoss = reference(t64)
    XCTAssertEqual(Double(loss), refLoss, accuracy: 1e-5 * max(1, abs(refLoss)), "loss vs Double reference",
                   file: file, line: line)

    let h = 1e-6
    var fd = [Double](repeating: 0, count: n)
    var probe = t64
    for i in 0..<n {
        probe[i] = t64[i] + h
        let up = reference(probe)
        probe[i] = t64[i] - h
        let down = reference(probe)
        probe[i] = t64[i]
        fd[i] = (up - down) / (2 * h)
    }
    let scale = fd.map(abs).max()!
    XCTAssert(scale > 1e-3, "gradient too small to test (\(scale))", file: file, line: line)
    var worst = 0.0
    for i in 0..<n {
        let err = abs(Double(grad[i]) - fd[i])
        worst = max(worst, err / (1e-4 * scale + 1e-3 * abs(fd[i])))
        if err > 1e-4 * scale + 1e-3 * abs(fd[i]) {
            XCTFail("coordinate \(i): gradient \(grad[i]), finite difference \(fd[i])", file: file, line: line)
            break
        }
    }

    // Directional derivative of the Float implementation itself.
    var s = RandomKey(seed: 5, horizon: 0, task: 0).stream(.auxiliary)
    var dir = (0..<n).map { _ in s.normal() }
    let norm = dir.reduce(0) { $0 + $1 * $1 }.squareRoot()
    dir = dir.map { $0 / norm }
    let hf = 1e-2
    func f(_ sign: Double) -> Double {
        let p = (0..<n).map { Float(t64[$0] + sign * hf * dir[$0]) }
        return Double(p.withUnsafeBufferPointer { task.evaluationLoss(at: $0, step: step) })
    }
    let dirFD = (f(1) - f(-1)) / (2 * hf)
    let dirAnalytic = (0..<n).reduce(0.0) { $0 + Double(grad[$1]) * dir[$1] }
    let gNorm = grad.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    XCTAssertEqual(dirAnalytic, dirFD, accuracy: 2e-3 * gNorm, "directional derivative of the Float loss",
                   file: file, line: line)
    print("gradient check: n = \(n), worst error / tolerance = \(String(format: "%.3g", worst)), directional |Δ|/|g| = \(String(format: "%.2g", abs(dirAnalytic - dirFD) / gNorm))")
}

// MARK: - Task family tests

final class ImageTaskTests: XCTestCase {
    let dataset = imageTestDataset(count: 300, height: 6, width: 6, channels: 1, classes: 10)

    func testFamilyBasics() throws {
        let mlp = try ImageClassificationFamily(dataset: dataset, architecture: .mlp(MLPArchitecture()), batchSize: 16)
        XCTAssertEqual(mlp.name, "mlp")
        XCTAssertEqual(mlp.optimizerCount, 1)
        let task = mlp.sample(RandomKey(seed: 1, horizon: 0, task: 0))
        XCTAssertEqual(task.dimension, 36 * 20 + 20 + 20 * 10 + 10)
        XCTAssertEqual(mlp.dimension, task.dimension)
        XCTAssertEqual(task.parameterGroups, [ParameterGroup(range: 0..<task.dimension, optimizer: 0)])

        let cnn = try ImageClassificationFamily(dataset: dataset, architecture: .cnn(CNNArchitecture(convolutionChannels: [4, 4])),
                                                batchSize: 8)
        XCTAssertEqual(cnn.name, "cnn")
        XCTAssertEqual(cnn.optimizerCount, 2)
        let c = cnn.sample(RandomKey(seed: 1, horizon: 0, task: 0))
        let conv = (9 * 1 * 4 + 4) + (9 * 4 * 4 + 4)
        let fc = (1 * 1 * 4) * 32 + 32 + 32 * 10 + 10  // 6 → 3 → 1
        XCTAssertEqual(c.dimension, conv + fc)
        XCTAssertEqual(cnn.dimension, c.dimension)
        XCTAssertEqual(c.parameterGroups, [ParameterGroup(range: 0..<conv, optimizer: 0),
                                           ParameterGroup(range: conv..<(conv + fc), optimizer: 1)])
        // The paper's MNIST network has 15,910 parameters; the default CNN on 32×32×3 / 28×28×1.
        XCTAssertEqual(MLPArchitecture().parameterCount(inputs: 784, outputs: 10), 15_910)
        let cifar = CNNArchitecture().parameterCounts(height: 32, width: 32, channels: 3, outputs: 10)
        XCTAssertEqual(cifar.convolution, (27 * 8 + 8) + 2 * (72 * 8 + 8))
        XCTAssertEqual(cifar.total, cifar.convolution + 128 * 32 + 32 + 330)
        let fashion = CNNArchitecture().parameterCounts(height: 28, width: 28, channels: 1, outputs: 10)
        XCTAssertEqual(fashion.total, fashion.convolution + 72 * 32 + 32 + 330)
    }

    func testInvalidConfigurations() {
        func fails(_ body: () throws -> Void, _ fragment: String, line: UInt = #line) {
            do { try body(); XCTFail("no error", line: line) } catch {
                XCTAssert("\(error)".contains(fragment), "'\(error)' lacks '\(fragment)'", line: line)
            }
        }
        fails({ _ = try ClassificationData(dataset: self.dataset, labelSubset: [3]) }, "at least two")
        fails({ _ = try ClassificationData(dataset: self.dataset, labelSubset: [3, 3]) }, "twice")
        fails({ _ = try ClassificationData(dataset: self.dataset, labelSubset: [1, 10]) }, "outside")
        fails({ _ = try ImageClassificationFamily(dataset: self.dataset, architecture: .mlp(MLPArchitecture()), batchSize: 0) },
              "positive")
        fails({ _ = try ImageClassificationFamily(dataset: self.dataset,
                                                  architecture: .cnn(CNNArchitecture(convolutionChannels: [2, 2, 2]))) },
              "3 convolution layers each end in a 2×2 pooling, which halves the image: 6×6 images (synthetic) allow at most 2")
        let few = imageTestDataset(count: 5, height: 2, width: 2, classes: 10)  // labels 0…4 only
        fails({ _ = try ClassificationData(dataset: few, labelSubset: [7, 8]) }, "no example")
    }

    /// An empty --data-dir names no directory: refused as such (it used to pass the checks and end
    /// in train's "internal error" when config.json was read back).
    func testAnEmptyDataDirectoryIsRefused() {
        for directory in ["", "  "] {
            let spec = ImageTaskSpec(architecture: .mlp(MLPArchitecture()), directory: directory)
            XCTAssertEqual(spec.problems(), ["--data-dir must not be empty (leave it out for Fashion-MNIST's default location)"],
                           "'\(directory)'")
        }
        XCTAssertEqual(ImageTaskSpec(architecture: .mlp(MLPArchitecture()), directory: "data").problems(), [])
    }

    /// A single label is refused with the other checks of --labels, before any rank starts (the
    /// data set refused it first, after MPI had started, with status 1).
    func testASingleLabelIsRefusedByTheTaskChecks() {
        func problems(_ labels: [Int]) -> [String] {
            ImageTaskSpec(architecture: .mlp(MLPArchitecture()), labelSubset: labels).problems()
        }
        XCTAssertEqual(problems([3]), ["--labels needs at least two classes to tell apart (got [3])"])
        XCTAssertEqual(problems([3, 3]), ["--labels must be distinct class numbers 0…9 (got [3, 3])"])
        XCTAssertEqual(problems([3, 4]), [])
    }

    func testDeterminism() throws {
        for arch: ImageClassificationFamily.Architecture in [.mlp(MLPArchitecture()), .cnn(CNNArchitecture(convolutionChannels: [2, 2]))] {
            let family = try ImageClassificationFamily(dataset: dataset, architecture: arch, batchSize: 32)
            let key = RandomKey(seed: 42, horizon: 3, task: 5)
            let a = family.classifier(key), b = family.classifier(key)
            XCTAssertEqual(a.initialParameters(), b.initialParameters())
            XCTAssertEqual(a.minibatchIndices(step: 7), b.minibatchIndices(step: 7))
            let theta = a.initialParameters()
            var ga = [Float](repeating: 0, count: a.dimension), gb = ga
            let la = theta.withUnsafeBufferPointer { t in ga.withUnsafeMutableBufferPointer { a.lossAndGradient(at: t, step: 3, gradient: $0) } }
            let lb = theta.withUnsafeBufferPointer { t in gb.withUnsafeMutableBufferPointer { b.lossAndGradient(at: t, step: 3, gradient: $0) } }
            XCTAssertEqual(la, lb)
            XCTAssertEqual(ga, gb)
            // Different task, horizon or seed: different θ₀ and minibatches; different steps differ too.
            for other in [RandomKey(seed: 42, horizon: 3, task: 6), RandomKey(seed: 42, horizon: 4, task: 5),
                          RandomKey(seed: 43, horizon: 3, task: 5)] {
                let c = family.classifier(other)
                XCTAssertNotEqual(c.initialParameters(), theta)
                XCTAssertNotEqual(c.minibatchIndices(step: 7), a.minibatchIndices(step: 7))
            }
            XCTAssertNotEqual(a.minibatchIndices(step: 0), a.minibatchIndices(step: 1))
            // The minibatch loss follows the minibatch: steps with different batches, different losses.
            let l0 = theta.withUnsafeBufferPointer { a.evaluationLoss(at: $0, step: 0) }
            let l1 = theta.withUnsafeBufferPointer { a.evaluationLoss(at: $0, step: 1) }
            XCTAssertNotEqual(l0, l1)
        }
    }

    func testInitialParameterStatistics() throws {
        // Default MLP θ₀: every coordinate N(0, 0.01²), like the JAX peer.
        let family = try ImageClassificationFamily(dataset: dataset, architecture: .mlp(MLPArchitecture(hiddenSizes: [100])))
        let theta = family.sample(RandomKey(seed: 3, horizon: 0, task: 0)).initialParameters()
        let mean = theta.reduce(0.0) { $0 + Double($1) } / Double(theta.count)
        let sd = (theta.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(theta.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.001)
        XCTAssertEqual(sd, 0.01, accuracy: 0.0005)
        // CNN default (fan-in): zero biases, conv weights of sd √(2/(9·C_in)).
        let cnn = CNNOptimizee(data: try ClassificationData(dataset: dataset), architecture: CNNArchitecture(convolutionChannels: [64]),
                               key: RandomKey(seed: 3, horizon: 0, task: 0))
        let t = cnn.initialParameters()
        let kernel = t[0..<576]
        XCTAssertEqual((kernel.reduce(0.0) { $0 + Double($1) * Double($1) } / 576).squareRoot(), (2.0 / 9).squareRoot(), accuracy: 0.04)
        XCTAssert(t[576..<640].allSatisfy { $0 == 0 })
    }

    func testLabelSubset() throws {
        let subset = [7, 2, 5]
        let family = try ImageClassificationFamily(dataset: dataset, architecture: .mlp(MLPArchitecture(hiddenSizes: [4])),
                                                   labelSubset: subset, batchSize: 64)
        XCTAssertEqual(family.data.outputCount, 3)
        XCTAssertEqual(family.dimension, 36 * 4 + 4 + 4 * 3 + 3)
        XCTAssertEqual(family.data.count, dataset.labels.filter { subset.contains(Int($0)) }.count)
        let task = family.classifier(RandomKey(seed: 1, horizon: 0, task: 2))
        for step in 0..<5 {
            for i in task.minibatchIndices(step: step) {
                let label = Int(dataset.labels[i])
                XCTAssert(subset.contains(label))
                XCTAssertEqual(family.data.target(ofExample: i), subset.firstIndex(of: label))
            }
        }
        // Evaluation on another split with the same subset counts only those labels.
        let other = imageTestDataset(count: 50, height: 6, width: 6, classes: 10, seed: 8)
        let evalData = try family.evaluationData(other)
        let theta = task.initialParameters()
        let m = theta.withUnsafeBufferPointer { task.evaluate(at: $0, on: evalData, limit: nil) }
        XCTAssertEqual(m.count, other.labels.filter { subset.contains(Int($0)) }.count)
        XCTAssertEqual(m.loss, log(3), accuracy: 0.01)  // tiny θ₀: near-uniform over 3 outputs
    }

    /// Minibatch indices are uniform over the example pool (a coarse χ²-style check).
    func testMinibatchCoverage() throws {
        let family = try ImageClassificationFamily(dataset: dataset, architecture: .mlp(MLPArchitecture()), batchSize: 128)
        let task = family.classifier(RandomKey(seed: 9, horizon: 0, task: 0))
        var counts = [Int](repeating: 0, count: dataset.count)
        for step in 0..<100 { for i in task.minibatchIndices(step: step) { counts[i] += 1 } }
        let expected = 128.0 * 100 / Double(dataset.count)  // ≈ 42.7
        let chi2 = counts.reduce(0.0) { $0 + pow(Double($1) - expected, 2) / expected }
        XCTAssert(chi2 < Double(dataset.count) * 1.3, "χ² = \(chi2) for \(dataset.count) cells")
    }

    /// The real Fashion-MNIST task family, if the data is installed.
    func testFashionMNISTFamily() throws {
        guard FileBytes.exists(FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not found in \(FashionMNIST.defaultDirectory) (Debian package dataset-fashion-mnist)")
        }
        let family = try ImageClassificationFamily.fashionMNIST()
        XCTAssertEqual(family.dimension, 15_910)
        let task = family.classifier(RandomKey(seed: 0, horizon: 0, task: 0))
        var theta = task.initialParameters()
        var grad = [Float](repeating: 0, count: task.dimension)
        let clock = ContinuousClock()
        var loss: Float = 0
        let elapsed = clock.measure {
            loss = theta.withUnsafeBufferPointer { t in grad.withUnsafeMutableBufferPointer { task.lossAndGradient(at: t, step: 0, gradient: $0) } }
        }
        print("ImageTaskTests: one 784-20-10 minibatch loss+gradient took \(elapsed) (debug build)")
        XCTAssertEqual(Double(loss), log(10), accuracy: 0.01)  // θ₀ ~ N(0, 0.01²): near-uniform softmax
        // A few plain SGD steps lower the loss on a fixed large subset of the test split.
        let test = try family.evaluationData(FashionMNIST.load(split: .test))
        let before = theta.withUnsafeBufferPointer { task.evaluate(at: $0, on: test, limit: 2000) }
        for step in 0..<30 {
            _ = theta.withUnsafeBufferPointer { t in grad.withUnsafeMutableBufferPointer { task.lossAndGradient(at: t, step: step, gradient: $0) } }
            for i in theta.indices { theta[i] -= 1.0 * grad[i] }
        }
        let after = theta.withUnsafeBufferPointer { task.evaluate(at: $0, on: test, limit: 2000) }
        print("ImageTaskTests: Fashion-MNIST test loss \(before.loss) → \(after.loss), accuracy \(before.accuracy) → \(after.accuracy)")
        XCTAssertEqual(after.count, 2000)
        XCTAssertLessThan(after.loss, before.loss - 0.05)
    }
}

final class ImageTaskTimingTests: XCTestCase {
    /// Prints the cost of one minibatch loss + gradient at the paper's sizes (batch 128) on
    /// synthetic data; asserts only that the results are finite. Debug builds are far slower than
    /// release builds (the im2col loops especially), so read the numbers with that in mind.
    func testTimingAtPaperSizes() throws {
        let clock = ContinuousClock()
        func time(_ label: String, _ task: some Optimizee, calls: Int) {
            let theta = task.initialParameters()
            var grad = [Float](repeating: 0, count: task.dimension)
            var loss: Float = 0
            _ = theta.withUnsafeBufferPointer { t in grad.withUnsafeMutableBufferPointer { task.lossAndGradient(at: t, step: 0, gradient: $0) } }
            let elapsed = clock.measure {
                for step in 1...calls {
                    loss = theta.withUnsafeBufferPointer { t in grad.withUnsafeMutableBufferPointer { task.lossAndGradient(at: t, step: step, gradient: $0) } }
                }
            }
            XCTAssert(loss.isFinite && grad.allSatisfy { $0.isFinite })
            print("ImageTaskTimingTests: \(label): \(task.dimension) parameters, \(elapsed / calls) per loss+gradient (batch 128)")
        }
        let key = RandomKey(seed: 0, horizon: 0, task: 0)
        let mnistLike = try ClassificationData(dataset: imageTestDataset(count: 256, height: 28, width: 28, classes: 10))
        time("MLP 784-20-10", MLPOptimizee(data: mnistLike, key: key), calls: 10)
        time("CNN [8,8,8]+[32] on 28×28×1", CNNOptimizee(data: mnistLike, key: key), calls: 1)
        let cifarLike = try ClassificationData(dataset: imageTestDataset(count: 256, height: 32, width: 32, channels: 3, classes: 10))
        time("CNN [8,8,8]+[32] on 32×32×3", CNNOptimizee(data: cifarLike, key: key), calls: 1)
    }
}
