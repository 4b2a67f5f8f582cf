import Foundation
import XCTest
@testable import MetaOpt

/// Checks the hand-written backward pass against central finite differences, in Double.
///
/// Tolerance: with h = 1e-5 the central difference has truncation error O(h²·L''') ≈ 1e-10 and a
/// rounding error of about ε·|L|/h (ε ≈ 1e-16 per operation, a few hundred operations deep), so
/// each coordinate must agree within 1e-6 relative plus `noise` = 1e-15·|L|/h absolute. A wrong
/// term in the backward pass is off by far more (typically 1e-2 relative or worse).
final class MetaGradientTests: XCTestCase {
    func quadratics(_ count: Int, dimension: Int, seed: UInt64 = 3) -> [any Optimizee] {
        (0..<count).map { QuadraticOptimizee(dimension: dimension, key: RandomKey(seed: seed, horizon: 0, task: $0)) }
    }

    /// Random φ (not the structured initial one) so every weight matters.
    func randomPhi(_ layout: ParameterLayout, seed: UInt64, scale: Double = 0.3) -> [Double] {
        var s = RandomKey(seed: seed, horizon: 9, task: 9).stream(.auxiliary)
        return (0..<layout.count).map { _ in s.normal() * scale }
    }

    /// State after `warmup` forward steps, so the LSTM states are not zero.
    func warmState(_ engine: UnrollEngine<Double>, phi: [Double], warmup: Int) -> UnrollState<Double> {
        var state = engine.initialState()
        phi.withUnsafeBufferPointer { engine.run(phi: $0, state: &state, steps: warmup) }
        return state
    }

    func assertClose(_ fd: Double, _ analytic: Double, noise: Double, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(abs(fd - analytic), 1e-6 * (abs(fd) + abs(analytic)) + noise + 1e-9,
                                 "\(what): finite difference \(fd) vs analytic \(analytic)", file: file, line: line)
    }

    func checkFirstOrder(preprocessing: InputPreprocessing, outputScale: Double, unroll: Int,
                         weights: [Double]? = nil, tasks: [any Optimizee]? = nil, optimizers: Int = 1,
                         hiddenSizes: [Int] = [5, 5]) {
        let config = LearnedOptimizerConfig(hiddenSizes: hiddenSizes, preprocessing: preprocessing,
                                            outputScale: outputScale, optimizerCount: optimizers)
        let layout = ParameterLayout(config)
        let tasks = tasks ?? quadratics(3, dimension: 4)
        let engine = UnrollEngine<Double>(layout: layout, tasks: tasks, unroll: unroll, lossWeights: weights)
        let phi = randomPhi(layout, seed: 11)
        let start = warmState(engine, phi: phi, warmup: 3)
        var state = start
        var total = [Double](repeating: 0, count: layout.count)
        let losses = phi.withUnsafeBufferPointer { p in
            total.withUnsafeMutableBufferPointer { engine.truncation(phi: p, state: &state, gradient: $0) }
        }
        let inputs = engine.recordedInputs()
        func loss(_ phi: [Double]) -> Double {
            phi.withUnsafeBufferPointer { engine.frozenInputLoss(phi: $0, state: start, inputs: inputs) }.reduce(0, +)
        }
        XCTAssertEqual(loss(phi), losses.reduce(0, +), accuracy: 1e-9 * abs(losses.reduce(0, +)))
        let h = 1e-5, noise = 1e-15 * abs(losses.reduce(0, +)) / h
        for i in 0..<layout.count {
            var plus = phi, minus = phi
            plus[i] += h
            minus[i] -= h
            assertClose((loss(plus) - loss(minus)) / (2 * h), total[i], noise: noise,
                        "\(hiddenSizes) \(preprocessing.description) T=\(unroll) φ[\(i)] \(layout.tensors.first { $0.range.contains(i) }!.name)")
        }
    }

    func testFirstOrderRawInputs() {
        for t in [1, 2, 5] { checkFirstOrder(preprocessing: .raw, outputScale: 1, unroll: t) }
    }

    func testFirstOrderPreprocessedInputs() {
        for t in [1, 3, 6] { checkFirstOrder(preprocessing: .logAndSign(p: 10), outputScale: 0.1, unroll: t) }
    }

    func testFirstOrderLossWeights() {
        checkFirstOrder(preprocessing: .raw, outputScale: 0.5, unroll: 4, weights: [0.5, 0, 2, 1])
    }

