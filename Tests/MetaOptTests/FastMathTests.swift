import Foundation
import XCTest
@testable import MetaOpt

/// Accuracy of the vectorised Float functions of the fast path (`FastMath`), against libm in Double,
/// on every kernel path this machine can run (the same bounds hold on each: the portable path of
/// x86-64 rounds each multiply-add twice, which the polynomials' margin absorbs).
///
/// Error is measured in units in the last place of the correctly rounded Float result. Bounds: the
/// polynomials' own errors are below 0.1 ulp (see FastMath.swift), so what remains is the rounding of
/// each operation (≤ 0.5 ulp each) propagated through a few steps:
/// - exp: the reduced argument r and the polynomial (≈ 1 ulp) times an exact power of two → 2 ulp;
/// - sigmoid: exp (≤ 2 ulp, damped by e/(1+e) ≤ ½ in 1+e), one division, and for x < 0 one more
///   product → 3 ulp;
/// - tanh: (1−e)/(1+e) with e ≤ e^−1.25 amplifies e's error by at most e/(1−e) < 0.4, plus three
///   roundings; the small-|x| polynomial is about 1 ulp → 3 ulp;
/// - log: the reduction m·2ᵉ is exact, the polynomial and the final additions ≈ 1.5 ulp → 2 ulp.
/// Where the true result is not a normal Float (exp below ln FLT_MIN, sigmoid far left) the
/// functions flush to 0: there the check is an absolute error ≤ FLT_MIN.
final class FastMathTests: XCTestCase {
    /// A dense sweep: every 4,099th Float bit pattern (all binades, both signs, ±0, subnormals and
    /// huge values; about a million points), plus `linear` evenly spaced points in `range`.
    func sweep(_ range: ClosedRange<Float>, linear: Int = 1_000_000) -> [Float] {
        var x: [Float] = []
        var bits: UInt64 = 0
        while bits < 1 << 32 {
            let v = Float(bitPattern: UInt32(bits))
            if v.isFinite { x.append(v) }
            bits += 4_099
        }
        let step = (range.upperBound - range.lowerBound) / Float(linear)
        for i in 0...linear { x.append(range.lowerBound + Float(i) * step) }
        return x
    }

    struct Report {
        var maxUlp = 0.0
        var worst: Float = 0
        var checked = 0
    }

    /// Compares `function` with `reference` (in Double) over `xs`; returns the largest ulp error
    /// where the reference is a normal Float, and checks the rest in absolute terms.
    func measure(_ function: FastMath.Function, _ xs: [Float], path: KernelPath, reference: (Double) -> Double,
                 file: StaticString = #filePath, line: UInt = #line) -> Report {
        let ys = FastMath.evaluate(function, xs, path: path)
        var report = Report()
        for (x, y) in zip(xs, ys) {
            let r = reference(Double(x))
            if r.isNaN {
                XCTAssertTrue(y.isNaN, "\(path.rawValue) \(function)(\(x)) = \(y), expected NaN", file: file, line: line)
                continue
            }
            XCTAssertFalse(y.isNaN, "\(path.rawValue) \(function)(\(x)) is NaN", file: file, line: line)
            let rf = Float(r)
            if rf.isInfinite || abs(rf) < Float.leastNormalMagnitude {
                if rf.isInfinite {
                    XCTAssertEqual(y, rf, "\(path.rawValue) \(function)(\(x))", file: file, line: line)
                } else {
                    XCTAssertLessThanOrEqual(abs(Double(y) - r), Double(Float.leastNormalMagnitude),
                                             "\(path.rawValue) \(function)(\(x)) = \(y), true \(r)", file: file, line: line)
                }
                continue
            }
            let ulp = Double(rf.ulp)
            let err = abs(Double(y) - r) / ulp
            report.checked += 1
            if err > report.maxUlp {
                report.maxUlp = err
                report.worst = x
            }
        }
        return report
    }

    func testExp() {
        for path in KernelPath.supported { checkExp(path) }
    }

