import Foundation
import XCTest
@testable import MetaOpt

/// Learned optimizers of other depths than the paper's two layers: the configuration's encoding
/// (old files read as two layers), the layout, and the engine's layout-independent results,
/// memory and product accounting for stacks of unequal layers.
final class LayerStackTests: XCTestCase {
    let stack = [4, 6, 3]

    func quadratics(_ count: Int, dimension: Int, seed: UInt64) -> [any Optimizee] {
        (0..<count).map { QuadraticOptimizee(dimension: dimension, key: RandomKey(seed: seed, horizon: 0, task: $0)) }
    }

    func randomPhi(_ layout: ParameterLayout, seed: UInt64, scale: Double = 0.2) -> [Double] {
        var s = RandomKey(seed: seed, horizon: 9, task: 9).stream(.auxiliary)
        return (0..<layout.count).map { _ in s.normal() * scale }
    }

    // MARK: - Configuration

    /// The JSON this configuration had before the depth could change (the synthesised encoder's).
    let oldJSON = #"{"hiddenSize":7,"optimizerCount":1,"outputScale":0.1,"preprocessing":{"logAndSign":{"p":20}}}"#

    func testOldHiddenSizeDecodesAsTwoEqualLayers() throws {
        let config = try JSONDecoder().decode(LearnedOptimizerConfig.self, from: Data(oldJSON.utf8))
        XCTAssertEqual(config.hiddenSizes, [7, 7])
        XCTAssertEqual(config.preprocessing, .logAndSign(p: 20))
        XCTAssertEqual(config.outputScale, 0.1)
        XCTAssertEqual(config.optimizerCount, 1)
    }