    func testFirstOrderTwoOptimizers() {
        let tasks: [any Optimizee] = (0..<2).map {
            SplitQuadratic(base: QuadraticOptimizee(dimension: 5, key: RandomKey(seed: 5, horizon: 0, task: $0)), split: 2)
        }
        checkFirstOrder(preprocessing: .logAndSign(p: 10), outputScale: 0.1, unroll: 3, tasks: tasks, optimizers: 2)
    }

    /// Other depths than the paper's two layers, and layers of unequal sizes (H = 4, 6, 3: the
    /// Float path's vector dW kernel for 4H = 16 and 24, BLAS for 12).
    func testFirstOrderLayerStacks() {
        for sizes in [[5], [4, 6, 3]] {
            checkFirstOrder(preprocessing: .raw, outputScale: 1, unroll: 3, hiddenSizes: sizes)
            checkFirstOrder(preprocessing: .logAndSign(p: 10), outputScale: 0.1, unroll: 4, hiddenSizes: sizes)
        }
        let tasks: [any Optimizee] = (0..<2).map {
            SplitQuadratic(base: QuadraticOptimizee(dimension: 5, key: RandomKey(seed: 5, horizon: 0, task: $0)), split: 2)
        }
        checkFirstOrder(preprocessing: .logAndSign(p: 10), outputScale: 0.1, unroll: 3, tasks: tasks, optimizers: 2,
                        hiddenSizes: [4, 6, 3])
    }

    /// The second-order meta-gradient is the exact derivative of the unrolled loss.
    func testSecondOrderAgainstTrueLoss() {
        for (pre, differs) in checkSecondOrder(hiddenSizes: [4, 4]) {
            XCTAssertTrue(differs, "\(pre.description): the first-order approximation should differ from the exact gradient")
        }
    }

    /// Other depths. (With three layers and the log-sign input the second-order term happens to
    /// stay below 1e-3 of every entry, so only some runs must show it.)
    func testSecondOrderLayerStacks() {
        for sizes in [[4], [4, 6, 3]] {
            let differs = checkSecondOrder(hiddenSizes: sizes)
            XCTAssertTrue(differs.contains { $0.1 }, "\(sizes): the first-order approximation should differ from the exact gradient")
        }
    }

