#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Vectorised single-precision exp, log, sigmoid and tanh for the Float fast path of the LSTM
/// kernels (one vector register: 16 lanes with AVX-512, 8 with AVX2). The Double path keeps libm.
///
/// Accuracy (measured by Tests/MetaOptTests/FastMathTests.swift over dense sweeps): a few units in
/// the last place relative to the correctly rounded result wherever that result is a normal float.
/// The polynomials are minimax fits (relative error, discrete linear programming on 6,000 points)
/// whose own error is far below half an ulp, so the error is the rounding of the few operations:
/// - exp: Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, e^r = 1 + r·(1 + r·P₄(r)) (fit error
///   3·10⁻⁹), times 2ⁿ (vscalefps with AVX-512, exponent bits otherwise). Results below the
///   smallest normal float (x < −87.336) are flushed to 0, results above the largest float
///   (x > 88.722) are +∞. (The kernels' exp of non-positive arguments returns FLT_MIN instead of
///   flushing, one instruction less: an absolute error below FLT_MIN.)
/// - sigmoid(x) = 1/(1+e) for x ≥ 0 and e/(1+e) for x < 0, e = exp(−|x|): accurate in relative
///   terms in both tails (no 1 − something cancellation); saturates to exactly 1, and to FLT_MIN
///   or less on the left (x < −87.3).
/// - tanh: −m/(2 + m) with m = expm1(−2|x|) built from the exp reduction (see `tanh`), with the
///   sign of x; saturates to exactly ±1.
/// - log (for the input preprocessing): x = m·2ᵉ with m ∈ [√½, √2), log(1+f) = f − f²/2 + f³·P₇(f)
///   (fit error 6·10⁻⁹), plus e·ln2 in two parts; log(0) = −∞, log(+∞) = +∞, log(x < 0) = NaN.
/// NaN inputs give NaN outputs in every function (so non-finite values reach the trainer's check).
enum FastMath {
    #if METAOPT_AVX512
    typealias Vector = SIMD16<Float>
    typealias Bits = SIMD16<UInt32>
    typealias Integers = SIMD16<Int32>
    #else
    typealias Vector = SIMD8<Float>
    typealias Bits = SIMD8<UInt32>
    typealias Integers = SIMD8<Int32>
    #endif
    /// Lanes per vector: 16 with AVX-512 (one zmm register), 8 with AVX2 (one ymm register).
    static let width = Vector.scalarCount

    @_transparent static func bits(_ v: Vector) -> Bits { unsafeBitCast(v, to: Bits.self) }
    @_transparent static func float(_ b: Bits) -> Vector { unsafeBitCast(b, to: Vector.self) }
    @_transparent static func abs(_ x: Vector) -> Vector { float(bits(x) & 0x7FFF_FFFF) }
    /// max(x, lo), keeping NaN (vmaxps returns its second operand when either is NaN). The
    /// intrinsic keeps LLVM from scalarising the code around it, which the standard library's
    /// per-lane `replacing(with:where:)` can provoke.
    @_transparent static func clampBelow(_ x: Vector, _ lo: Float) -> Vector {
        #if METAOPT_AVX512
        return _mm512_max_ps(Vector(repeating: lo), x)
        #else
        return x.replacing(with: lo, where: x .< lo)
        #endif
    }

    /// a·b + c with one rounding: the vfmadd intrinsic (the standard library's `addingProduct` is
    /// a per-lane loop that LLVM must re-vectorise, and in long expressions it does so only in part).
    @_transparent static func fma(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        #if METAOPT_AVX512
        return _mm512_fmadd_ps(a, b, c)
        #elseif arch(x86_64)
        return _mm256_fmadd_ps(a, b, c)
        #else
        return c.addingProduct(a, b)
        #endif
    }
    @_transparent static func fma(_ a: Vector, _ b: Vector, _ c: Float) -> Vector {
        fma(a, b, Vector(repeating: c))
    }