    func checkExp(_ path: KernelPath) {
        let r = measure(.exp, sweep(-90...90), path: path, reference: Foundation.exp)
        print("\(path.rawValue) exp: max error \(r.maxUlp) ulp at x = \(r.worst) over \(r.checked) normal results")
        XCTAssertLessThanOrEqual(r.maxUlp, 2)
        XCTAssertGreaterThan(r.checked, 1_000_000)
        let special = FastMath.evaluate(.exp, [0, -0.0, .infinity, -.infinity, 89, 88.72, -87.33, -87.34, -200, .nan], path: path)
        XCTAssertEqual(special[0], 1)
        XCTAssertEqual(special[1], 1)
        XCTAssertEqual(special[2], .infinity)
        XCTAssertEqual(special[3], 0)
        XCTAssertEqual(special[4], .infinity)
        XCTAssertTrue(special[5].isFinite && special[5] > 3.3e38)
        XCTAssertTrue(special[6] >= Float.leastNormalMagnitude)
        XCTAssertEqual(special[7], 0)
        XCTAssertEqual(special[8], 0)
        XCTAssertTrue(special[9].isNaN)
    }

    func testSigmoid() {
        for path in KernelPath.supported { checkSigmoid(path) }
    }

    func checkSigmoid(_ path: KernelPath) {
        let r = measure(.sigmoid, sweep(-30...30), path: path, reference: { 1 / (1 + Foundation.exp(-$0)) })
        print("\(path.rawValue) sigmoid: max error \(r.maxUlp) ulp at x = \(r.worst) over \(r.checked) normal results")
        XCTAssertLessThanOrEqual(r.maxUlp, 3)
        let special = FastMath.evaluate(.sigmoid, [0, 17, 100, .greatestFiniteMagnitude, .infinity,
                                                   -100, -.greatestFiniteMagnitude, -.infinity, .nan], path: path)
        XCTAssertEqual(special[0], 0.5)
        XCTAssertEqual(special[1], 1)  // 1 − 4·10⁻⁸ rounds to 1
        XCTAssertEqual(special[2], 1)
        XCTAssertEqual(special[3], 1)
        XCTAssertEqual(special[4], 1)
        // Far left the true value is subnormal; the result is at most FLT_MIN, never negative.
        for v in special[5...7] { XCTAssertTrue(v >= 0 && v <= Float.leastNormalMagnitude, "sigmoid far left: \(v)") }
        XCTAssertTrue(special[8].isNaN)
        // Monotone over a fine grid through the region where the formula switches (x = 0).
        let grid = (-2000...2000).map { Float($0) * 1e-3 }
        let ys = FastMath.evaluate(.sigmoid, grid, path: path)
        for i in 1..<ys.count { XCTAssertLessThanOrEqual(ys[i - 1], ys[i], "sigmoid not monotone at \(grid[i])") }
    }

    func testTanh() {
        for path in KernelPath.supported { checkTanh(path) }
    }

    func checkTanh(_ path: KernelPath) {
        let r = measure(.tanh, sweep(-12...12), path: path, reference: Foundation.tanh)
        print("\(path.rawValue) tanh: max error \(r.maxUlp) ulp at x = \(r.worst) over \(r.checked) normal results")
        XCTAssertLessThanOrEqual(r.maxUlp, 3)
        // Tiny arguments: tanh(x) = x to within rounding, relative.
        let tiny = (0..<2000).map { Float(pow(10, -38 + Double($0) * 0.0175)) }
        let t = measure(.tanh, tiny + tiny.map { -$0 }, path: path, reference: Foundation.tanh)
        XCTAssertLessThanOrEqual(t.maxUlp, 3)
        let special = FastMath.evaluate(.tanh, [0, -0.0, 9.1, 20, .infinity, -20, -.infinity, .greatestFiniteMagnitude, .nan], path: path)
        XCTAssertEqual(special[0], 0)
        XCTAssertEqual(special[1].sign, .minus)
        XCTAssertEqual(special[2], 1)
        XCTAssertEqual(special[3], 1)
        XCTAssertEqual(special[4], 1)
        XCTAssertEqual(special[5], -1)
        XCTAssertEqual(special[6], -1)
        XCTAssertEqual(special[7], 1)
        XCTAssertTrue(special[8].isNaN)
        let grid = (-1500...1500).map { Float($0) * 1e-3 }
        let ys = FastMath.evaluate(.tanh, grid, path: path)
        for i in 1..<ys.count { XCTAssertLessThanOrEqual(ys[i - 1], ys[i], "tanh not monotone at \(grid[i])") }
    }

