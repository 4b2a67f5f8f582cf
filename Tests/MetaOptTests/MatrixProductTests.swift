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
                            let worst = largestError(c, w: w, b: b, m: m, k: k, columns: columns, stride: stride,
                                                     rowStride: rowStride, innerStride: innerStride, sentinel: sentinel,
                                                     magnitude: { abs($0 * $1) })
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

    /// The forward products with paired terms (`FloatKernels.pairedProduct`, Winograd's inner
    /// products; AVX-512) against the Double sum: both operand layouts, row counts of one and of
    /// several 4-row blocks, k with no, one and two terms left over after the groups of three,
    /// column counts with a ragged last block of 64 and ragged vectors. A sum of pairs rounds
    /// (a₀ + b₁)(a₁ + b₀) and the corrections a₀a₁ and b₀b₁, so the bound is relative to
    /// M = Σ_p (|a_p| + |b_p|)²: within 1e-5 of it, where one term too many or too few is off by
    /// a whole |a·b| (about M/k). The columns past `columns` keep their sentinel; a second call
    /// gives the same bits.
    func testPairedProductMatchesDoubleReferenceAndLeavesPaddingAlone() throws {
        guard KernelPath.avx512.isSupported else { throw XCTSkip("no AVX-512 here") }
        let kernels = FloatKernels(.avx512)
        XCTAssertTrue(kernels.hasPairedProducts)
        var s = RandomKey(seed: 12, horizon: 0, task: 0).stream(.auxiliary)
        for m in [4, 20, 80] {
            for k in [1, 2, 3, 4, 22, 40] {
                for columns in [1, 13, 63, 64, 65, 200, 256] {
                    for transposed in [false, true] {
                        let stride = (columns + 15) / 16 * 16 + 16
                        let w = (0..<(m * k)).map { _ in Float(0.3 * s.normal()) }
                        let b = (0..<(k * stride)).map { _ in Float(s.normal()) }
                        let sentinel: Float = 1234.5
                        var c = [Float](repeating: sentinel, count: m * stride), again = c
                        let (rowStride, innerStride) = transposed ? (1, m) : (k, 1)
                        var prepared = [Float](repeating: 0, count: FloatKernels.pairedFloats(m: m, k: k) + 16)
                        var packed = [Float](repeating: 0, count: FloatKernels.pairedPackedFloats(k: k) + 16)
                        prepared.withUnsafeMutableBufferPointer { pp in
                            packed.withUnsafeMutableBufferPointer { kp in
                                // 64-byte aligned starts inside the arrays
                                let p = alignedStart(pp.baseAddress!), q = alignedStart(kp.baseAddress!)
                                w.withUnsafeBufferPointer { wp in
                                    kernels.pairedPrepare(m: m, k: k, a: wp.baseAddress!, rowStride: rowStride,
                                                          innerStride: innerStride, into: p)
                                }
                                b.withUnsafeBufferPointer { bp in
                                    for out in [0, 1] {
                                        var result = [Float](repeating: sentinel, count: m * stride)
                                        result.withUnsafeMutableBufferPointer { cp in
                                            kernels.pairedProduct(m: m, columns: columns, k: k, prepared: p, b: bp.baseAddress!,
                                                                  ldb: stride, c: cp.baseAddress!, ldc: stride, packed: q)
                                        }
                                        if out == 0 { c = result } else { again = result }
                                    }
                                }
                            }
                        }
                        XCTAssertEqual(c.map(\.bitPattern), again.map(\.bitPattern))
                        let worst = largestError(c, w: w, b: b, m: m, k: k, columns: columns, stride: stride,
                                                 rowStride: rowStride, innerStride: innerStride, sentinel: sentinel,
                                                 magnitude: { (abs($0) + abs($1)) * (abs($0) + abs($1)) })
                        XCTAssertLessThan(worst, 1e-5, "m \(m) k \(k) columns \(columns) transposed \(transposed)")
                    }
                }
            }
        }
    }

    /// The first layer's forward product with the raw gradient as its first row (10⁰ to 10³, the
    /// hidden units in ±1, weights of φ's scale): that row kept out of the pairs (`unpaired`, as the
    /// engines call it) is as accurate as the plain product, within 2e-6 of Σ_p |w_p x_p|. Paired
    /// with a hidden unit it was not: a weight added to 10³ rounds away (measured 2e-5 here, 1e-4
    /// with gradients of 10⁵ and more). Also with two such rows (log/sign input; their values are
    /// modest, the bound is the same) and k = 4, where the second trade takes the remaining term.
    /// (k = 3 has one term of its own: with two input rows one stays in the pair, at most 6e-6.)
    func testUnpairedLeadingRowsAreAsAccurateAsThePlainProduct() throws {
        guard KernelPath.avx512.isSupported else { throw XCTSkip("no AVX-512 here") }
        let kernels = FloatKernels(.avx512)
        var s = RandomKey(seed: 13, horizon: 0, task: 0).stream(.auxiliary)
        let m = 80, stride = 256
        for (k, lead) in [(21, 1), (22, 2), (22, 1), (41, 1), (4, 1), (4, 2)] {
            let w = (0..<(m * k)).map { _ in Float(0.3 * s.normal()) }
            let b: [Float] = (0..<k).flatMap { p in
                (0..<stride).map { _ in
                    p < lead ? Float((s.uniform() < 0.5 ? -1 : 1) * pow(10, 3 * s.uniform())) : Float(2 * s.uniform() - 1)
                }
            }
            var worst: [Double] = []
            for unpaired in [lead, 0] {
                var prepared = [Float](repeating: 0, count: FloatKernels.pairedFloats(m: m, k: k) + 16)
                var packed = [Float](repeating: 0, count: FloatKernels.pairedPackedFloats(k: k) + 16)
                var c = [Float](repeating: 0, count: m * stride)
                prepared.withUnsafeMutableBufferPointer { pp in
                    packed.withUnsafeMutableBufferPointer { kp in
                        let p = alignedStart(pp.baseAddress!), q = alignedStart(kp.baseAddress!)
                        w.withUnsafeBufferPointer { wp in
                            kernels.pairedPrepare(m: m, k: k, a: wp.baseAddress!, rowStride: 1, innerStride: m,
                                                  unpaired: unpaired, into: p)
                        }
                        b.withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                kernels.pairedProduct(m: m, columns: stride, k: k, prepared: p, b: bp.baseAddress!,
                                                      ldb: stride, unpaired: unpaired, c: cp.baseAddress!, ldc: stride, packed: q)
                            }
                        }
                    }
                }
                worst.append(largestError(c, w: w, b: b, m: m, k: k, columns: stride, stride: stride, rowStride: 1,
                                          innerStride: m, sentinel: 0, magnitude: { abs($0 * $1) }))
            }
            print("k \(k), \(lead) large row(s): largest error \(worst[0]) unpaired, \(worst[1]) paired")
            XCTAssertLessThan(worst[0], 2e-6, "k \(k) lead \(lead)")
        }
    }

    /// Layers narrower than a register block or a vector (H = 1, 2, 3: 4 to 12 gate rows; 33: a
    /// ragged 132), alone and stacked: the fused forward kernel, the path's own products (paired on
    /// AVX-512) and the path's default engine all agree with OpenBLAS's products to 1e-5 of the
    /// largest value (measured: at most 1.4e-7). The tests above take [20, 20], [7] and [20, 9]
    /// only, and an all-BLAS dW (H = 1) once trapped the engine (LayerStackTests).
    func testEveryVariantAgreesOnNarrowLayers() {
        for path in KernelPath.supported {
            for hidden in [[1], [2], [3], [1, 1], [5, 1], [1, 6], [33]] {
                for pre in [InputPreprocessing.raw, .logAndSign(p: 10)] {
                    for width in [16, 48] {
                        let reference = stepsThenTruncation(path, fused: false, own: false, hiddenSizes: hidden,
                                                            preprocessing: pre, tileWidth: width)
                        XCTAssertTrue(reference.allSatisfy(\.isFinite), "\(path.rawValue) \(hidden)")
                        var variants: [(String, [Float])] = [
                            ("fused", stepsThenTruncation(path, fused: true, own: false, hiddenSizes: hidden,
                                                          preprocessing: pre, tileWidth: width)),
                            ("own", stepsThenTruncation(path, fused: false, own: true, paired: false, hiddenSizes: hidden,
                                                        preprocessing: pre, tileWidth: width)),
                            ("default", stepsThenTruncation(path, hiddenSizes: hidden, preprocessing: pre, tileWidth: width)),
                        ]
                        if FloatKernels(path).hasPairedProducts {
                            variants.append(("paired", stepsThenTruncation(path, fused: false, own: true, paired: true,
                                                                           hiddenSizes: hidden, preprocessing: pre,
                                                                           tileWidth: width)))
                        }
                        for (name, values) in variants {
                            let d = maxRelativeDifference(values.map(Double.init), reference.map(Double.init))
                            XCTAssertLessThan(d, 1e-5, "\(name), \(path.rawValue) \(hidden) \(pre) width \(width)")
                        }
                    }
                }
            }
        }
    }

    /// Engines with the forward products' terms paired against engines without (`stepsThenTruncation`
    /// on AVX-512, the path's own products either way): other bits, the same results to 1e-5 of the
    /// largest value (the bound of the test above against OpenBLAS).
    func testPairedForwardProductsMatchPlainOnesInTheEngine() throws {
        guard KernelPath.avx512.isSupported else { throw XCTSkip("no AVX-512 here") }
        for (hidden, pre) in [([20, 20], InputPreprocessing.logAndSign(p: 10)), ([7], .raw), ([20, 9], .raw)] {
            for width in [16, 48, 80, 256] {
                let plain = stepsThenTruncation(.avx512, own: true, paired: false, hiddenSizes: hidden, preprocessing: pre,
                                                tileWidth: width)
                let paired = stepsThenTruncation(.avx512, own: true, paired: true, hiddenSizes: hidden, preprocessing: pre,
                                                 tileWidth: width)
                XCTAssertTrue(paired.allSatisfy(\.isFinite))
                XCTAssertNotEqual(paired.map(\.bitPattern), plain.map(\.bitPattern), "\(hidden) \(width): not paired")
                let d = maxRelativeDifference(paired.map(Double.init), plain.map(Double.init))
                XCTAssertLessThan(d, 1e-5, "\(hidden) tile width \(width)")
            }
        }
    }
}

