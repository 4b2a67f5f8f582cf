import XCTest
@testable import MetaOpt

/// The engine's performance layout (column tiles stored tile by tile, tile-major backward, rebuilt
/// X history, vector dW partial sums, fused kernels) must not change what it computes: the Double
/// engine agrees with itself across tile widths to rounding, and the Float engine (fast kernels)
/// agrees with the Double engine to Float accuracy, with tiles cut through the middle of tasks.
final class BenchEngineLayoutTests: XCTestCase {
    func quadratics(_ count: Int, dimension: Int, seed: UInt64) -> [any Optimizee] {
        (0..<count).map { QuadraticOptimizee(dimension: dimension, key: RandomKey(seed: seed, horizon: 0, task: $0)) }
    }

    func randomPhi(_ layout: ParameterLayout, seed: UInt64, scale: Double = 0.3) -> [Double] {
        var s = RandomKey(seed: seed, horizon: 9, task: 9).stream(.auxiliary)
        return (0..<layout.count).map { _ in s.normal() * scale }
    }

    /// 30 quadratics of dimension 10 = 300 columns: with tile width 32, ten tiles (the last one
    /// partial), and most tasks cut by a tile boundary.
    func testDoubleEngineDoesNotDependOnTheTileWidth() {
        for pre in [InputPreprocessing.raw, .logAndSign(p: 10)] {
            let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [6, 6], preprocessing: pre, outputScale: 0.1))
            let tasks = quadratics(30, dimension: 10, seed: 4)
            let phi = randomPhi(layout, seed: 2, scale: 0.2)
            let whole = twoTruncations(Double.self, layout: layout, tasks: tasks, phi: phi, unroll: 5, tileWidth: 512)
            for width in [16, 32, 112] {
                let tiled = twoTruncations(Double.self, layout: layout, tasks: tasks, phi: phi, unroll: 5, tileWidth: width)
                XCTAssertLessThan(maxRelativeDifference(tiled, whole), 1e-12, "\(pre.description), tile width \(width)")
            }
        }
    }

    func testSecondOrderDoesNotDependOnTheTileWidth() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [4, 4], preprocessing: .logAndSign(p: 10), outputScale: 0.1))
        let tasks = quadratics(9, dimension: 7, seed: 6)
        let phi = randomPhi(layout, seed: 3, scale: 0.2)
        let whole = twoTruncations(Double.self, layout: layout, tasks: tasks, phi: phi, unroll: 4, tileWidth: 256, mode: .secondOrder)
        let tiled = twoTruncations(Double.self, layout: layout, tasks: tasks, phi: phi, unroll: 4, tileWidth: 16, mode: .secondOrder)
        XCTAssertLessThan(maxRelativeDifference(tiled, whole), 1e-12)
    }

    /// The Float engine against the Double engine with many tiles, a partial last tile and two
    /// learned optimizers whose segments interleave.
    func testFloatEngineMatchesDoubleAcrossTiles() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1,
                                                            optimizerCount: 2))
        let tasks: [any Optimizee] = (0..<40).map {
            SplitQuadratic(base: QuadraticOptimizee(dimension: 10, key: RandomKey(seed: 8, horizon: 0, task: $0)), split: 3)
        }
        let phi = randomPhi(layout, seed: 5, scale: 0.15)
        for width in [32, 256] {
            let f = twoTruncations(Float.self, layout: layout, tasks: tasks, phi: phi, unroll: 8, tileWidth: width)
            let d = twoTruncations(Double.self, layout: layout, tasks: tasks, phi: phi, unroll: 8, tileWidth: width)
            let gradient = 0..<layout.count
            let difference = maxRelativeDifference(Array(f[gradient]), Array(d[gradient]))
            print("tile width \(width): Float vs Double meta-gradient, max difference / max |g| = \(difference)")
            XCTAssertLessThan(difference, 1e-4)
            XCTAssertLessThan(maxRelativeDifference(Array(f[layout.count...]), Array(d[layout.count...])), 1e-4)
        }
    }

    /// Forward-only runs (no history stored) give the same trajectory as truncations.
    func testForwardOnlyRunMatchesTruncation() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1))
        let tasks = quadratics(25, dimension: 10, seed: 11)
        let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0))
        let (a, b) = truncationAndForwardRun(layout: layout, tasks: tasks, phi: phi)
        XCTAssertEqual(a.theta.map(\.bitPattern), b.theta.map(\.bitPattern))
        XCTAssertEqual(a.lstm.flatMap { $0 }.map(\.bitPattern), b.lstm.flatMap { $0 }.map(\.bitPattern))
    }

    /// The stated memory formula matches what the engine allocates.
    func testStatedMemoryMatchesAllocation() {
        for pre in [InputPreprocessing.raw, .logAndSign(p: 10)] {
            let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: pre, outputScale: 0.1))
            for count in [1, 7, 60] {
                let engine = UnrollEngine<Float>(layout: layout, tasks: quadratics(count, dimension: 10, seed: 1), unroll: 20)
                XCTAssertEqual(engine.statedBytes, engine.allocatedBytes, "\(pre.description), \(count) tasks")
            }
        }
    }
}