    /// Checks the second-order meta-gradient against finite differences of the true unrolled loss,
    /// for both preprocessings; returns for each whether the first-order one differs from it.
    func checkSecondOrder(hiddenSizes: [Int]) -> [(InputPreprocessing, Bool)] {
        var differs: [(InputPreprocessing, Bool)] = []
        for (pre, scale) in [(InputPreprocessing.raw, 1.0), (.logAndSign(p: 10), 0.1)] {
            let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: hiddenSizes, preprocessing: pre, outputScale: scale))
            let tasks = quadratics(2, dimension: 3, seed: 8)
            let engine = UnrollEngine<Double>(layout: layout, tasks: tasks, unroll: 4)
            let phi = randomPhi(layout, seed: 12, scale: 0.2)
            let start = warmState(engine, phi: phi, warmup: 2)
            var state = start
            var exact = [Double](repeating: 0, count: layout.count)
            let l0 = phi.withUnsafeBufferPointer { p in
                exact.withUnsafeMutableBufferPointer { engine.truncation(phi: p, state: &state, mode: .secondOrder, gradient: $0) }
            }.reduce(0, +)
            func trueLoss(_ phi: [Double]) -> Double {
                var s = start, total = 0.0
                phi.withUnsafeBufferPointer { engine.run(phi: $0, state: &s, steps: 4) { _, l, _ in total += l.reduce(0, +) } }
                return total
            }
            let h = 1e-5, noise = 1e-15 * abs(l0) / h
            var firstOrderDiffers = false
            var firstOrder = [Double](repeating: 0, count: layout.count)
            var s1 = start
            phi.withUnsafeBufferPointer { p in
                firstOrder.withUnsafeMutableBufferPointer { _ = engine.truncation(phi: p, state: &s1, gradient: $0) }
            }
            for i in 0..<layout.count {
                var plus = phi, minus = phi
                plus[i] += h
                minus[i] -= h
                assertClose((trueLoss(plus) - trueLoss(minus)) / (2 * h), exact[i], noise: noise,
                            "second-order \(hiddenSizes) \(pre.description) φ[\(i)]")
                if abs(exact[i] - firstOrder[i]) > 1e-3 * abs(exact[i]) { firstOrderDiffers = true }
            }
            differs.append((pre, firstOrderDiffers))
        }
        return differs
    }

    /// The transpose of the log-sign preprocessing's Jacobian (used by the second-order term)
    /// against central finite differences of the preprocessing itself, on both branches: the
    /// quadratics of the second-order tests have no gradient below e^-p, so those tests never
    /// reach the small-gradient branch, where x = (−1, e^p g) and dL/dg = e^p · dL/dx₁.
    func testLogSignPreprocessingJacobianMatchesFiniteDifferences() {
        let pre = InputPreprocessing.logAndSign(p: 10)
        let kernels = FloatKernels(.portable)
        // |g| ≥ e^-10 ≈ 4.54e-5: the log branch; below: the linear branch (0 included).
        let g: [Double] = [0.5, -0.01, 2e-4, -3e-6, 4e-5, -1e-9, 0]
        let m = g.count
        let dx: [Double] = [0.7, -1.3, 0.4, 2.1, -0.6, 1.7, -0.9,   // dL/dx₀ per column
                            -0.2, 0.8, 1.5, -1.1, 0.3, -2.4, 1.9]   // dL/dx₁ per column
        func rows(_ g: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: 2 * m)
            g.withUnsafeBufferPointer { gp in
                out.withUnsafeMutableBufferPointer { o in
                    pre.apply(gp.baseAddress!, count: m, into: MatrixView(base: o.baseAddress!, rows: 2, columns: m, stride: m),
                              column: 0, kernels: kernels)
                }
            }
            return out
        }
        var dInput = dx
        var dg = [Double](repeating: 0, count: m)
        g.withUnsafeBufferPointer { gp in
            dInput.withUnsafeMutableBufferPointer { d in
                pre.backward(gp.baseAddress!, count: m, dInput: MatrixView(base: d.baseAddress!, rows: 2, columns: m, stride: m),
                             column: 0, into: &dg)
            }
        }
        for k in 0..<m {
            // A step that stays inside g's branch: relative in the log branch, absolute (the map is linear) below.
            let h = abs(g[k]) >= Foundation.exp(-10.0) ? 1e-4 * abs(g[k]) : 1e-12
            var plus = g, minus = g
            plus[k] += h
            minus[k] -= h
            let rp = rows(plus), rm = rows(minus)
            let fd = (dx[k] * (rp[k] - rm[k]) + dx[m + k] * (rp[m + k] - rm[m + k])) / (2 * h)
            XCTAssertEqual(dg[k], fd, accuracy: 1e-6 * abs(fd) + 1e-9, "g = \(g[k])")
        }
    }

    /// An engine's result depends only on its tasks and φ, not on where its buffers live or what
    /// ran before it in the process: the property the distributed trainer's fixed task blocks rely on.
    func testEngineIsReproducible() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1))
        let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0))
        func run(_ tasks: [any Optimizee]) -> [UInt32] {
            let engine = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 5)
            var state = engine.initialState()
            var g = [Float](repeating: 0, count: layout.count)
            for _ in 0..<2 {
                phi.withUnsafeBufferPointer { p in
                    g.withUnsafeMutableBufferPointer { _ = engine.truncation(phi: p, state: &state, gradient: $0) }
                }
            }
            return g.map(\.bitPattern) + state.theta.map(\.bitPattern)
        }
        let tasks = quadratics(7, dimension: 10, seed: 21)
        let first = run(tasks)
        _ = run(quadratics(3, dimension: 10, seed: 4))
        XCTAssertEqual(first, run(tasks))
    }
}

/// A quadratic whose coordinates are split between two learned optimizers.
struct SplitQuadratic: Optimizee {
    let base: QuadraticOptimizee
    let split: Int
    var dimension: Int { base.dimension }
    var parameterGroups: [ParameterGroup] {
        [ParameterGroup(range: 0..<split, optimizer: 1), ParameterGroup(range: split..<dimension, optimizer: 0)]
    }
    func initialParameters() -> [Float] { base.initialParameters() }
    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        base.lossAndGradient(at: theta, step: step, gradient: gradient)
    }
    func lossAndGradientInDouble(at theta: UnsafeBufferPointer<Double>, step: Int,
                                 gradient: UnsafeMutableBufferPointer<Double>) -> Double {
        base.lossAndGradientInDouble(at: theta, step: step, gradient: gradient)
    }
}
