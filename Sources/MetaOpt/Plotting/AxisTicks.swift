import Foundation

/// The y axis of a plot: its scale, its ends and where its ticks go, chosen from the data's range.
///
/// The rule (`automatic`):
/// * **Linear** when the data's range is small: positive data with largest / smallest < 3
///   (`linearBelowRatio`), or any data that is not all positive. Ticks at 1, 2 or 5 times a power of
///   ten, as many as fit (`maxLabels`), the axis ending on ticks.
/// * **Logarithmic** otherwise, in one of two styles:
///   - *1-2-5* when the range spans few decades: labels at 1, 2 and 5 in every decade (0.5, 1, 2, 5,
///     10, …), unlabelled minor ticks at the other whole mantissas (0.6, 0.7, 0.8, 0.9, 3, 4, …). The
///     axis ends on the whole mantissas around the data (0.5–2.3 gives 0.5 … 3) and the ends are
///     labelled too unless too close to another label. Used when it gives at most `maxLabels` labels
///     (about 2.7 decades for the default of 9).
///   - *decades* otherwise: labels at powers of ten (every `stride`-th one, so that at most
///     `maxLabels` remain), minor ticks at 2 … 9 when at most 6 decades are shown; the axis ends on
///     labelled powers of ten.
package struct AxisTicks: Equatable, Sendable {
    package enum Scale: String, Sendable, Equatable {
        case linear, log
    }

    /// How a log axis is labelled (see the type's documentation).
    package enum LogStyle: String, Sendable, Equatable {
        case oneTwoFive, decades
    }

    package var scale: Scale
    /// The log axis's labelling style (nil for a linear axis).
    package var logStyle: LogStyle?
    /// The axis ends (lower < upper).
    package var lower: Double
    package var upper: Double
    /// Labelled ticks, ascending, all within lower … upper.
    package var labelled: [Double]
    /// Unlabelled minor ticks, ascending.
    package var minor: [Double]
    /// Linear axes: the distance between labelled ticks.
    package var step: Double?

    /// Positive data whose largest / smallest value is below this ratio gets a linear axis.
    package static let linearBelowRatio = 3.0

    /// A linear axis spans at least this much (1e-307 constant data gets −5e-61 … 5e-61).
    package static let smallestLinearSpan = 1e-60

    /// The axis for data from `lowest` to `highest` (finite, lowest ≤ highest), by the rule above.
    package static func automatic(lowest: Double, highest: Double, maxLabels: Int = 9) -> AxisTicks {
        if lowest > 0 && highest / lowest >= linearBelowRatio {
            return logarithmic(lowest: lowest, highest: highest, maxLabels: maxLabels)
        }
        return linear(lowest: lowest, highest: highest, maxLabels: maxLabels)
    }

    /// A log axis around lowest … highest (both > 0), 1-2-5 style when it fits in `maxLabels`,
    /// decades otherwise.
    package static func logarithmic(lowest: Double, highest: Double, maxLabels: Int = 9) -> AxisTicks {
        precondition(lowest > 0 && highest >= lowest && highest.isFinite, "a log axis needs positive, finite bounds")
        let maxLabels = max(3, maxLabels)
        if let axis = oneTwoFive(lowest: lowest, highest: highest, maxLabels: maxLabels) { return axis }
        var decLo = Int(log10(lowest).rounded(.down))
        var decHi = Int(log10(highest).rounded(.up))
        if decHi <= decLo { decHi = decLo + 1 }
        let stride = max(1, Int((Double(decHi - decLo) / Double(maxLabels - 1)).rounded(.up)))
        decLo = Int((Double(decLo) / Double(stride)).rounded(.down)) * stride
        decHi = Int((Double(decHi) / Double(stride)).rounded(.up)) * stride
        let labelled = Swift.stride(from: decLo, through: decHi, by: stride).map { power(10, $0) }
        var minor: [Double] = []
        if decHi - decLo <= 6 {
            for d in decLo..<decHi {
                for m in 2...9 { minor.append(mantissa(m, d)) }
            }
        }
        return AxisTicks(scale: .log, logStyle: .decades, lower: power(10, decLo), upper: power(10, decHi),
                         labelled: labelled, minor: minor, step: nil)
    }

    /// The 1-2-5 log axis, or nil when it would need more than `maxLabels` labels.
    static func oneTwoFive(lowest: Double, highest: Double, maxLabels: Int) -> AxisTicks? {
        // Axis ends: the whole mantissas at or around the data (m × 10^k, m = 1 … 9).
        let (loM, loD) = wholeMantissa(lowest, roundingUp: false)
        var (hiM, hiD) = wholeMantissa(highest, roundingUp: true)
        if loM == hiM && loD == hiD { (hiM, hiD) = hiM == 9 ? (1, hiD + 1) : (hiM + 1, hiD) }
        let lower = mantissa(loM, loD), upper = mantissa(hiM, hiD)
        var labelled: [Double] = [], minor: [Double] = []
        for d in loD...hiD {
            for m in 1...9 {
                let v = mantissa(m, d)
                guard v >= lower * (1 - 1e-12) && v <= upper * (1 + 1e-12) else { continue }
                if m == 1 || m == 2 || m == 5 { labelled.append(v) } else { minor.append(v) }
            }
        }
        // Label the ends too, unless they sit closer than half a label slot to a label.
        let span = log10(upper / lower)
        let closest = 0.5 * span / Double(maxLabels)
        for end in [lower, upper] where !labelled.contains(end) {
            if labelled.allSatisfy({ abs(log10($0 / end)) >= closest }) {
                labelled.append(end)
                minor.removeAll { $0 == end }
            }
        }
        labelled.sort()
        guard labelled.count <= maxLabels, labelled.count >= 2 else { return nil }
        return AxisTicks(scale: .log, logStyle: .oneTwoFive, lower: lower, upper: upper,
                         labelled: labelled, minor: minor, step: nil)
    }

    /// A linear axis around lowest … highest, with the largest number of ticks at a 1-2-5 step that
    /// fits in `maxLabels`; `includeZero` stretches it to 0.
    package static func linear(lowest: Double, highest: Double, includeZero: Bool = false, maxLabels: Int = 9) -> AxisTicks {
        let maxLabels = max(3, maxLabels)
        var lo = includeZero ? min(lowest, 0) : lowest
        var hi = includeZero ? max(highest, 0) : highest
        if !(lo.isFinite && hi.isFinite) { (lo, hi) = (0, 1) }
        if hi - lo <= abs(hi) * 1e-12 {
            // A constant: a small range around it (around 0 … 1 for zero).
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            (lo, hi) = (includeZero && lo >= 0 ? 0 : lo - pad, hi + pad)
        }
        if hi - lo < smallestLinearSpan {
            // Around 1e-307 the steps would be subnormal numbers, whose whole mantissas overflow.
            let middle = lo / 2 + hi / 2
            (lo, hi) = (middle - smallestLinearSpan / 2, middle + smallestLinearSpan / 2)
        }
        var step = niceStep((hi - lo) / Double(maxLabels - 1))
        var first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
        while last - first + 1 > Double(maxLabels) {
            step = niceStep(step * 1.0001)
            first = (lo / step).rounded(.down)
            last = (hi / step).rounded(.up)
        }
        // i × step as i × m / 10^k for steps below 1, so that 16 × 0.2 is 3.2.
        let (m, k) = wholeMantissa(step, roundingUp: false)
        func tick(_ i: Double) -> Double { k >= 0 ? i * step : i * Double(m) / power(10, -k) }
        let labelled = Swift.stride(from: first, through: last, by: 1).map(tick)
        return AxisTicks(scale: .linear, logStyle: nil, lower: tick(first), upper: tick(last),
                         labelled: labelled, minor: [], step: step)
    }

    /// The smallest 1, 2 or 5 times a power of ten that is at least `raw` (> 0).
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0 && raw.isFinite else { return 1 }
        let p = pow(10, log10(raw).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * p >= raw * (1 - 1e-12) { return m * p }
        return 10 * p
    }

    /// m × 10^d computed so that 0.6 is 6 / 10, not 6 × 0.1.
    static func mantissa(_ m: Int, _ d: Int) -> Double {
        d >= 0 ? Double(m) * power(10, d) : Double(m) / power(10, -d)
    }

    static func power(_ base: Double, _ e: Int) -> Double {
        e >= 0 ? pow(base, Double(e)) : 1 / pow(base, Double(-e))
    }

    /// The whole mantissa m (1 … 9) and decade d with m × 10^d at or below (at or above) `v`.
    static func wholeMantissa(_ v: Double, roundingUp: Bool) -> (Int, Int) {
        var d = Int(log10(v).rounded(.down))
        var m = v / power(10, d)
        if m >= 10 * (1 - 1e-12) { d += 1; m = v / power(10, d) }
        if m < 1 - 1e-12 { d -= 1; m = v / power(10, d) }
        if roundingUp {
            var up = Int((m - 1e-9).rounded(.up))
            if up < 1 { up = 1 }
            if up >= 10 { return (1, d + 1) }
            return (up, d)
        }
        return (max(1, min(9, Int((m + 1e-9).rounded(.down)))), d)
    }

    // MARK: Labels

    /// A tick label: `text`, then `exponent` as a superscript when set (10⁻³ is "10" and "−3").
    package struct Label: Equatable, Sendable {
        package var text: String
        package var exponent: String?
        /// The label as plain text: "10^-3", "2×10^-6", "0.5".
        package var plain: String { exponent.map { "\(text)^\($0.replacingOccurrences(of: "\u{2212}", with: "-"))" } ?? text }
    }

    /// The label of the tick at `v`: powers of ten on a decade axis as 10 with an exponent;
    /// otherwise decimals (0.5, 2, 200) between 0.001 and 100 000, and m×10 with an exponent
    /// outside; linear axes with as many decimals as the step needs.
    package func label(_ v: Double) -> Label {
        switch scale {
        case .log:
            let (m, d) = Self.wholeMantissa(v * (1 + 1e-9), roundingUp: false)
            if logStyle == .decades { return Label(text: "10", exponent: Self.exponent(d)) }
            if v >= 1e-3 && v < 1e5 { return Label(text: Self.decimal(v, significant: 3), exponent: nil) }
            return Label(text: m == 1 ? "10" : "\(m)\u{00D7}10", exponent: Self.exponent(d))
        case .linear:
            let step = self.step ?? 1
            if v == 0 { return Label(text: "0", exponent: nil) }
            let magnitude = max(abs(lower), abs(upper))
            if magnitude >= 1e6 || step < 1e-4 {
                return Label(text: SVGPlot.compact(v), exponent: nil)
            }
            let decimals = max(0, Int(-log10(step).rounded(.down)))
            return Label(text: String(format: "%.\(decimals)f", v), exponent: nil)
        }
    }

    static func exponent(_ d: Int) -> String { (d < 0 ? "\u{2212}" : "") + "\(abs(d))" }

    static func decimal(_ v: Double, significant: Int) -> String {
        var s = String(format: "%.\(significant)g", v)
        if s.contains("e") { s = String(format: "%f", v) }
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }
}
