internal import CMetaOptKernels

/// The vectorised single-precision exp, log, sigmoid and tanh of the Float kernels (written in C
/// once for every kernel path, Sources/CMetaOptKernels/kernels_template.h). The Double path keeps libm.
///
/// Accuracy (measured by Tests/MetaOptTests/FastMathTests.swift over dense sweeps, on every path):
/// a few units in the last place relative to the correctly rounded result wherever that result is
/// a normal float. The polynomials are minimax fits (relative error, discrete linear programming
/// on 6,000 points) whose own error is far below half an ulp, so the error is the rounding of the
/// few operations (one more rounding per multiply-add on the portable path of x86-64, which has
/// no fused multiply-add):
/// - exp: Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, e^r = 1 + r·(1 + r·P₄(r)) (fit error
///   3·10⁻⁹), times 2ⁿ (vscalefps with AVX-512, exponent bits otherwise). Results below the
///   smallest normal float (x < −87.336) are flushed to 0, results above the largest float
///   (x > 88.722) are +∞. (The kernels' exp of non-positive arguments returns FLT_MIN instead of
///   flushing, one instruction less: an absolute error below FLT_MIN.)
/// - sigmoid(x) = 1/(1+e) for x ≥ 0 and e/(1+e) for x < 0, e = exp(−|x|): accurate in relative
///   terms in both tails (no 1 − something cancellation); saturates to exactly 1, and to FLT_MIN
///   or less on the left (x < −87.3).
/// - tanh: −m/(2 + m) with m = expm1(−2|x|) built from the exp reduction, with the sign of x;
///   saturates to exactly ±1.
/// - log (for the input preprocessing): x = m·2ᵉ with m ∈ [√½, √2), log(1+f) = f − f²/2 + f³·P₇(f)
///   (fit error 6·10⁻⁹), plus e·ln2 in two parts; log(0) = −∞, log(+∞) = +∞, log(x < 0) = NaN.
/// NaN inputs give NaN outputs in every function (so non-finite values reach the trainer's check).
enum FastMath {
    enum Function: CaseIterable {
        case exp, sigmoid, tanh, log

        var cFunction: metaopt_function {
            switch self {
            case .exp: return METAOPT_FUNCTION_EXP
            case .sigmoid: return METAOPT_FUNCTION_SIGMOID
            case .tanh: return METAOPT_FUNCTION_TANH
            case .log: return METAOPT_FUNCTION_LOG
            }
        }
    }

    /// `function` of every element as the kernels of `path` compute it (for the tests).
    static func evaluate(_ function: Function, _ x: [Float], path: KernelPath = .default) -> [Float] {
        FloatKernels(path).evaluate(function, x)
    }
}
