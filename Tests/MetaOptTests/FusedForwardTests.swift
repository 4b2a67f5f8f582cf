import XCTest
@testable import MetaOpt

/// The forward kernel with the layer's matrix product fused in (`lstm_fused_forward`) against the
/// OpenBLAS product followed by the elementwise kernel, and the forward-only engine against `run`
/// on a truncation engine.
final class FusedForwardTests: XCTestCase {
    /// Fused against OpenBLAS + kernel on every path (both sides with OpenBLAS's dX, whatever the
    /// path's default), for tile widths whose column count leaves a partial register block (16, 48,
    /// 80 columns, and 256 with 91 columns), one and two layers of sizes that are not multiples of a
    /// vector. The fused kernel sums each product in the order
    /// k = 0, 1, … with fused multiply-adds; OpenBLAS's kernels do the same on the CPUs measured
    /// (AMD EPYC, Zen 4: the AVX-512 and AVX2 paths agreed bit for bit), while the portable path
    /// of x86-64 rounds product and sum separately: relative differences of order 1e-7 after 16
    /// steps and a meta-gradient. The bound, 1e-5 of the largest value, is far below what a
    /// wrong kernel gives (a gate or a column off: 1e-2 or more).
    func testFusedForwardMatchesBLASForwardOnEveryPath() {
        for path in KernelPath.supported {
            for (hidden, pre) in [([20, 20], InputPreprocessing.logAndSign(p: 10)), ([7], .raw), ([20, 9], .raw)] {
                for width in [16, 48, 80, 256] {
                    let reference = stepsThenTruncation(path, fused: false, own: false, hiddenSizes: hidden,
                                                        preprocessing: pre, tileWidth: width)
                    let fused = stepsThenTruncation(path, fused: true, own: false, hiddenSizes: hidden,
                                                    preprocessing: pre, tileWidth: width)
                    XCTAssertTrue(reference.allSatisfy(\.isFinite))
                    let d = maxRelativeDifference(fused.map(Double.init), reference.map(Double.init))
                    let same = zip(fused, reference).filter { $0.bitPattern == $1.bitPattern }.count
                    print("\(path.rawValue) \(hidden) width \(width): fused vs BLAS \(d), \(same)/\(fused.count) values bit-equal")
                    XCTAssertLessThan(d, 1e-5, "\(path.rawValue) \(hidden) tile width \(width)")
                }
            }
        }
    }

    /// The forward-only engine (no BPTT history) computes the same bits as `run` on a truncation
    /// engine, on every path, with a ragged last tile; and allocates what its formula says, a small
    /// fraction of the truncation engine's.
    func testForwardOnlyEngineMatchesRun() {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10),
                                                            outputScale: 0.1))
        let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 3, horizon: 0, task: 0))
        let tasks: [any Optimizee] = (0..<30).map { QuadraticOptimizee(dimension: 11, key: RandomKey(seed: 2, horizon: 0, task: $0)) }
        for path in KernelPath.supported {
            let full = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 1, kernelPath: path)
            let forward = UnrollEngine<Float>(forwardOnlyLayout: layout, tasks: tasks, kernelPath: path)
            XCTAssertFalse(forward.storesHistory)
            XCTAssertEqual(forward.allocatedBytes, forward.statedBytes)
            XCTAssertLessThan(forward.allocatedBytes * 3, full.allocatedBytes)
            var a = full.initialState(), b = forward.initialState()
            var curveA: [Float] = [], curveB: [Float] = []
            phi.withUnsafeBufferPointer { p in
                full.run(phi: p, state: &a, steps: 9) { _, l, _ in curveA += l }
                forward.run(phi: p, state: &b, steps: 9) { _, l, _ in curveB += l }
                // A second call continues from the stored state (c in place, h in its slot).
                full.run(phi: p, state: &a, steps: 3) { _, l, _ in curveA += l }
                forward.run(phi: p, state: &b, steps: 3) { _, l, _ in curveB += l }
            }
            XCTAssertEqual(curveA.map(\.bitPattern), curveB.map(\.bitPattern), path.rawValue)
            XCTAssertEqual(a.theta.map(\.bitPattern), b.theta.map(\.bitPattern), path.rawValue)
            XCTAssertEqual(a.lstm.flatMap { $0 }.map(\.bitPattern), b.lstm.flatMap { $0 }.map(\.bitPattern), path.rawValue)
        }
    }
}
