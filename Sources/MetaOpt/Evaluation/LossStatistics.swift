/// Summary statistics over losses across functions, in Double.
///
/// Non-finite losses count as diverged: NaN is treated as `+∞`, so a mean over a set with a
/// diverged run is `+∞`, and quantiles sort diverged runs to the top.
package enum LossStatistics {
    /// `x` as Double, NaN mapped to `+∞`.
    @inlinable
    package static func sanitized(_ x: Float) -> Double {
        x.isNaN ? .infinity : Double(x)
    }

    /// Arithmetic mean (`+∞` if any value is `+∞`); NaN for an empty set.
    package static func mean(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        if values.contains(where: { $0 == .infinity || $0.isNaN }) { return .infinity }
        return values.reduce(0, +) / Double(values.count)
    }

    /// The p-quantile (0 ≤ p ≤ 1) of ascending `sorted` values by linear interpolation between
    /// closest ranks (NumPy's default, R type 7): position h = (n − 1) p. NaN for an empty set.
    package static func quantile(sorted: [Double], _ p: Double) -> Double {
        precondition(p >= 0 && p <= 1, "quantile outside [0, 1]")
        guard !sorted.isEmpty else { return .nan }
        let h = Double(sorted.count - 1) * p
        let lo = Int(h.rounded(.down))
        let hi = min(lo + 1, sorted.count - 1)
        let a = sorted[lo], b = sorted[hi]
        let frac = h - Double(lo)
        if frac == 0 || a == b { return a }  // also avoids ∞ − ∞ and ∞ · 0
        if b == .infinity { return .infinity }
        return a + (b - a) * frac
    }

    /// Mean, median and quartiles of one set of losses.
    package static func summary(_ losses: [Float]) -> (mean: Double, median: Double, q25: Double, q75: Double) {
        let values = losses.map(sanitized)
        let sorted = values.sorted()
        return (mean(values), quantile(sorted: sorted, 0.5), quantile(sorted: sorted, 0.25), quantile(sorted: sorted, 0.75))
    }
}
