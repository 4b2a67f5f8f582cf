import Foundation

/// A loss-versus-step line plot on a logarithmic y axis, in the style of the paper's figures,
/// rendered as a standalone SVG document by plain string building.
///
/// One `<path>` per series (the line), optionally a shaded `<polygon>` band around it (for an
/// evaluation: the 25th–75th percentile across functions), a legend, ticks at powers of ten and
/// linear step ticks.
///
/// Values a log axis cannot show are clipped, and the plot says so in a note under the axes:
/// values below `floor` (including zero and negatives) are drawn at the bottom of the axis, which
/// is then `floor` or above; non-finite values (diverged runs) and values above `ceiling` (if set)
/// are drawn at the top edge. An evaluation's plot sets the ceiling to the power of ten at or above
/// 1000 times the largest mean initial loss.
public struct SVGPlot: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// y value at x = 0, 1, 2, …
        public var values: [Double]
        /// Optional band (same count as `values`), e.g. the 25th and 75th percentiles.
        public var lower: [Double]?
        public var upper: [Double]?

        public init(name: String, values: [Double], lower: [Double]? = nil, upper: [Double]? = nil) {
            precondition(lower == nil || lower!.count == values.count, "band and values differ in length")
            precondition(upper == nil || upper!.count == values.count, "band and values differ in length")
            self.name = name
            self.values = values
            self.lower = lower
            self.upper = upper
        }
    }

    public var title: String
    /// A smaller second line under the title (e.g. what the lines and bands show).
    public var subtitle: String?
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var width: Double = 760
    public var height: Double = 500
    /// Smallest value the log axis shows; smaller values (and values ≤ 0) are drawn at the axis floor.
    public var floor: Double = 1e-12
    /// Largest value the log axis shows, if set; larger values are drawn at the top edge, so that a
    /// diverging run does not squash the others.
    public var ceiling: Double? = nil
    /// Opacity of the shaded bands (0 hides them).
    public var bandOpacity: Double = 0.12

    /// Line colours in series order (Matplotlib's "tab10", distinct and colour-blind tolerant);
    /// repeated with a dash pattern after ten series.
    public static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    public init(title: String, subtitle: String? = nil, xLabel: String = "Step", yLabel: String = "Loss",
                series: [Series]) {
        self.title = title
        self.subtitle = subtitle
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    public func write(to url: URL) throws {
        try ResultFile.writeAtomically(render(), to: url)
    }

    /// The SVG document.
    public func render() -> String {
        // Layout.
        let left = 84.0, right = width - 24.0
        let top = subtitle == nil ? 52.0 : 68.0
        let bottom = height - 72.0
        let plotW = right - left, plotH = bottom - top

        // Y range in decades.
        let floorValue = floor > 0 && floor.isFinite ? floor : 1e-12
        let ceilingValue = ceiling.flatMap { $0 > floorValue ? $0 : nil } ?? .infinity
        var lowest = Double.infinity, highest = -Double.infinity
        var clippedLow = false, clippedNonFinite = false, clippedAbove = false
        for s in series {
            for v in s.values + (s.lower ?? []) + (s.upper ?? []) {
                if !v.isFinite {
                    if v == -.infinity { clippedLow = true } else { clippedNonFinite = true }
                    continue
                }
                if v < floorValue { clippedLow = true }
                if v > ceilingValue { clippedAbove = true }
                let c = min(max(v, floorValue), ceilingValue)
                lowest = min(lowest, c)
                highest = max(highest, c)
            }
        }
        if !lowest.isFinite { lowest = 1; highest = 10 }
        var decLo = Int(log10(lowest).rounded(.down))
        var decHi = Int(log10(highest).rounded(.up))
        if decHi <= decLo { decHi = decLo + 1 }
        // At most about 8 labelled decades, labels at multiples of the stride, and the axis begins
        // and ends on a labelled tick.
        let stride = max(1, Int((Double(decHi - decLo) / 8).rounded(.up)))
        decLo = Int((Double(decLo) / Double(stride)).rounded(.down)) * stride
        decHi = Int((Double(decHi) / Double(stride)).rounded(.up)) * stride
        let decades = decHi - decLo
        let axisMin = pow(10, Double(decLo)), axisMax = pow(10, Double(decHi))

        /// Position of a value on the axis (ticks), no clipping.
        func axisY(_ v: Double) -> Double {
            top + (Double(decHi) - log10(v)) / Double(decHi - decLo) * plotH
        }
        /// Position of a data value, clipped as documented.
        func yPos(_ v: Double) -> Double {
            if v.isNaN || v > ceilingValue { return top }
            return axisY(min(max(v, axisMin), axisMax))
        }
        let maxX = max(1, (series.map { $0.values.count }.max() ?? 1) - 1)
        func xPos(_ x: Int) -> Double { left + Double(x) / Double(maxX) * plotW }

        var svg = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" \
        viewBox="0 0 \(f(width)) \(f(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">

        """
        svg += "<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"white\"/>\n"
        svg += "<text x=\"\(f(width / 2))\" y=\"28\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">\(escaped(title))</text>\n"
        if let subtitle {
            svg += "<text x=\"\(f(width / 2))\" y=\"48\" text-anchor=\"middle\" font-size=\"12\" fill=\"#444444\">\(escaped(subtitle))</text>\n"
        }

        // Grid and ticks.
        svg += "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n"
        var yTicks = ""
        for d in decLo...decHi where (d - decLo) % stride == 0 {
            let y = axisY(pow(10, Double(d)))
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(right))\" y2=\"\(f(y))\"/>\n"
            yTicks += "<line x1=\"\(f(left - 6))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"black\"/>\n"
            yTicks += "<text x=\"\(f(left - 10))\" y=\"\(f(y + 5))\" text-anchor=\"end\">10<tspan dy=\"-7\" font-size=\"10\">\(d < 0 ? "\u{2212}" : "")\(abs(d))</tspan></text>\n"
        }
        if decades <= 6 {
            for d in decLo..<decHi {
                for m in 2...9 {
                    let y = axisY(Double(m) * pow(10, Double(d)))
                    yTicks += "<line x1=\"\(f(left - 3))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"black\"/>\n"
                }
            }
        }
        let xStep = Self.niceStep(Double(maxX) / 6)
        var xTicks = ""
        var tick = 0.0
        while tick <= Double(maxX) + 1e-9 {
            let x = left + tick / Double(maxX) * plotW
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(bottom))\"/>\n"
            xTicks += "<line x1=\"\(f(x))\" y1=\"\(f(bottom))\" x2=\"\(f(x))\" y2=\"\(f(bottom + 6))\" stroke=\"black\"/>\n"
            let label = tick == tick.rounded() ? String(Int(tick)) : String(format: "%g", tick)
            xTicks += "<text x=\"\(f(x))\" y=\"\(f(bottom + 22))\" text-anchor=\"middle\">\(label)</text>\n"
            tick += xStep
        }
        svg += "</g>\n"

        // Bands, then lines on top.
        svg += "<g class=\"bands\">\n"
        for (i, s) in series.enumerated() {
            guard let lower = s.lower, let upper = s.upper, !s.values.isEmpty, bandOpacity > 0 else { continue }
            var points: [String] = []
            for x in 0..<upper.count { points.append("\(f(xPos(x))),\(f(yPos(upper[x])))") }
            for x in (0..<lower.count).reversed() { points.append("\(f(xPos(x))),\(f(yPos(lower[x])))") }
            svg += "<polygon points=\"\(points.joined(separator: " "))\" fill=\"\(color(i))\" fill-opacity=\"\(f(bandOpacity))\" stroke=\"none\"/>\n"
        }
        svg += "</g>\n<g class=\"lines\" fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\">\n"
        for (i, s) in series.enumerated() {
            var d = ""
            for (x, v) in s.values.enumerated() {
                d += (x == 0 ? "M" : " L") + "\(f(xPos(x))),\(f(yPos(v)))"
            }
            svg += "<path data-series=\"\(escaped(s.name))\" d=\"\(d)\" stroke=\"\(color(i))\"\(dash(i))/>\n"
        }
        svg += "</g>\n"

        // Axes frame, ticks, labels.
        svg += "<g class=\"axes\">\n"
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"black\"/>\n"
        svg += yTicks + xTicks
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(bottom + 44))\" text-anchor=\"middle\" font-size=\"14\">\(escaped(xLabel))</text>\n"
        svg += "<text transform=\"translate(22,\(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">\(escaped(yLabel)) (log scale)</text>\n"
        var notes: [String] = []
        if clippedLow { notes.append("values below \(Self.compact(axisMin)) drawn at the bottom edge") }
        if clippedAbove {
            notes.append("values above \(Self.compact(ceilingValue))\(clippedNonFinite ? " and diverged (non-finite) values" : "") drawn at the top edge")
        } else if clippedNonFinite {
            notes.append("diverged (non-finite) values drawn at the top edge")
        }
        if !notes.isEmpty {
            svg += "<text class=\"note\" x=\"\(f(width - 8))\" y=\"\(f(height - 8))\" text-anchor=\"end\" font-size=\"11\" fill=\"#666666\">Note: \(escaped(notes.joined(separator: "; ")))</text>\n"
        }
        svg += "</g>\n"

        // Legend inside the plot area, in the corner that covers the fewest line points
        // (preference on ties: top right, bottom left, top left, bottom right).
        let longest = series.map { $0.name.count }.max() ?? 0
        let legendW = 48 + 7.5 * Double(longest), rowH = 20.0
        let legendH = 10 + rowH * Double(series.count)
        let corners = [(right - legendW - 10, top + 10), (left + 10, bottom - legendH - 10),
                       (left + 10, top + 10), (right - legendW - 10, bottom - legendH - 10)]
        let points = series.flatMap { s in s.values.indices.map { (xPos($0), yPos(s.values[$0])) } }
        let covered = corners.map { c in
            points.filter { $0.0 >= c.0 - 4 && $0.0 <= c.0 + legendW + 4 && $0.1 >= c.1 - 4 && $0.1 <= c.1 + legendH + 4 }.count
        }
        let best = covered.indices.min { covered[$0] < covered[$1] || covered[$0] == covered[$1] && $0 < $1 }!
        let (lx, ly) = corners[best]
        svg += "<g class=\"legend\">\n"
        svg += "<rect x=\"\(f(lx))\" y=\"\(f(ly))\" width=\"\(f(legendW))\" height=\"\(f(legendH))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999999\"/>\n"
        for (i, s) in series.enumerated() {
            let y = ly + 5 + rowH * (Double(i) + 0.5)
            svg += "<line x1=\"\(f(lx + 8))\" y1=\"\(f(y))\" x2=\"\(f(lx + 34))\" y2=\"\(f(y))\" stroke=\"\(color(i))\" stroke-width=\"2.5\"\(dash(i))/>\n"
            svg += "<text x=\"\(f(lx + 40))\" y=\"\(f(y + 4.5))\">\(escaped(s.name))</text>\n"
        }
        svg += "</g>\n</svg>\n"
        return svg
    }

    /// 1, 2 or 5 times a power of ten, at least `raw` (and at least 1, since x counts steps).
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 1 else { return 1 }
        let p = pow(10, log10(raw).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * p >= raw { return m * p }
        return 10 * p
    }

    /// Three significant digits, exponent without "+" and leading zeros: 1e-12, 1e5, 2.5e3, 0.01.
    static func compact(_ x: Double) -> String {
        let s = String(format: "%.3g", x)
        guard let e = s.firstIndex(of: "e") else { return s }
        var exponent = String(s[s.index(after: e)...])
        let negative = exponent.hasPrefix("-")
        exponent = String(exponent.drop { $0 == "+" || $0 == "-" || $0 == "0" })
        return String(s[..<e]) + "e" + (negative ? "-" : "") + (exponent.isEmpty ? "0" : exponent)
    }

    private func color(_ i: Int) -> String { Self.palette[i % Self.palette.count] }
    private func dash(_ i: Int) -> String { i < Self.palette.count ? "" : " stroke-dasharray=\"6 3\"" }
    private func f(_ x: Double) -> String { String(format: "%.2f", x) }

    /// Escapes text for XML content and attribute values.
    static func escaped(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
    private func escaped(_ s: String) -> String { Self.escaped(s) }
}

extension EvaluationReport {
    /// The paper-style plot of this evaluation: per optimizer the mean loss across functions at
    /// every step (line; the paper plots means too) and, if `bands`, the 25th–75th percentile
    /// across functions as a shaded band. The subtitle states what is drawn; baselines' legend
    /// entries carry their learning rate.
    public func plot(title: String = "Loss on evaluation functions", bands: Bool = true) -> SVGPlot {
        let series = curves.map { c -> SVGPlot.Series in
            let stats = statistics(of: c)
            var name = c.name
            if let lr = c.learningRate { name += " (lr \(String(format: "%g", lr)))" }
            return SVGPlot.Series(name: name, values: stats.map(\.mean),
                                  lower: bands ? stats.map(\.q25) : nil, upper: bands ? stats.map(\.q75) : nil)
        }
        let subtitle = "Lines: mean over \(functionCount) functions"
            + (bands ? "; shaded: 25th\u{2013}75th percentile" : "")
        var plot = SVGPlot(title: title, subtitle: subtitle, xLabel: "Step", yLabel: "Loss", series: series)
        // The axis reaches at most the power of ten at or above 1000 times the largest mean initial loss (divergence drawn at the top).
        let initial = curves.map { statistics(of: $0)[0].mean }.filter { $0.isFinite && $0 > 0 }
        if let start = initial.max() { plot.ceiling = pow(10, log10(1000 * start).rounded(.up)) }
        return plot
    }

    public func writePlot(to url: URL, title: String = "Loss on evaluation functions", bands: Bool = true) throws {
        try plot(title: title, bands: bands).write(to: url)
    }
}
