import Foundation

/// The figure `metaopt-dist plot` (and `train`'s live RUN_DIR/plot.svg) draws from training logs:
/// panels of meta-loss, validation score, meta-gradient norm and time per meta-step against
/// meta-steps, one run or several overlaid.
///
/// * **Meta-loss** and **meta-gradient norm**: every meta-step as a faint line, and over it a
///   centred *moving median* over `smoothingWindow` meta-steps (shorter at both ends, where fewer
///   steps exist). A median, not a mean, so that single bad steps do not pull the curve; the window
///   is a whole number of horizons, because the meta-loss of the first truncation of a horizon is
///   larger than that of the later ones, and about 1/30 of the run, at least 5 meta-steps.
///   Skipped steps (non-finite loss) leave gaps, counted in a note under the panel.
/// * **Validation** (when a run has validation.jsonl): the mean final loss at each validation,
///   with a ring around the best one (the φ of best-optimizer.json).
/// * **Time per meta-step** (seconds on a linear axis from 0, moving medians, same window): the
///   compute time, mean over ranks as a line and fastest to slowest rank as a shaded band, rank
///   0's wait for the slowest rank, and the allreduce. With several runs one such panel per run,
///   all on one y axis.
///
/// One run: two panels per row. Several runs: meta-loss, validation and gradient norm in the first
/// row, the runs' timing panels side by side in the next row(s). Each run has one colour in every
/// panel and its directory name in the legends.
/// Long runs are thinned for drawing: a faint series keeps the lowest and highest value of each of
/// about 600 stretches, and a moving median is evaluated at about 600 points.
package enum TrainingFigure {
    /// The figure for `runs` (at least one).
    package static func make(_ runs: [TrainingLog], title: String? = nil) -> SVGFigure {
        let several = runs.count > 1
        let longest = runs.map(\.steps.count).max() ?? 0
        let period = (runs.flatMap { $0.steps.compactMap(\.truncation) }.max() ?? 0) + 1
        let window = smoothingWindow(stepCount: longest, period: period)
        let lastStep = runs.flatMap { $0.steps.map(\.iteration) + ($0.validation ?? []).map(\.iteration) }.max() ?? 1
        let xMax = Double(max(1, lastStep))
        let smoothing = "centred moving median over \(window) meta-steps"

        func noisyPanel(title: String, yLabel: String, value: (TrainingLog.Step) -> Double?) -> SVGPlot {
            var series: [SVGPlot.Series] = []
            for (r, run) in runs.enumerated() {
                let x = run.steps.map { Double($0.iteration) }
                let y = run.steps.map(value)
                let raw = envelope(x: x, y: y, maxPoints: 1200)
                var faint = SVGPlot.Series(name: several ? "\(run.name), every meta-step" : "every meta-step",
                                           values: raw.y, x: raw.x)
                faint.colorIndex = r
                faint.lineWidth = 1
                faint.opacity = several ? 0.2 : 0.3
                faint.gapsAtNonFinite = true
                faint.inLegend = !several
                let median = movingMedian(x: x, y: y, window: window, maxPoints: 600)
                var smooth = SVGPlot.Series(name: several ? run.name : "moving median (\(window) meta-steps)",
                                            values: median.y, x: median.x)
                smooth.colorIndex = r
                smooth.gapsAtNonFinite = true
                series += [faint, smooth]
            }
            var plot = SVGPlot(title: title, subtitle: "faint: every meta-step; bold: \(smoothing)",
                               xLabel: "Meta-step", yLabel: yLabel, series: series)
            plot.xMax = xMax
            // Gaps alone would not tell a run with skipped steps from a short one.
            let steps = runs.map(\.steps.count).reduce(0, +)
            let gaps = runs.map { $0.steps.filter { value($0).map { !$0.isFinite } ?? true }.count }.reduce(0, +)
            if gaps == steps && steps > 0 {
                plot.notes.append("no meta-step has a finite value (all \(steps) skipped); the axis is arbitrary")
            } else if gaps > 0 {
                plot.notes.append("\(gaps) skipped meta-step\(gaps == 1 ? "" : "s") (non-finite) left as gaps")
            }
            return plot
        }

        var panels: [SVGPlot] = []
        panels.append(noisyPanel(title: "Meta-loss", yLabel: "Meta-loss", value: \.metaLoss))
        if runs.contains(where: { $0.validation != nil }) {
            var series: [SVGPlot.Series] = []
            var best: [SVGPlot.Series] = []
            for (r, run) in runs.enumerated() {
                guard let validation = run.validation, !validation.isEmpty else { continue }
                var s = SVGPlot.Series(name: several ? run.name : "mean final loss",
                                       values: validation.map { $0.meanFinalLoss ?? .infinity },
                                       x: validation.map { Double($0.iteration) })
                s.colorIndex = r
                s.markers = true
                series.append(s)
                if let b = validation.filter({ $0.meanFinalLoss != nil }).min(by: { $0.meanFinalLoss! < $1.meanFinalLoss! }) {
                    var ring = SVGPlot.Series(name: several ? "\(run.name), best" : "best (best-optimizer.json)",
                                              values: [b.meanFinalLoss!], x: [Double(b.iteration)])
                    ring.colorIndex = r
                    ring.line = false
                    ring.markers = true
                    ring.markerRadius = 7
                    ring.opacity = 0.35
                    ring.inLegend = !several
                    best.append(ring)
                }
            }
            let subtitle = series.isEmpty ? "no validation yet" : "mean final loss of φ on the validation functions; ring: the best"
            var plot = SVGPlot(title: "Validation", subtitle: subtitle, xLabel: "Meta-step", yLabel: "Mean final loss",
                               series: series + best)
            plot.xMax = xMax
            panels.append(plot)
        }
        panels.append(noisyPanel(title: "Meta-gradient norm", yLabel: "Gradient norm", value: \.gradientNorm))

        // Time per meta-step: one panel per run, on a shared axis.
        var timingPanels: [SVGPlot] = []
        for run in runs {
            let x = run.steps.map { Double($0.iteration) }
            func median(_ value: (TrainingLog.Step) -> Double?) -> (x: [Double], y: [Double]) {
                movingMedian(x: x, y: run.steps.map(value), window: window, maxPoints: 600)
            }
            let mean = median(\.computeMean)
            var compute = SVGPlot.Series(name: "compute (mean of ranks)", values: mean.y,
                                         lower: median(\.computeMin).y, upper: median(\.computeMax).y, x: mean.x)
            compute.colorIndex = 0
            compute.gapsAtNonFinite = true
            var series = [compute]
            let others: [(String, KeyPath<TrainingLog.Step, Double?>)] = [("wait (rank 0)", \.wait), ("allreduce", \.allreduce)]
            for (k, (name, key)) in others.enumerated() {
                let m = median { $0[keyPath: key] }
                var s = SVGPlot.Series(name: name, values: m.y, x: m.x)
                s.colorIndex = k + 1
                s.gapsAtNonFinite = true
                s.lineWidth = 1.5
                series.append(s)
            }
            var plot = SVGPlot(title: several ? "Time per meta-step: \(run.name)" : "Time per meta-step",
                               subtitle: "moving medians (\(window) meta-steps); shaded: fastest to slowest rank",
                               xLabel: "Meta-step", yLabel: "Seconds", series: series)
            plot.xMax = xMax
            // Linear from 0: heights compare as shares of the meta-step's time.
            plot.yScale = .linear(includeZero: true)
            plot.bandOpacity = 0.25
            timingPanels.append(plot)
        }
        // One axis for all timing panels, from 0 to the largest drawn value, with room above the
        // data for the legend (3 rows) so that it does not need to be made per panel.
        let timingValues = timingPanels.flatMap { $0.series.flatMap { $0.values + ($0.lower ?? []) + ($0.upper ?? []) } }
        if let hi = timingValues.filter({ $0.isFinite }).max(), hi > 0 {
            for i in timingPanels.indices { timingPanels[i].yRange = 0...(hi * 1.6) }
        }
        let columns = several ? panels.count : 2
        panels += timingPanels

        let names = runs.map(\.name)
        let figureTitle = title ?? (several
            ? (names.joined(separator: ", ").count <= 70 ? "Training runs: \(names.joined(separator: ", "))" : "Training runs (\(runs.count))")
            : "Training run: \(names.first ?? "")")
        var subtitle = runs.map(summary).joined(separator: "; ")
        if subtitle.count > 160 { subtitle = String(subtitle.prefix(159)) + "…" }
        var figure = SVGFigure(title: figureTitle, subtitle: subtitle, panels: panels, columns: columns)
        figure.panelWidth = several ? 540 : 600
        figure.panelHeight = 400
        return figure
    }

    /// "NAME: 5000 meta-steps in 16m40s, best validation 0.571 at 4000".
    static func summary(_ run: TrainingLog) -> String {
        var s = "\(run.name): \(run.steps.count) meta-step\(run.steps.count == 1 ? "" : "s")"
        if let elapsed = trainingSeconds(run.steps) { s += " in \(formatDuration(elapsed))" }
        if let b = run.validation?.filter({ $0.meanFinalLoss != nil }).min(by: { $0.meanFinalLoss! < $1.meanFinalLoss! }) {
            s += ", best validation \(String(format: "%.4g", b.meanFinalLoss!)) at \(b.iteration)"
        }
        return s
    }

    /// The seconds the run trained, over all its processes: each resume starts its clock again
    /// (its first line carries the provenance), so the last `elapsed` of every process counts
    /// (the last line's alone gave the last process's time).
    static func trainingSeconds(_ steps: [TrainingLog.Step]) -> Double? {
        var total = 0.0, current: Double? = nil
        for step in steps {
            if step.provenance != nil {
                total += current ?? 0
                current = nil
            }
            if let elapsed = step.elapsed { current = elapsed }
        }
        return current.map { total + $0 } ?? (total > 0 ? total : nil)
    }

    /// The moving median's window for a run of `stepCount` meta-steps with `period` truncations per
    /// horizon: about stepCount / 30, at least 5, rounded up to a whole number of periods.
    package static func smoothingWindow(stepCount: Int, period: Int) -> Int {
        let p = max(1, period)
        let raw = max(5, (stepCount + 29) / 30)
        return (raw + p - 1) / p * p
    }

    /// A centred moving median of the non-nil values: at step index i, the median of the values
    /// at indices i − ⌊window/2⌋ ..< i − ⌊window/2⌋ + window that exist (fewer at both ends);
    /// evaluated at about `maxPoints` evenly spaced indices (always the first and the last). NaN
    /// where a window holds no value.
    package static func movingMedian(x: [Double], y: [Double?], window: Int, maxPoints: Int) -> (x: [Double], y: [Double]) {
        precondition(x.count == y.count)
        let n = y.count
        guard n > 0 else { return ([], []) }
        let w = max(1, window)
        let stride = max(1, n / max(1, maxPoints))
        var indices = Array(Swift.stride(from: 0, to: n, by: stride))
        if indices.last != n - 1 { indices.append(n - 1) }
        var outX: [Double] = [], outY: [Double] = []
        var buffer: [Double] = []
        for i in indices {
            let from = max(0, i - w / 2), to = min(n, i - w / 2 + w)
            buffer.removeAll(keepingCapacity: true)
            for j in from..<max(from, to) { if let v = y[j], v.isFinite { buffer.append(v) } }
            outX.append(x[i])
            outY.append(buffer.isEmpty ? .nan : median(&buffer))
        }
        return (outX, outY)
    }

    /// At most about `maxPoints` points of a long series for drawing: it is cut into maxPoints / 2
    /// stretches and each keeps its lowest and highest value (in their order), so that the drawn
    /// band of values is the true one. Missing values (nil, non-finite) become NaN (a gap); a
    /// series short enough is returned whole.
    package static func envelope(x: [Double], y: [Double?], maxPoints: Int) -> (x: [Double], y: [Double]) {
        precondition(x.count == y.count)
        let n = y.count
        let values = y.map { v -> Double in if let v, v.isFinite { return v } else { return .nan } }
        guard n > maxPoints, maxPoints >= 2 else { return (x, values) }
        let buckets = maxPoints / 2
        var outX: [Double] = [], outY: [Double] = []
        for b in 0..<buckets {
            let from = b * n / buckets, to = (b + 1) * n / buckets
            var lo: Int? = nil, hi: Int? = nil
            var gap = false
            for j in from..<to {
                let v = values[j]
                if v.isNaN { gap = true; continue }
                if lo == nil || v < values[lo!] { lo = j }
                if hi == nil || v > values[hi!] { hi = j }
            }
            guard let lo, let hi else { outX.append(x[from]); outY.append(.nan); continue }
            if gap && outY.last.map({ !$0.isNaN }) == true && values[from].isNaN { outX.append(x[from]); outY.append(.nan) }
            for j in lo == hi ? [lo] : [min(lo, hi), max(lo, hi)] {
                outX.append(x[j])
                outY.append(values[j])
            }
        }
        return (outX, outY)
    }
}