    // exp
    static let log2e: Float = 1.442_695_04
    static let ln2Hi: Float = 0.693_359_375  // 8 significant bits: n·ln2Hi is exact
    static let ln2Lo: Float = -2.121_944_4e-4
    /// 1.5·2²³: adding it rounds to an integer held in the low mantissa bits.
    static let roundingMagic: Float = 12_582_912
    static let expLowest: Float = -87.336_55  // ln(FLT_MIN): below, e^x is subnormal → 0
    static let expHighest: Float = 88.722_83  // ln(FLT_MAX): above, e^x overflows → +∞
    static let e2: Float = 0.499_999_94, e3: Float = 0.166_665_21, e4: Float = 0.041_668_39,
               e5: Float = 0.008_368_71, e6: Float = 0.001_381_461_4

    /// e^r for |r| ≤ ln2/2: 1 + r·(1 + r·P₄(r)) in six fused multiply-adds.
    @_transparent static func expReduced(_ r: Vector) -> Vector {
        var p = fma(Vector(repeating: e6), r, e5)
        p = fma(p, r, e4)
        p = fma(p, r, e3)
        p = fma(p, r, e2)
        p = fma(p, r, 1)
        return fma(p, r, 1)
    }

    /// e^x for x ≤ 0 (and NaN); the kernels' only use. Arguments below ln(FLT_MIN) give FLT_MIN
    /// (absolute error below FLT_MIN, and no subnormal ever enters the kernels' arithmetic).
    @_transparent static func expOfNonPositive(_ x: Vector) -> Vector {
        let xc = clampBelow(x, expLowest)
        let t = fma(xc, Vector(repeating: log2e), Vector(repeating: roundingMagic))
        let n = t - roundingMagic
        var r = fma(n, Vector(repeating: -ln2Hi), xc)
        r = fma(n, Vector(repeating: -ln2Lo), r)
        #if METAOPT_AVX512
        return _mm512_scalef_ps(expReduced(r), n)  // p·2ⁿ in one instruction
        #else
        return expReduced(r) * float((bits(t) &<< 23) &+ 0x3F80_0000)
        #endif
    }

    /// e^x for every float.
    @_transparent static func exp(_ x: Vector) -> Vector {
        var xc = x.replacing(with: expLowest, where: x .< expLowest)
        xc = xc.replacing(with: expHighest, where: xc .> expHighest)
        let t = fma(xc, Vector(repeating: log2e), Vector(repeating: roundingMagic))
        let n = t - roundingMagic
        var r = fma(n, Vector(repeating: -ln2Hi), xc)
        r = fma(n, Vector(repeating: -ln2Lo), r)
        // 2ⁿ as 2^⌊n/2⌋ · 2^(n−⌊n/2⌋): both factors normal for n ∈ [−126, 128].
        let ni = Integers(truncatingIfNeeded: bits(t) &- bits(Vector(repeating: roundingMagic)))
        let half = ni &>> 1
        let s1 = float(Bits(truncatingIfNeeded: (half &+ 127) &<< 23))
        let s2 = float(Bits(truncatingIfNeeded: (ni &- half &+ 127) &<< 23))
        var y = expReduced(r) * s1 * s2
        y = y.replacing(with: 0, where: x .< expLowest)
        return y.replacing(with: .infinity, where: x .> expHighest)
    }

    /// 1 / (1 + e^−x).
    @_transparent static func sigmoid(_ x: Vector) -> Vector {
        let e = expOfNonPositive(-abs(x))
        let s = 1 / (1 + e)
        return (e * s).replacing(with: s, where: x .>= 0)
    }

