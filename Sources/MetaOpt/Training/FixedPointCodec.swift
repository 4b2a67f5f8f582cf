import Foundation

/// Order-independent, exact summation of per-block meta-gradients across ranks.
///
/// Floating-point addition is not associative, so an allreduce of Float sums gives results that
/// depend on how tasks were spread over ranks. Instead every block's gradient is converted to 64-bit
/// fixed point with one exponent shared by all ranks, the integers are summed (exact, so in any
/// order), and the sum is converted back once. The exponent comes from a small MAX allreduce of the
/// largest magnitude on any rank, chosen so that the sum of all the terms cannot overflow:
///     scale = 2^e,  e = 62 − ⌈log₂ terms⌉ − ⌊log₂ max|g|⌋ − 1,
/// where terms is the number of values summed (docs/design.md says how many for the meta-gradient
/// and the meta-loss); that keeps about 62 − log₂(terms) significant bits for the largest value:
/// far more than the 24 of a Float. Values smaller than 2^-e are rounded to the nearest multiple
/// of 2^-e.
package struct FixedPointCodec: Sendable, Equatable {
    /// Power of two the values are multiplied by.
    package let exponent: Int
    /// 2^exponent and 2^−exponent, computed once (multiplying by an exact power of two gives the
    /// same bits as `scalbn`). Measured: no faster per value (about 5 ns either way, the rounding
    /// and the conversion to Int64 dominate).
    private let scale: Double, inverseScale: Double

    /// The codec for summing `terms` values of magnitude at most `maxMagnitude`.
    package init(maxMagnitude: Double, terms: Int) {
        precondition(terms > 0 && maxMagnitude.isFinite && maxMagnitude >= 0)
        let headroom = Int((Double(terms)).log2Ceiling)
        if maxMagnitude == 0 {
            exponent = 0
        } else {
            // max·2^e ≤ 2^(62 − headroom) for every term, so the sum stays below 2^62.
            exponent = 62 - headroom - Int(Foundation.floor(Foundation.log2(maxMagnitude))) - 1
        }
        scale = Foundation.scalbn(1.0, exponent)
        inverseScale = Foundation.scalbn(1.0, -exponent)
    }

    @inline(__always)
    package func encode(_ value: Float) -> Int64 { encode(Double(value)) }

    @inline(__always)
    package func encode(_ value: Double) -> Int64 {
        Int64((value * scale).rounded(.toNearestOrEven))
    }

    @inline(__always)
    package func decode(_ value: Int64) -> Double {
        Double(value) * inverseScale
    }
}

extension Double {
    fileprivate var log2Ceiling: Double { self <= 1 ? 0 : Foundation.ceil(Foundation.log2(self)) }
}
