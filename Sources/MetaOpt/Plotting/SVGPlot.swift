import Foundation

/// A line plot in the style of the paper's figures, rendered as a standalone SVG document (or as
/// one panel of an `SVGFigure`) by plain string building.
///
/// One `<path>` per series (the line), optionally a shaded `<polygon>` band around it (for an
/// evaluation: the 25th–75th percentile across functions), optional markers, a legend, y ticks
/// chosen by `AxisTicks` (log or linear axis, see there for the rule) and linear x ticks.
///
/// Values a log axis cannot show are clipped, and the plot says so in a note under the axes:
/// values below `floor` (including zero and negatives) are drawn at the bottom of the axis, which
/// is then `floor` or above; non-finite values (diverged runs) and values above `ceiling` (if set)
/// are drawn at the top edge, unless the series marks non-finite values as gaps (missing data). An
/// evaluation's plot sets the ceiling to the power of ten at or above 1000 times the largest mean
/// initial loss.
///
/// A series of more than `thinningThreshold` points is thinned for drawing (`drawnIndices`: at
/// most a few points per pixel column), so that the document's size does not grow with the number
/// of points; the axes still come from every value.
package struct SVGPlot: Sendable {
    package struct Series: Sendable {
        package var name: String
        /// y values, at x = 0, 1, 2, … unless `x` is set.
        package var values: [Double]
        /// Optional band (same count as `values`), e.g. the 25th and 75th percentiles.
        package var lower: [Double]?
        package var upper: [Double]?
        /// The x of each value (same count as `values`; default 0, 1, 2, …).
        package var x: [Double]?
        package var lineWidth: Double = 2
        /// Opacity of the line and markers (a faint line behind a smoothed one: 0.3).
        package var opacity: Double = 1
        /// Palette index of the colour (default: the series' position), so that related series
        /// (raw and smoothed) share one colour.
        package var colorIndex: Int?
        /// Draw the connecting line.
        package var line = true
        /// Draw a dot at every point.
        package var markers = false
        /// Radius of the markers.
        package var markerRadius = 3.0
        /// List the series in the legend.
        package var inLegend = true
        /// Non-finite values are missing data (the line breaks there) rather than diverged runs
        /// (drawn at the top edge).
        package var gapsAtNonFinite = false

        package init(name: String, values: [Double], lower: [Double]? = nil, upper: [Double]? = nil, x: [Double]? = nil) {
            precondition(lower == nil || lower!.count == values.count, "band and values differ in length")
            precondition(upper == nil || upper!.count == values.count, "band and values differ in length")
            precondition(x == nil || x!.count == values.count, "x and values differ in length")
            self.name = name
            self.values = values
            self.lower = lower
            self.upper = upper
            self.x = x
        }

        func xValue(_ i: Int) -> Double { x?[i] ?? Double(i) }
    }

    /// How the y axis is chosen.
    package enum YScale: Sendable, Equatable {
        /// `AxisTicks.automatic`: linear for a small range (max/min < 3), log otherwise (values ≤ 0
        /// are then clipped at `floor`, unless the positive values alone have a small range).
        case automatic
        /// Always logarithmic.
        case log
        /// Always linear, stretched to 0 when `includeZero`.
        case linear(includeZero: Bool)
    }

    /// How the x axis is drawn.
    package enum XScale: Sendable, Equatable {
        /// Linear from 0 (or the smallest x when negative), ticks at 1, 2 or 5 times a power of ten.
        case linear
        /// Logarithmic base 2 over the data's range (x > 0), ticks at the powers of two: counts of
        /// ranks or cores.
        case log2
    }

    package var title: String
    /// A smaller second line under the title (e.g. what the lines and bands show).
    package var subtitle: String?
    package var xLabel: String
    package var yLabel: String
    package var series: [Series]
    package var width: Double = 760
    package var height: Double = 500
    package var yScale: YScale = .automatic
    package var xScale: XScale = .linear
    /// Smallest value the log axis shows; smaller values (and values ≤ 0) are drawn at the axis floor.
    package var floor: Double = 1e-12
    /// Largest value the axis shows, if set; larger values are drawn at the top edge, so that a
    /// diverging run does not squash the others.
    package var ceiling: Double? = nil
    /// The data range the y axis is chosen for (default: the data's own), e.g. to give several
    /// panels one axis. Values outside are drawn at the axis ends.
    package var yRange: ClosedRange<Double>? = nil
    /// The right end of the x axis (default: the largest x); the left end is 0 (or the smallest x
    /// when that is negative).
    package var xMax: Double? = nil
    /// Opacity of the shaded bands (0 hides them).
    package var bandOpacity: Double = 0.12
    /// The caller's notes, printed under the plot after the axis's own (values drawn at its edges).
    package var notes: [String] = []
    package var titleFontSize: Double = 17

    /// A series of more points than this is drawn thinned (`drawnIndices`); up to it, every point.
    package static let thinningThreshold = 4000
    /// Stretches of a thinned series whose x positions are not in ascending order (none of this
    /// package's plots): more than a plot has pixel columns (760 px wide by default).
    package static let thinningStretches = 1000

    /// The indices of `values` to draw, ascending: every index up to `thinningThreshold` values.
    /// A longer series is cut into stretches, the points of one pixel column each (`positions`:
    /// the points' x positions in the document, when ascending; else `thinningStretches` runs of
    /// consecutive points), and each stretch keeps its first and last point, its lowest and
    /// highest as drawn (NaN and +∞ at the top edge, −∞ at the bottom) and, where non-finite
    /// values are gaps, its first and last gap, so that the line still breaks there. Every pixel
    /// column then shows the line's full extent, a single spike included, with at most 4 points
    /// per column (6 with gaps): an evaluation of 2^20 steps drew a 90 MB file.
    package static func drawnIndices(_ values: [Double], gapsAtNonFinite: Bool, positions: [Double]? = nil) -> [Int] {
        let n = values.count
        guard n > thinningThreshold else { return Array(0..<n) }
        // Where each stretch begins, and the end.
        var starts: [Int] = []
        if let positions, positions.count == n, positions.allSatisfy(\.isFinite),
           zip(positions, positions.dropFirst()).allSatisfy({ $0 <= $1 }) {
            var column = Double.nan
            for (j, x) in positions.enumerated() where x.rounded(.down) != column {
                column = x.rounded(.down)
                starts.append(j)
            }
        } else {
            starts = (0..<thinningStretches).map { $0 * n / thinningStretches }
        }
        starts.append(n)
        func height(_ v: Double) -> Double { v.isNaN ? .infinity : v }
        var kept: [Int] = []
        kept.reserveCapacity(6 * starts.count)
        for (from, to) in zip(starts, starts.dropFirst()) {
            var lowest: Int? = nil, highest: Int? = nil, firstGap: Int? = nil, lastGap: Int? = nil
            for j in from..<to {
                let v = values[j]
                if gapsAtNonFinite && !v.isFinite {
                    if firstGap == nil { firstGap = j }
                    lastGap = j
                    continue
                }
                if lowest.map({ height(v) < height(values[$0]) }) ?? true { lowest = j }
                if highest.map({ height(v) > height(values[$0]) }) ?? true { highest = j }
            }
            kept += Set([from, to - 1, lowest, highest, firstGap, lastGap].compactMap { $0 }).sorted()
        }
        return kept
    }

    /// The indices `drawnIndices` picks for one series' line and markers and its band's edges.
    struct DrawnPoints {
        var line: [Int]
        var upper: [Int]
        var lower: [Int]
        init(_ s: Series, xAxis: XAxis) {
            // Only a series that will be thinned needs its positions.
            let long = [s.values.count, s.upper?.count ?? 0, s.lower?.count ?? 0].max()! > SVGPlot.thinningThreshold
            let positions = long ? s.values.indices.map { xAxis.position(s.xValue($0)) } : nil
            line = SVGPlot.drawnIndices(s.values, gapsAtNonFinite: s.gapsAtNonFinite, positions: positions)
            upper = s.upper.map { SVGPlot.drawnIndices($0, gapsAtNonFinite: false, positions: positions) } ?? []
            lower = s.lower.map { SVGPlot.drawnIndices($0, gapsAtNonFinite: false, positions: positions) } ?? []
        }
    }

    /// Where x values are drawn: the same for every placement of the legend.
    struct XAxis {
        var left: Double, right: Double
        var isLog2: Bool
        /// The ends of the axis in the coordinate it is linear in (log2 x for `.log2`).
        var minX: Double, maxX: Double
        /// The coordinate the axis is linear in.
        func axisX(_ x: Double) -> Double { isLog2 ? Foundation.log2(x) : x }
        func position(_ x: Double) -> Double { left + (axisX(x) - minX) / (maxX - minX) * (right - left) }
    }

    func xAxis() -> XAxis {
        var axis = XAxis(left: 84, right: width - 24, isLog2: xScale == .log2, minX: 0, maxX: 1)
        let allX = series.flatMap { s in s.values.indices.map { axis.axisX(s.xValue($0)) } }.filter(\.isFinite)
        axis.minX = axis.isLog2 ? (allX.min() ?? 0) : min(0, allX.min() ?? 0)
        axis.maxX = max(axis.minX + 1, xMax.map(axis.axisX) ?? allX.max() ?? 1)
        return axis
    }

    /// Line colours in series order (Matplotlib's "tab10", distinct and colour-blind tolerant);
    /// repeated with a dash pattern after ten series.
    package static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    package init(title: String, subtitle: String? = nil, xLabel: String = "Step", yLabel: String = "Loss",
                series: [Series]) {
        self.title = title
        self.subtitle = subtitle
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    package func write(to url: URL) throws {
        try ResultFile.writeAtomically(render(), to: url)
    }

    /// The SVG document.
    package func render() -> String {
        SVGPlot.documentHeader(width: width, height: height) + body() + "</svg>\n"
    }

    static func documentHeader(width: Double, height: Double) -> String {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" \
        viewBox="0 0 \(f(width)) \(f(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">
        <rect x="0" y="0" width="\(f(width))" height="\(f(height))" fill="white"/>

        """
    }

    /// The y axis this plot draws, and the clipping it needs.
    struct YAxis {
        var ticks: AxisTicks
        var floorValue: Double
        var ceilingValue: Double
        var clippedLow = false, clippedNonFinite = false, clippedAbove = false
    }

    /// Data beyond ±1e60 is drawn at the axis's edge (above: at the top, with the note), and a log
    /// axis reaches down to 1e-60 at most: past these, the ticks' powers of ten and the headroom's
    /// stretch would leave Double's range (an axis from 1 to 1e250 stretched by half its decades).
    /// No loss, norm or time of a run comes near them; a damaged or hand-edited file might.
    static let largestMagnitude = 1e60

    /// `headroom`: the share of the plot's height to keep free above the data.
    func yAxis(plotHeight: Double, headroom: Double = 0) -> YAxis {
        let largest = Self.largestMagnitude
        let floorValue = floor > 0 && floor.isFinite ? max(floor, 1 / largest) : 1e-12
        let ceilingValue = min(ceiling.flatMap { $0 > floorValue ? $0 : nil } ?? .infinity, largest)
        var lowest = Double.infinity, highest = -Double.infinity, lowestPositive = Double.infinity
        var clippedNonFinite = false, clippedAbove = false, nonPositive = false
        for s in series {
            for v in s.values + (s.lower ?? []) + (s.upper ?? []) {
                if !v.isFinite {
                    if v == -.infinity { nonPositive = true } else if !s.gapsAtNonFinite { clippedNonFinite = true }
                    continue
                }
                if v > ceilingValue { clippedAbove = true }
                let c = max(min(v, ceilingValue), -largest)
                lowest = min(lowest, c)
                highest = max(highest, c)
                if c > 0 { lowestPositive = min(lowestPositive, c) } else { nonPositive = true }
            }
        }
        if let yRange {
            lowest = min(max(yRange.lowerBound, -largest), largest)
            highest = min(max(yRange.upperBound, -largest), largest)
            lowestPositive = lowest > 0 ? lowest : lowestPositive
        }
        let maxLabels = max(3, Int(plotHeight / 40))
        let useLog: Bool
        switch yScale {
        case .log: useLog = true
        case .linear: useLog = false
        case .automatic:
            // Log when the positive values span a large range (values ≤ 0 are then clipped).
            useLog = lowestPositive.isFinite && highest / lowestPositive >= AxisTicks.linearBelowRatio
        }
        var axis = YAxis(ticks: AxisTicks.linear(lowest: 0, highest: 1), floorValue: floorValue, ceilingValue: ceilingValue,
                         clippedNonFinite: clippedNonFinite, clippedAbove: clippedAbove)
        // The data then fills 1 − headroom of the height: its span grows by 1 / (1 − headroom).
        let stretch = headroom > 0 && headroom < 1 ? headroom / (1 - headroom) : 0
        if useLog {
            var lo = lowestPositive, hi = highest
            if !lo.isFinite || !hi.isFinite || hi <= 0 { (lo, hi) = (1, 10) }
            // Values at or below the floor (zero, negative) stretch the axis down to the floor.
            if lo < floorValue || nonPositive {
                axis.clippedLow = true
                lo = floorValue
            }
            hi = max(hi, lo)
            hi *= pow(max(hi / lo, 2), stretch)
            axis.ticks = AxisTicks.logarithmic(lowest: lo, highest: hi, maxLabels: maxLabels)
        } else {
            var lo = lowest, hi = highest
            if !lo.isFinite || !hi.isFinite { (lo, hi) = (0, 1) }
            hi += max(hi - lo, abs(hi) * 0.1) * stretch
            if case .linear(true) = yScale { axis.ticks = AxisTicks.linear(lowest: lo, highest: hi, includeZero: true, maxLabels: maxLabels) } else {
                axis.ticks = AxisTicks.linear(lowest: lo, highest: hi, maxLabels: maxLabels)
            }
        }
        return axis
    }

    /// The plot's elements in its own coordinates (0 … width, 0 … height), without the document
    /// wrapper: what `SVGFigure` places as a panel.
    ///
    /// The legend goes inside the plot area where it covers none of the lines; when every place
    /// there would cover some, the y axis is stretched upwards, in steps of a tenth of the plot's
    /// height up to 60 %, until there is room above the data (not when values are drawn at the top
    /// edge), and failing that the legend goes under the axes, in rows, and the plot area shrinks.
    func body() -> String {
        let x = xAxis()
        let drawn = series.map { DrawnPoints($0, xAxis: x) }
        for headroom in [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6] {
            if let inside = body(legendBelow: false, headroom: headroom, xAxis: x, drawn: drawn) { return inside }
        }
        return body(legendBelow: true, headroom: 0, xAxis: x, drawn: drawn)!
    }

    /// nil when the legend was to go inside (`legendBelow` false) but would cover a line, or
    /// when the plot was to keep `headroom` (a share of its height) free above the data but draws
    /// values at the top edge. `drawn`: the points to draw of each series.
    private func body(legendBelow: Bool, headroom: Double, xAxis: XAxis, drawn: [DrawnPoints]) -> String? {
        // Layout.
        let left = xAxis.left, right = xAxis.right
        let titleY = titleFontSize + 11
        let top = subtitle == nil ? titleY + 24 : titleY + 40
        let listed = series.indices.filter { series[$0].inLegend }
        // Under the axes: entries flow left to right in rows of 20 px under the x axis title.
        let entryWidths = listed.map { 50 + 8 * Double(series[$0].name.count) }
        var belowRows: [[Int]] = []
        if legendBelow {
            var rowWidth = Double.infinity
            for (k, w) in entryWidths.enumerated() {
                if rowWidth + w > right - left { belowRows.append([]); rowWidth = 0 }
                belowRows[belowRows.count - 1].append(k)
                rowWidth += w
            }
        }
        let bottom = height - 72.0 - 20 * Double(belowRows.count)
        let plotW = right - left, plotH = bottom - top

        let y = yAxis(plotHeight: plotH, headroom: headroom)
        if headroom > 0 && (y.clippedAbove || y.clippedNonFinite) { return nil }
        let ticks = y.ticks
        let isLog = ticks.scale == .log
        /// Position of a value on the axis (ticks), no clipping.
        func axisY(_ v: Double) -> Double {
            if isLog { return top + (log10(ticks.upper) - log10(v)) / (log10(ticks.upper) - log10(ticks.lower)) * plotH }
            return top + (ticks.upper - v) / (ticks.upper - ticks.lower) * plotH
        }
        /// Position of a data value, clipped as documented.
        func yPos(_ v: Double) -> Double {
            if v.isNaN || v > y.ceilingValue || v == .infinity { return top }
            return axisY(min(max(v, ticks.lower), ticks.upper))
        }
        let isLog2 = xAxis.isLog2
        let minX = xAxis.minX, maxX = xAxis.maxX
        func xPos(_ x: Double) -> Double { xAxis.position(x) }

        var svg = ""
        svg += "<text x=\"\(f(width / 2))\" y=\"\(f(titleY))\" text-anchor=\"middle\" font-size=\"\(f(titleFontSize))\" font-weight=\"bold\">\(escaped(title))</text>\n"
        if let subtitle {
            svg += "<text x=\"\(f(width / 2))\" y=\"\(f(titleY + 20))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#444444\">\(escaped(subtitle))</text>\n"
        }

        // Grid and ticks.
        svg += "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n"
        var yTicks = ""
        for v in ticks.labelled {
            let py = axisY(v)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(py))\" x2=\"\(f(right))\" y2=\"\(f(py))\"/>\n"
            yTicks += "<line x1=\"\(f(left - 6))\" y1=\"\(f(py))\" x2=\"\(f(left))\" y2=\"\(f(py))\" stroke=\"black\"/>\n"
            let label = ticks.label(v)
            let exponent = label.exponent.map { "<tspan dy=\"-7\" font-size=\"10\">\($0)</tspan>" } ?? ""
            yTicks += "<text x=\"\(f(left - 10))\" y=\"\(f(py + 5))\" text-anchor=\"end\">\(escaped(label.text))\(exponent)</text>\n"
        }
        for v in ticks.minor {
            let py = axisY(v)
            // Faint grid lines at the minor ticks of a 1-2-5 axis, so that values can be read off.
            if ticks.logStyle == .oneTwoFive {
                svg += "<line x1=\"\(f(left))\" y1=\"\(f(py))\" x2=\"\(f(right))\" y2=\"\(f(py))\" stroke=\"#f0f0f0\"/>\n"
            }
            yTicks += "<line x1=\"\(f(left - 3))\" y1=\"\(f(py))\" x2=\"\(f(left))\" y2=\"\(f(py))\" stroke=\"black\"/>\n"
        }
        let xStep = isLog2 ? 1 : Self.niceStep((maxX - minX) / max(2, (plotW / 70).rounded()))
        var xTicks = ""
        var tick = (minX / xStep).rounded(.up) * xStep
        while tick <= maxX + 1e-9 {
            let value = isLog2 ? Foundation.pow(2, tick) : tick
            let px = xPos(value)
            svg += "<line x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(bottom))\"/>\n"
            xTicks += "<line x1=\"\(f(px))\" y1=\"\(f(bottom))\" x2=\"\(f(px))\" y2=\"\(f(bottom + 6))\" stroke=\"black\"/>\n"
            // Whole thousands as "20k" once the axis reaches 10 000, so that labels stay short.
            let label = !isLog2 && maxX >= 10_000 && tick.truncatingRemainder(dividingBy: 1000) == 0 && tick != 0 ? "\(Int(tick) / 1000)k"
                : value == value.rounded() ? String(Int(value)) : String(format: "%g", value)
            xTicks += "<text x=\"\(f(px))\" y=\"\(f(bottom + 22))\" text-anchor=\"middle\">\(label)</text>\n"
            tick += xStep
        }
        svg += "</g>\n"

        // Bands, then lines on top, then markers.
        svg += "<g class=\"bands\">\n"
        for (i, s) in series.enumerated() {
            guard let lower = s.lower, let upper = s.upper, !s.values.isEmpty, bandOpacity > 0 else { continue }
            var points: [String] = []
            for j in drawn[i].upper { points.append("\(f(xPos(s.xValue(j)))),\(f(yPos(upper[j])))") }
            for j in drawn[i].lower.reversed() { points.append("\(f(xPos(s.xValue(j)))),\(f(yPos(lower[j])))") }
            svg += "<polygon points=\"\(points.joined(separator: " "))\" fill=\"\(color(s, i))\" fill-opacity=\"\(f(bandOpacity))\" stroke=\"none\"/>\n"
        }
        svg += "</g>\n<g class=\"lines\" fill=\"none\" stroke-linejoin=\"round\">\n"
        for (i, s) in series.enumerated() where s.line {
            var d = ""
            var pen = false
            for j in drawn[i].line {
                let v = s.values[j]
                if s.gapsAtNonFinite && !v.isFinite { pen = false; continue }
                d += (d.isEmpty ? "" : " ") + (pen ? "L" : "M") + "\(f(xPos(s.xValue(j)))),\(f(yPos(v)))"
                pen = true
            }
            let opacity = s.opacity < 1 ? " stroke-opacity=\"\(f(s.opacity))\"" : ""
            svg += "<path data-series=\"\(escaped(s.name))\" d=\"\(d)\" stroke=\"\(color(s, i))\" stroke-width=\"\(f(s.lineWidth))\"\(opacity)\(dash(s, i))/>\n"
        }
        svg += "</g>\n"
        if series.contains(where: \.markers) {
            svg += "<g class=\"markers\">\n"
            for (i, s) in series.enumerated() where s.markers {
                for j in drawn[i].line where !(s.gapsAtNonFinite && !s.values[j].isFinite) {
                    let v = s.values[j]
                    svg += "<circle data-series=\"\(escaped(s.name))\" cx=\"\(f(xPos(s.xValue(j))))\" cy=\"\(f(yPos(v)))\" r=\"\(f(s.markerRadius))\" fill=\"\(color(s, i))\" fill-opacity=\"\(f(s.opacity))\"/>\n"
                }
            }
            svg += "</g>\n"
        }

        // Axes frame, ticks, labels.
        svg += "<g class=\"axes\">\n"
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"black\"/>\n"
        svg += yTicks + xTicks
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(bottom + 44))\" text-anchor=\"middle\" font-size=\"14\">\(escaped(xLabel))\(isLog2 ? " (log scale)" : "")</text>\n"
        svg += "<text transform=\"translate(22,\(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">\(escaped(yLabel))\(isLog ? " (log scale)" : "")</text>\n"
        var notes: [String] = []
        if y.clippedLow { notes.append("values below \(Self.compact(ticks.lower)) drawn at the bottom edge") }
        if y.clippedAbove {
            notes.append("values above \(Self.compact(y.ceilingValue))\(y.clippedNonFinite ? " and diverged (non-finite) values" : "") drawn at the top edge")
        } else if y.clippedNonFinite {
            notes.append("diverged (non-finite) values drawn at the top edge")
        }
        notes += self.notes
        if !notes.isEmpty {
            svg += "<text class=\"note\" x=\"\(f(width - 8))\" y=\"\(f(height - 8))\" text-anchor=\"end\" font-size=\"11\" fill=\"#666666\">Note: \(escaped(notes.joined(separator: "; ")))</text>\n"
        }
        svg += "</g>\n"

        // Legend inside the plot area, where it covers none of the lines (points sampled every
        // 3 px along them): one of the corners or the middles of the top and bottom edges
        // (preference: top right, bottom left, top left, bottom right, top, bottom).
        func legendKey(_ s: Series, _ i: Int, x: Double, y ry: Double) -> String {
            var key = ""
            if s.line {
                let opacity = s.opacity < 1 ? " stroke-opacity=\"\(f(max(s.opacity, 0.4)))\"" : ""
                key += "<line x1=\"\(f(x + 8))\" y1=\"\(f(ry))\" x2=\"\(f(x + 34))\" y2=\"\(f(ry))\" stroke=\"\(color(s, i))\" stroke-width=\"\(f(s.lineWidth + 0.5))\"\(opacity)\(dash(s, i))/>\n"
            }
            if s.markers {
                key += "<circle cx=\"\(f(x + 21))\" cy=\"\(f(ry))\" r=\"\(f(s.markerRadius))\" fill=\"\(color(s, i))\"/>\n"
            }
            return key + "<text x=\"\(f(x + 40))\" y=\"\(f(ry + 4.5))\">\(escaped(s.name))</text>\n"
        }
        if legendBelow {
            svg += "<g class=\"legend\">\n"
            for (r, row) in belowRows.enumerated() {
                let rowWidth = row.map { entryWidths[$0] }.reduce(0, +)
                var x = left + (plotW - rowWidth) / 2
                for k in row {
                    svg += legendKey(series[listed[k]], listed[k], x: x, y: bottom + 64 + 20 * Double(r))
                    x += entryWidths[k]
                }
            }
            svg += "</g>\n"
        } else if !listed.isEmpty {
            let longest = listed.map { series[$0].name.count }.max() ?? 0
            let legendW = 50 + 8 * Double(longest), rowH = 20.0
            let legendH = 10 + rowH * Double(listed.count)
            let middle = left + (plotW - legendW) / 2
            let corners = [(right - legendW - 10, top + 10), (left + 10, bottom - legendH - 10),
                           (left + 10, top + 10), (right - legendW - 10, bottom - legendH - 10),
                           (middle, top + 10), (middle, bottom - legendH - 10)]
            var points: [(Double, Double)] = []
            for (s, d) in zip(series, drawn) {
                var previous: (Double, Double)? = nil
                for j in d.line {
                    let v = s.values[j]
                    if s.gapsAtNonFinite && !v.isFinite { previous = nil; continue }
                    let p = (xPos(s.xValue(j)), yPos(v))
                    if s.line, let q = previous {
                        let n = max(1, Int((hypot(p.0 - q.0, p.1 - q.1) / 3).rounded(.up)))
                        for k in 1..<n { points.append((q.0 + (p.0 - q.0) * Double(k) / Double(n), q.1 + (p.1 - q.1) * Double(k) / Double(n))) }
                    }
                    points.append(p)
                    previous = p
                }
            }
            let covered = corners.map { c in
                points.filter { $0.0 >= c.0 - 4 && $0.0 <= c.0 + legendW + 4 && $0.1 >= c.1 - 4 && $0.1 <= c.1 + legendH + 4 }.count
            }
            guard let best = covered.indices.first(where: { covered[$0] == 0 }) else { return nil }
            let (lx, ly) = corners[best]
            svg += "<g class=\"legend\">\n"
            svg += "<rect x=\"\(f(lx))\" y=\"\(f(ly))\" width=\"\(f(legendW))\" height=\"\(f(legendH))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999999\"/>\n"
            for (row, i) in listed.enumerated() {
                svg += legendKey(series[i], i, x: lx, y: ly + 5 + rowH * (Double(row) + 0.5))
            }
            svg += "</g>\n"
        }
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

    private func color(_ s: Series, _ i: Int) -> String { Self.palette[(s.colorIndex ?? i) % Self.palette.count] }
    private func dash(_ s: Series, _ i: Int) -> String { (s.colorIndex ?? i) < Self.palette.count ? "" : " stroke-dasharray=\"6 3\"" }
    private func f(_ x: Double) -> String { String(format: "%.2f", x) }

    /// Escapes text for XML content and attribute values.
    static func escaped(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            // Characters XML 1.0 does not allow, even escaped (control characters other than tab,
            // newline and return; U+FFFE, U+FFFF): a title with one made the file unreadable.
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF: out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
    private func escaped(_ s: String) -> String { Self.escaped(s) }
}

/// Several `SVGPlot`s as panels of one SVG document, in a grid of `columns` columns (row by
/// row), under a figure title: the paper's side-by-side figures, and `plot`'s training figure.
/// Every panel is drawn at `panelWidth` × `panelHeight` (its own width and height are ignored).
package struct SVGFigure: Sendable {
    package var title: String
    package var subtitle: String?
    package var panels: [SVGPlot]
    package var columns: Int
    package var panelWidth: Double = 560
    package var panelHeight: Double = 390
    /// Font size of the panels' titles.
    package var panelTitleFontSize: Double = 15

    package init(title: String, subtitle: String? = nil, panels: [SVGPlot], columns: Int) {
        self.title = title
        self.subtitle = subtitle
        self.panels = panels
        // More columns than panels are one row (and a huge count must not overflow `rows`).
        self.columns = max(1, min(columns, max(1, panels.count)))
    }

    package var rows: Int { max(1, (panels.count + columns - 1) / columns) }
    var headerHeight: Double { subtitle == nil ? 44 : 62 }
    package var width: Double { panelWidth * Double(min(columns, max(1, panels.count))) }
    package var height: Double { headerHeight + panelHeight * Double(rows) }

    package func render() -> String {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        var svg = SVGPlot.documentHeader(width: width, height: height)
        svg += "<text x=\"\(f(width / 2))\" y=\"28\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">\(SVGPlot.escaped(title))</text>\n"
        if let subtitle {
            svg += "<text x=\"\(f(width / 2))\" y=\"48\" text-anchor=\"middle\" font-size=\"12\" fill=\"#444444\">\(SVGPlot.escaped(subtitle))</text>\n"
        }
        for (i, panel) in panels.enumerated() {
            var p = panel
            p.width = panelWidth
            p.height = panelHeight
            p.titleFontSize = panelTitleFontSize
            let x = Double(i % columns) * panelWidth, y = headerHeight + Double(i / columns) * panelHeight
            svg += "<g class=\"panel\" transform=\"translate(\(f(x)),\(f(y)))\">\n" + p.body() + "</g>\n"
        }
        return svg + "</svg>\n"
    }

    package func write(to url: URL) throws {
        try ResultFile.writeAtomically(render(), to: url)
    }
}

extension EvaluationReport {
    /// The paper-style plot of this evaluation: per optimizer the mean loss across functions at
    /// every step (line; the paper plots means too) and, if `bands`, the 25th–75th percentile
    /// across functions as a shaded band. The subtitle states what is drawn; baselines' legend
    /// entries carry their learning rate.
    package func plot(title: String = "Loss on evaluation functions", bands: Bool = true) -> SVGPlot {
        let series = curves.map { c -> SVGPlot.Series in
            let stats = statistics(of: c)
            var name = c.name
            if let lr = c.learningRate { name += " (lr \(String(format: "%g", lr)))" }
            return SVGPlot.Series(name: name, values: stats.map(\.mean),
                                  lower: bands ? stats.map(\.q25) : nil, upper: bands ? stats.map(\.q75) : nil)
        }
        let subtitle = "Lines: mean over \(functionCount) function\(functionCount == 1 ? "" : "s")"
            + (bands ? "; shaded: 25th\u{2013}75th percentile" : "")
        var plot = SVGPlot(title: title, subtitle: subtitle, xLabel: "Step", yLabel: "Loss", series: series)
        // The axis reaches at most the power of ten at or above 1000 times the largest mean initial loss (divergence drawn at the top).
        let initial = curves.map { statistics(of: $0)[0].mean }.filter { $0.isFinite && $0 > 0 }
        if let start = initial.max() { plot.ceiling = pow(10, log10(1000 * start).rounded(.up)) }
        return plot
    }

    package func writePlot(to url: URL, title: String = "Loss on evaluation functions", bands: Bool = true) throws {
        try plot(title: title, bands: bands).write(to: url)
    }
}