    func testTwoEqualLayersEncodeAsBefore() throws {
        let config = LearnedOptimizerConfig(hiddenSizes: [7, 7], preprocessing: .logAndSign(p: 20), outputScale: 0.1)
        XCTAssertEqual(String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self), oldJSON)
        XCTAssertEqual(config.summary, "hidden size 7, log-sign(p=20.0), output scale 0.1, 1 optimizer")
    }

    func testOtherStacksEncodeTheirSizesAndRoundTrip() throws {
        for sizes in [[5], [4, 6, 3], [20, 30]] {
            let config = LearnedOptimizerConfig(hiddenSizes: sizes, preprocessing: .raw, outputScale: 1)
            let data = try JSONEncoder.sorted.encode(config)
            let text = String(decoding: data, as: UTF8.self)
            XCTAssertTrue(text.contains(#""hiddenSizes":["#) && !text.contains(#""hiddenSize":"#), text)
            XCTAssertEqual(try JSONDecoder().decode(LearnedOptimizerConfig.self, from: data), config)
        }
    }

    func testLayoutNamesAndShapesEveryLayer() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: stack, preprocessing: .logAndSign(p: 10),
                                                            optimizerCount: 2))
        let names = ["lstm1.weight", "lstm1.bias", "lstm2.weight", "lstm2.bias", "lstm3.weight", "lstm3.bias",
                     "output.weight", "output.bias"]
        XCTAssertEqual(layout.tensors.map(\.name), names.map { "optimizer0." + $0 } + names.map { "optimizer1." + $0 })
        XCTAssertEqual(layout.tensors.prefix(8).map(\.shape), [[2 + 4, 16], [16], [4 + 6, 24], [24], [6 + 3, 12], [12], [3], [1]])
        XCTAssertEqual(layout.count, 2 * (6 * 16 + 16 + 10 * 24 + 24 + 9 * 12 + 12 + 3 + 1))
        // Forget-gate biases start at 1, the others at 0.
        let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0))
        for layer in layout.blocks[1].layers {
            let h = layer.hidden
            XCTAssertEqual(Array(phi[layer.bias..<(layer.bias + 4 * h)]),
                           [Float](repeating: 0, count: h) + [Float](repeating: 1, count: h) + [Float](repeating: 0, count: 2 * h))
        }
        XCTAssertEqual(ExportedOptimizer.convention(for: layout.config).prefix(30), "Coordinatewise 3-layer LSTM. P")
        XCTAssertTrue(ExportedOptimizer.convention(for: layout.config).contains("h3 · output.weight"))
    }

    // MARK: - Engine

    func testStackDoesNotDependOnTheTileWidth() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: stack, preprocessing: .logAndSign(p: 10), outputScale: 0.1))
        let tasks = quadratics(30, dimension: 10, seed: 4)
        let phi = randomPhi(layout, seed: 2)
        for mode in MetaGradientMode.allCases {
            let whole = twoTruncations(Double.self, layout: layout, tasks: tasks, phi: phi, unroll: 5, tileWidth: 512, mode: mode)
            for width in [16, 112] {
                let tiled = twoTruncations(Double.self, layout: layout, tasks: tasks, phi: phi, unroll: 5, tileWidth: width, mode: mode)
                XCTAssertLessThan(maxRelativeDifference(tiled, whole), 1e-12, "\(mode), tile width \(width)")
            }
        }
    }

    func testFloatStackMatchesDoubleAcrossTiles() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [8, 12, 4], preprocessing: .logAndSign(p: 10),
                                                            outputScale: 0.1, optimizerCount: 2))
        let tasks: [any Optimizee] = (0..<30).map {
            SplitQuadratic(base: QuadraticOptimizee(dimension: 10, key: RandomKey(seed: 8, horizon: 0, task: $0)), split: 3)
        }
        let phi = randomPhi(layout, seed: 5, scale: 0.15)
        for width in [32, 256] {
            let f = twoTruncations(Float.self, layout: layout, tasks: tasks, phi: phi, unroll: 6, tileWidth: width)
            let d = twoTruncations(Double.self, layout: layout, tasks: tasks, phi: phi, unroll: 6, tileWidth: width)
            let gradient = 0..<layout.count
            XCTAssertLessThan(maxRelativeDifference(Array(f[gradient]), Array(d[gradient])), 1e-4, "tile width \(width)")
            XCTAssertLessThan(maxRelativeDifference(Array(f[layout.count...]), Array(d[layout.count...])), 1e-4)
        }
    }

    /// Layers of one unit (4H = 4 gate rows, fewer than the AVX-512 dW kernel's 8-column blocks):
    /// every layer's dW goes to BLAS, and the backward pass divided its prefetches by zero blocks
    /// (`train --hidden-size 1` trapped on the AVX-512 path). On every path, as Double computes it.
    func testOneUnitLayersOnEveryPath() {
        let tasks = quadratics(20, dimension: 10, seed: 4)
        for sizes in [[1], [1, 1], [1, 20]] {
            let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: sizes, preprocessing: .logAndSign(p: 10), outputScale: 0.1))
            let phi = randomPhi(layout, seed: 2, scale: 0.3)
            let d = twoTruncations(Double.self, layout: layout, tasks: tasks, phi: phi, unroll: 5, tileWidth: nil)
            for path in KernelPath.supported {
                let f = twoTruncations(Float.self, layout: layout, tasks: tasks, phi: phi, unroll: 5, tileWidth: nil, kernelPath: path)
                XCTAssertLessThan(maxRelativeDifference(Array(f[0..<layout.count]), Array(d[0..<layout.count])), 1e-4,
                                  "\(sizes), \(path.rawValue)")
                XCTAssertLessThan(maxRelativeDifference(Array(f[layout.count...]), Array(d[layout.count...])), 1e-4,
                                  "\(sizes), \(path.rawValue)")
            }
        }
    }

    func testForwardOnlyRunMatchesTruncation() {
        for sizes in [[6], stack] {
            let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: sizes, preprocessing: .logAndSign(p: 10), outputScale: 0.1))
            let tasks = quadratics(25, dimension: 10, seed: 11)
            let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0))
            let (a, b) = truncationAndForwardRun(layout: layout, tasks: tasks, phi: phi)
            XCTAssertEqual(a.theta.map(\.bitPattern), b.theta.map(\.bitPattern), "\(sizes)")
            XCTAssertEqual(a.lstm.flatMap { $0 }.map(\.bitPattern), b.lstm.flatMap { $0 }.map(\.bitPattern), "\(sizes)")
            XCTAssertEqual(a.lstm[0].count, 2 * sizes.reduce(0, +) * 250)
        }
    }

    /// The memory the layers state matches what they allocate, for Float (vector dW sums on the
    /// layers with 4H a multiple of 8) and Double, first- and second-order.
    func testStatedMemoryMatchesAllocation() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: stack, preprocessing: .logAndSign(p: 10), outputScale: 0.1))
        for count in [1, 60] {
            let tasks = quadratics(count, dimension: 10, seed: 1)
            let f = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 7)
            XCTAssertEqual(f.statedBytes, f.allocatedBytes, "Float, \(count) tasks")
            let d = UnrollEngine<Double>(layout: layout, tasks: tasks, unroll: 3)
            var state = d.initialState()
            var g = [Double](repeating: 0, count: layout.count)
            let phi = randomPhi(layout, seed: 3)
            phi.withUnsafeBufferPointer { p in
                g.withUnsafeMutableBufferPointer { _ = d.truncation(phi: p, state: &state, mode: .secondOrder, gradient: $0) }
            }
            XCTAssertEqual(d.statedBytes, d.allocatedBytes, "Double second-order, \(count) tasks")
        }
    }

    /// The engine's matrix products, added up, are the FLOP model's (less the output layer, which
    /// is no matrix product): two descriptions of the same layers that must agree.
    func testProductShapesAgreeWithTheFLOPModel() {
        for sizes in [[20, 20], [5], stack] {
            let config = LearnedOptimizerConfig(hiddenSizes: sizes, preprocessing: .logAndSign(p: 10), outputScale: 0.1)
            let engine = UnrollEngine<Float>(layout: ParameterLayout(config), tasks: quadratics(30, dimension: 10, seed: 1),
                                             unroll: 4, tileWidth: 64)
            let shapes = engine.gemmShapes
            XCTAssertEqual(shapes.count, 2 * 3 * sizes.count, "\(sizes): widths 64 and 44, three products per layer")
            let flops = shapes.reduce(0) { $0 + 2 * $1.m * $1.n * $1.k * $1.callsPerStep }
            let model = MetaIterationBenchmark.modelFLOPs(inputs: 2, hiddenSizes: sizes)
            let head = 6 * sizes.last!
            XCTAssertEqual(flops, 300 * (model.forward + model.backward - head), "\(sizes)")
        }
        let paper = UnrollEngine<Float>(layout: ParameterLayout(LearnedOptimizerConfig(preprocessing: .logAndSign(p: 10))),
                                        tasks: quadratics(2, dimension: 10, seed: 1), unroll: 2)
        XCTAssertEqual(paper.gemmShapes.map(\.name), ["L1 fwd W1ᵀ·X1", "L2 fwd W2ᵀ·X2", "L2 bwd dW X2·dZᵀ", "L2 bwd dX W2·dZ",
                                                      "L1 bwd dW X1·dZᵀ", "L1 bwd dX_h W1h·dZ"])
    }

    /// Every layer's phases get their own timers. (With the forward products fused into the
    /// kernel, `METAOPT_FORWARD_PRODUCTS=fused`, the forward GEMM phases stay empty and the kernel phases
    /// hold the products: `testFusedForwardProfile`.)
    func testProfileHasPhasesPerLayer() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: stack, preprocessing: .raw))
        let engine = UnrollEngine<Float>(layout: layout, tasks: quadratics(4, dimension: 10, seed: 1), unroll: 3,
                                         tileWidth: nil, fusedForward: false)
        engine.profile = engine.makeProfile()
        var state = engine.initialState()
        var g = [Float](repeating: 0, count: layout.count)
        let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0))
        phi.withUnsafeBufferPointer { p in
            g.withUnsafeMutableBufferPointer { _ = engine.truncation(phi: p, state: &state, mode: .firstOrder, gradient: $0) }
        }
        let profile = engine.profile!
        XCTAssertEqual(profile.phases.count, 4 + 5 * 3)
        XCTAssertEqual(Set(profile.phases.map(\.name)).count, profile.phases.count, "names are distinct")
        for (phase, seconds) in zip(profile.phases, profile.seconds) where phase.kind == .forwardGEMM || phase.kind == .backwardKernel {
            XCTAssertGreaterThan(seconds, 0, phase.name)
        }
        XCTAssertEqual(profile.phases.filter { $0.name.hasSuffix("+ output") }.map(\.layer), [3, 3])
    }

    /// With fused forward products, the forward kernel phases get the time and the GEMM ones none.
    func testFusedForwardProfile() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: stack, preprocessing: .raw))
        let engine = UnrollEngine<Float>(layout: layout, tasks: quadratics(4, dimension: 10, seed: 1), unroll: 3,
                                         tileWidth: nil, fusedForward: true)
        engine.profile = engine.makeProfile()
        var state = engine.initialState()
        let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0))
        phi.withUnsafeBufferPointer { engine.run(phi: $0, state: &state, steps: 2) }
        let profile = engine.profile!
        for (phase, seconds) in zip(profile.phases, profile.seconds) {
            if phase.kind == .forwardKernel { XCTAssertGreaterThan(seconds, 0, phase.name) }
            if phase.kind == .forwardGEMM { XCTAssertEqual(seconds, 0, phase.name) }
        }
    }
}
