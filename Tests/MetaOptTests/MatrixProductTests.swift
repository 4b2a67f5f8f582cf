import XCTest
@testable import MetaOpt

/// The kernel paths' own matrix product (`FloatKernels.product`, the layers' z = Wᵀ X and
/// dX = W dZ where the path runs them itself) against a Double reference, and engines that use it
/// against engines that use OpenBLAS.
final class MatrixProductTests: XCTestCase {
    /// Every path, both operand layouts of the engine (z = Wᵀ X: A(i, p) = w[i + p·m]; dX = W dZ:
    /// A(i, p) = w[i·k + p]), row counts that leave a partial register block (3, 7, 22) and none
    /// (80), column counts from one to a full tile with ragged last vectors (13, 20, 37 and 52 end in
    /// a block of two, three or four vectors, the ragged one included, on some path), and k = 1. Each output
    /// against the Double sum: within 1e-6 of Σ|a·b| (rounding of k terms, single precision); the
    /// columns past `columns` (the rows' padding) keep their sentinel.
    func testProductMatchesDoubleReferenceAndLeavesPaddingAlone() {
        var s = RandomKey(seed: 11, horizon: 0, task: 0).stream(.auxiliary)
        for path in KernelPath.supported {
            let kernels = FloatKernels(path)
            for m in [3, 7, 22, 80] {
                for k in [1, 20, 40] {
                    for columns in [1, 7, 13, 16, 20, 37, 52, 256] {
                        for transposed in [false, true] {
                            let stride = (columns + 15) / 16 * 16 + 16
                            let w = (0..<(m * k)).map { _ in Float(s.normal()) }
                            let b = (0..<(k * stride)).map { _ in Float(s.normal()) }
                            let sentinel: Float = 1234.5
                            var c = [Float](repeating: sentinel, count: m * stride)
                            let (rowStride, innerStride) = transposed ? (1, m) : (k, 1)
                            w.withUnsafeBufferPointer { wp in
                                b.withUnsafeBufferPointer { bp in
                                    c.withUnsafeMutableBufferPointer { cp in
                                        kernels.product(m: m, columns: columns, k: k, a: wp.baseAddress!,
                                                        rowStride: rowStride, innerStride: innerStride,
                                                        b: bp.baseAddress!, ldb: stride, c: cp.baseAddress!, ldc: stride)
                                    }
                                }
                            }
                            var worst = 0.0
                            for i in 0..<m {
                                for j in 0..<stride {
                                    guard j < columns else {
                                        XCTAssertEqual(c[i * stride + j], sentinel, "\(path.rawValue): padding written")
                                        continue
                                    }
                                    var sum = 0.0, magnitude = 0.0
                                    for p in 0..<k {
                                        let term = Double(w[i * rowStride + p * innerStride]) * Double(b[p * stride + j])
                                        sum += term
                                        magnitude += abs(term)
                                    }
                                    worst = max(worst, abs(Double(c[i * stride + j]) - sum) / max(magnitude, 1e-30))
                                }
                            }
                            XCTAssertLessThan(worst, 1e-6,
                                              "\(path.rawValue) m \(m) k \(k) columns \(columns) transposed \(transposed)")
                        }
                    }
                }
            }
        }
    }

    /// Own products against OpenBLAS's on every path (`stepsThenTruncation`: 12 forward steps, then
    /// one truncation's meta-gradient, first or second order: the second also runs dX over the
    /// first layer's input rows), for one and two layers whose sizes are not multiples of a vector
    /// or of the register block, tile widths that leave partial column blocks (16, 48, 80, and 256
    /// with 91 columns), both meta-gradient orders. Both sum each output in
    /// the order p = 0, 1, … with fused multiply-adds where the path has them, but OpenBLAS's
    /// kernels may split a sum: differences of order 1e-7 after 16 steps and a meta-gradient. The
    /// bound, 1e-5 of the largest value, is far below what a wrong product gives (a row, a column
    /// or a term off: 1e-2 or more).
    func testOwnProductsMatchOpenBLASInTheEngine() {
        for path in KernelPath.supported {
            for (hidden, pre) in [([20, 20], InputPreprocessing.logAndSign(p: 10)), ([7], .raw), ([20, 9], .raw)] {
                for width in [16, 48, 80, 256] {
                    for mode in [MetaGradientMode.firstOrder, .secondOrder] where mode == .firstOrder || width == 48 {
                        let reference = stepsThenTruncation(path, own: false, hiddenSizes: hidden,
                                                            preprocessing: pre, tileWidth: width, mode: mode)
                        let own = stepsThenTruncation(path, own: true, hiddenSizes: hidden, preprocessing: pre,
                                                      tileWidth: width, mode: mode)
                        XCTAssertTrue(reference.allSatisfy(\.isFinite))
                        let d = maxRelativeDifference(own.map(Double.init), reference.map(Double.init))
                        XCTAssertLessThan(d, 1e-5, "\(path.rawValue) \(hidden) tile width \(width) \(mode)")
                    }
                }
            }
        }
    }
}