/// The largest |c − Σ_p a·b| / Σ_p magnitude(a, b) over the outputs of c = A b (A(i, p) =
/// w[i·rowStride + p·innerStride], b's and c's rows `stride` apart), asserting that the columns
/// past `columns` kept `sentinel`.
private func largestError(_ c: [Float], w: [Float], b: [Float], m: Int, k: Int, columns: Int, stride: Int,
                          rowStride: Int, innerStride: Int, sentinel: Float,
                          magnitude: (Double, Double) -> Double, line: UInt = #line) -> Double {
    var worst = 0.0
    for i in 0..<m {
        for j in 0..<stride {
            guard j < columns else {
                XCTAssertEqual(c[i * stride + j], sentinel, "padding written", line: line)
                continue
            }
            var sum = 0.0, total = 0.0
            for p in 0..<k {
                let a = Double(w[i * rowStride + p * innerStride]), x = Double(b[p * stride + j])
                sum += a * x
                total += magnitude(a, x)
            }
            worst = max(worst, abs(Double(c[i * stride + j]) - sum) / max(total, 1e-30))
        }
    }
    return worst
}

/// The first 64-byte aligned address at or after `p` (the kernels' scratch must be aligned).
private func alignedStart(_ p: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
    let misaligned = Int(bitPattern: p) % 64
    return misaligned == 0 ? p : p + (64 - misaligned) / MemoryLayout<Float>.stride
}