    /// tanh(x) = sign(x) · (−m / (2 + m)) with m = expm1(−2|x|) ∈ (−1, 0]. expm1 keeps its
    /// relative accuracy for small arguments: with −2|x| = n·ln2 + r, e^r − 1 = r·(1 + r·P₄(r))
    /// (the exp polynomial), and expm1 = 2ⁿ·(e^r − 1) + (2ⁿ − 1), where the last sum cancels at
    /// most one bit (its result is ≥ ½·2ⁿ in magnitude for n ≤ −1). No branch on |x|.
    @_transparent static func tanh(_ x: Vector) -> Vector {
        let a = abs(x)
        let y = clampBelow(-2 * a, expLowest)  // below: m = −1 and tanh = ±1
        let t = fma(y, Vector(repeating: log2e), Vector(repeating: roundingMagic))
        let n = t - roundingMagic
        var r = fma(n, Vector(repeating: -ln2Hi), y)
        r = fma(n, Vector(repeating: -ln2Lo), r)
        var p = fma(Vector(repeating: e6), r, e5)
        p = fma(p, r, e4)
        p = fma(p, r, e3)
        p = fma(p, r, e2)
        p = fma(p, r, 1)
        let q = p * r  // e^r − 1
        #if METAOPT_AVX512
        let scale = _mm512_scalef_ps(Vector(repeating: 1), n)
        #else
        let scale = float((bits(t) &<< 23) &+ 0x3F80_0000)
        #endif
        let m = fma(scale, q, scale - 1)
        let th = m / (-2 - m)
        return float(bits(th) | (bits(x) & 0x8000_0000))
    }

    static let sqrtHalf: Float = 0.707_106_77
    static let l3: Float = 0.333_333_31, l4: Float = -0.250_008_2, l5: Float = 0.200_012_27,
               l6: Float = -0.166_233_57, l7: Float = 0.142_017_57, l8: Float = -0.131_601_81,
               l9: Float = 0.127_615_78, l10: Float = -0.076_344_99

    /// Natural logarithm.
    @_transparent static func log(_ x: Vector) -> Vector {
        // Subnormals: scale by 2²³ first.
        let tiny = x .< Float.leastNormalMagnitude
        let xs = x.replacing(with: x * 8_388_608, where: tiny)
        let b = bits(xs)
        var e = Integers(truncatingIfNeeded: b &>> 23) &- 127
        e = e.replacing(with: e &- 23, where: tiny)
        var m = float((b & 0x007F_FFFF) | 0x3F80_0000)  // [1, 2)
        let high = m .> 2 * sqrtHalf
        m = m.replacing(with: m * 0.5, where: high)
        e = e.replacing(with: e &+ 1, where: high)
        let f = m - 1
        var p = fma(Vector(repeating: l10), f, l9)
        p = fma(p, f, l8)
        p = fma(p, f, l7)
        p = fma(p, f, l6)
        p = fma(p, f, l5)
        p = fma(p, f, l4)
        p = fma(p, f, l3)
        let f2 = f * f
        let ef = Vector(e)
        let tail = fma(f2 * f, p, ef * ln2Lo)
        var y = fma(ef, Vector(repeating: ln2Hi), fma(f2, Vector(repeating: -0.5), f) + tail)
        y = y.replacing(with: -.infinity, where: x .== 0)
        y = y.replacing(with: .infinity, where: x .== .infinity)
        return y.replacing(with: .nan, where: x .< 0 .| (x .!= x))
    }

    // Scalars (one lane), for tails and tests.
    @inline(__always) static func exp(_ x: Float) -> Float { exp(Vector(repeating: x))[0] }
    @inline(__always) static func sigmoid(_ x: Float) -> Float { sigmoid(Vector(repeating: x))[0] }
    @inline(__always) static func tanh(_ x: Float) -> Float { tanh(Vector(repeating: x))[0] }
    @inline(__always) static func log(_ x: Float) -> Float { log(Vector(repeating: x))[0] }
}

extension FastMath {
    enum Function: CaseIterable { case exp, sigmoid, tanh, log }

    /// `function` on every element, one vector at a time, as the kernels evaluate it (compiled with this
    /// module's vector flags; for the tests).
    @inline(never)
    static func evaluate(_ function: Function, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                var k = 0
                while k < x.count {
                    var v = Vector(repeating: 0)
                    let n = Swift.min(width, x.count - k)
                    for l in 0..<n { v[l] = xp[k + l] }
                    let r: Vector
                    switch function {
                    case .exp: r = exp(v)
                    case .sigmoid: r = sigmoid(v)
                    case .tanh: r = tanh(v)
                    case .log: r = log(v)
                    }
                    for l in 0..<n { yp[k + l] = r[l] }
                    k += width
                }
            }
        }
        return y
    }
}