    func testLog() {
        for path in KernelPath.supported { checkLog(path) }
    }

    func checkLog(_ path: KernelPath) {
        // Positive inputs over every binade, subnormals included, and densely around 1.
        let xs = sweep(0.5...2).filter { $0 > 0 }
        let r = measure(.log, xs, path: path, reference: Foundation.log)
        print("\(path.rawValue) log: max error \(r.maxUlp) ulp at x = \(r.worst) over \(r.checked) normal results")
        XCTAssertLessThanOrEqual(r.maxUlp, 2)
        let special = FastMath.evaluate(.log, [1, 0, -0.0, .infinity, -1, .nan, .leastNonzeroMagnitude], path: path)
        XCTAssertEqual(special[0], 0)
        XCTAssertEqual(special[1], -.infinity)
        XCTAssertEqual(special[2], -.infinity)
        XCTAssertEqual(special[3], .infinity)
        XCTAssertTrue(special[4].isNaN)
        XCTAssertTrue(special[5].isNaN)
        XCTAssertEqual(Double(special[6]), Foundation.log(Double(Float.leastNonzeroMagnitude)), accuracy: 1e-5)
    }

    /// The Float engine (fast kernels, on every path) agrees with the Double engine (libm, the finite-difference
    /// tested path) on the same tasks and φ, to Float accuracy. 7 quadratics of dimension 10 give
    /// 70 columns: a partial last vector, so the padding lanes are exercised too.
    func testFloatEngineMatchesDouble() {
        let cases = KernelPath.supported.flatMap { path in [InputPreprocessing.raw, .logAndSign(p: 10)].map { (path, $0) } }
        for (path, pre) in cases {
            let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: pre, outputScale: 0.1))
            let phiFloat: [Float] = layout.initialParameters(key: RandomKey(seed: 2, horizon: 0, task: 0))
            var s = RandomKey(seed: 5, horizon: 0, task: 0).stream(.auxiliary)
            let phi = phiFloat.map { Float(Double($0) + 0.1 * s.normal()) }
            let tasks: [any Optimizee] = (0..<7).map {
                QuadraticOptimizee(dimension: 10, key: RandomKey(seed: 9, horizon: 0, task: $0))
            }
            func run<S: MetaScalar>(_: S.Type) -> (gradient: [Double], loss: Double) {
                let engine = UnrollEngine<S>(layout: layout, tasks: tasks, unroll: 20, kernelPath: path)
                var state = engine.initialState()
                let p = phi.map { S($0) }
                var g = [S](repeating: 0, count: layout.count)
                var loss: [S] = []
                for _ in 0..<2 {
                    loss = p.withUnsafeBufferPointer { pp in
                        g.withUnsafeMutableBufferPointer { engine.truncation(phi: pp, state: &state, gradient: $0) }
                    }
                }
                return (g.map { Double($0) }, loss.reduce(0.0) { $0 + Double($1) })
            }
            let f = run(Float.self), d = run(Double.self)
            let norm = sqrt(d.gradient.reduce(0) { $0 + $1 * $1 })
            let diff = sqrt(zip(f.gradient, d.gradient).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) })
            print("\(path.rawValue) \(pre.description): Float vs Double meta-gradient relative difference \(diff / norm), loss \(f.loss) vs \(d.loss)")
            XCTAssertLessThan(diff / norm, 1e-4, "\(path.rawValue) \(pre.description)")
            XCTAssertEqual(f.loss, d.loss, accuracy: 1e-5 * abs(d.loss), "\(path.rawValue) \(pre.description)")
            XCTAssertTrue(f.gradient.allSatisfy(\.isFinite))
        }
    }
}
