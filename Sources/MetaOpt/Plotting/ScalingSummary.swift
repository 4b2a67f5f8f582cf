import Foundation

/// One (series, number of ranks) point of `ScalingSummary`, medians over repetitions.
package struct ScalingRow: Sendable {
    package var series: String
    package var np: Int
    package var metaBatch: Int, blockSize: Int, blocks: Int, dimension: Int, unroll: Int
    package var repetitions: Int, stepsPerRun: Int
    /// Seconds per meta-step and its parts (rank 0's wait and allreduce; compute over ranks).
    package var step: Double, computeMax: Double, computeMean: Double, computeMin: Double
    /// The fastest repetition's median meta-step: other work on a shared machine only adds time.
    package var stepBest: Double
    package var wait: Double, allreduce: Double, update: Double
    package var oversubscribed: Bool
    /// Optimizee steps per second: meta-batch × unroll / step.
    package var throughput: Double { Double(metaBatch * unroll) / step }
    package var throughputBest: Double { Double(metaBatch * unroll) / stepBest }
    package var speedup: Double = .nan
    package var efficiency: Double = .nan
    package var efficiencyBest: Double = .nan
}

package enum ScalingSummary {
    /// The median of the finite values (NaN when there is none).
    static func finiteMedian(_ values: [Double]) -> Double { median(values.filter(\.isFinite)) }

    package struct RunError: Error, CustomStringConvertible { package var description: String }

    /// The names in `runs` of the form SERIES.npN.rK, sorted, with the series and N.
    static func runNames(in runs: URL) throws -> [(name: String, series: String, np: Int)] {
        let pattern = try NSRegularExpression(pattern: #"^([A-Za-z0-9_-]+)\.np([0-9]+)\.r([0-9]+)$"#)
        return try FileManager.default.contentsOfDirectory(atPath: runs.path).sorted().compactMap { name in
            let range = NSRange(name.startIndex..., in: name)
            guard let m = pattern.firstMatch(in: name, range: range),
                  let seriesRange = Range(m.range(at: 1), in: name), let npRange = Range(m.range(at: 2), in: name),
                  let np = Int(name[npRange]) else { return nil }
            return (name, String(name[seriesRange]), np)
        }
    }

    /// The files `rows` reads: each run directory's optimizer.json and metrics.jsonl.
    package static func inputFiles(runs: URL) throws -> [URL] {
        try runNames(in: runs).flatMap { run in
            ["optimizer.json", "metrics.jsonl"].map { runs.appendingPathComponent(run.name).appendingPathComponent($0) }
        }
    }

    /// The rows of the run directories in `runs` named SERIES.npN.rK, sorted by series and N.
    package static func rows(runs: URL, warmup: Int, cores: Int) throws -> [ScalingRow] {
        var perRun: [String: [Int: [ScalingRow]]] = [:]
        for (name, series, np) in try runNames(in: runs) {
            guard np >= 1 else { throw RunError(description: "\(runs.appendingPathComponent(name).path): np0 names no rank count (SERIES.npN.rK with N ≥ 1)") }
            let dir = runs.appendingPathComponent(name)
            let file = try OptimizerFile.read(from: dir.appendingPathComponent("optimizer.json"))
            guard let config = file.training else { throw RunError(description: "\(dir.path): no training configuration") }
            let metrics = try readMetrics(dir.appendingPathComponent("metrics.jsonl"))
            guard metrics.count > warmup else {
                throw RunError(description: "\(dir.path): \(metrics.count) meta-steps, not more than the warm-up of \(warmup)")
            }
            func column(_ value: (TrainingLog.Step) -> Double?) -> [Double] { metrics[warmup...].map { value($0) ?? .nan } }
            // A step's time is the difference of consecutive elapsed times of one process: a
            // resumed run starts its clock again (its first line carries the provenance), which
            // gave negative step times, so the first step of a process is left out, as is one
            // after a gap in the meta-steps.
            let steps = (warmup..<metrics.count).map { i -> Double in
                guard metrics[i].iteration == metrics[i - 1].iteration + 1, metrics[i].provenance == nil else { return .nan }
                let step = (metrics[i].elapsed ?? .nan) - (metrics[i - 1].elapsed ?? .nan)
                return step >= 0 ? step : .nan
            }
            let row = ScalingRow(
                series: series, np: np, metaBatch: config.metaBatch, blockSize: config.blockSize,
                blocks: config.blockCount, dimension: try config.task.dimension(), unroll: config.unroll, repetitions: 1,
                stepsPerRun: steps.count, step: finiteMedian(steps), computeMax: finiteMedian(column(\.computeMax)),
                computeMean: finiteMedian(column(\.computeMean)), computeMin: finiteMedian(column(\.computeMin)),
                stepBest: finiteMedian(steps),
                wait: finiteMedian(column(\.wait)), allreduce: finiteMedian(column(\.allreduce)), update: finiteMedian(column(\.update)),
                oversubscribed: np > cores)
            perRun[row.series, default: [:]][np, default: []].append(row)
        }
        var rows: [ScalingRow] = []
        for series in perRun.keys.sorted() {
            var seriesRows: [ScalingRow] = []
            for (np, runs) in perRun[series]!.sorted(by: { $0.key < $1.key }) {
                guard Set(runs.map { "\($0.metaBatch)/\($0.blockSize)/\($0.dimension)/\($0.unroll)" }).count == 1 else {
                    throw RunError(description: "series \(series), \(np) ranks: repetitions with different configurations")
                }
                var row = runs[0]
                row.repetitions = runs.count
                row.stepsPerRun = runs.map(\.stepsPerRun).min()!
                row.step = finiteMedian(runs.map(\.step))
                row.stepBest = runs.map(\.step).min()!
                row.computeMax = finiteMedian(runs.map(\.computeMax))
                row.computeMean = finiteMedian(runs.map(\.computeMean))
                row.computeMin = finiteMedian(runs.map(\.computeMin))
                row.wait = finiteMedian(runs.map(\.wait))
                row.allreduce = finiteMedian(runs.map(\.allreduce))
                row.update = finiteMedian(runs.map(\.update))
                seriesRows.append(row)
            }
            if let base = seriesRows.first(where: { $0.np == 1 }) {
                for i in seriesRows.indices {
                    seriesRows[i].speedup = seriesRows[i].throughput / base.throughput
                    seriesRows[i].efficiency = seriesRows[i].speedup / Double(seriesRows[i].np)
                    seriesRows[i].efficiencyBest = seriesRows[i].throughputBest / base.throughputBest / Double(seriesRows[i].np)
                }
            }
            rows += seriesRows
        }
        return rows
    }

    static func readMetrics(_ url: URL) throws -> [TrainingLog.Step] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RunError(description: "\(url.path): missing")
        }
        return try TrainingLog.parseMetrics(data, source: url.path)
    }

    /// One line per row under a header, numbers to 6 significant digits (empty when not finite).
    package static func csv(_ rows: [ScalingRow]) -> String {
        var s = "series,np,meta_batch,block_size,blocks,dimension,unroll,repetitions,steps_per_run,step_s,step_best_s,compute_max_s,compute_mean_s,compute_min_s,wait_s,allreduce_s,update_s,throughput_task_steps_per_s,speedup,efficiency,efficiency_best,oversubscribed\n"
        for r in rows {
            let values: [String] = [
                r.series, "\(r.np)", "\(r.metaBatch)", "\(r.blockSize)", "\(r.blocks)", "\(r.dimension)", "\(r.unroll)",
                "\(r.repetitions)", "\(r.stepsPerRun)",
                g(r.step), g(r.stepBest), g(r.computeMax), g(r.computeMean), g(r.computeMin), g(r.wait), g(r.allreduce), g(r.update),
                g(r.throughput), g(r.speedup), g(r.efficiency), g(r.efficiencyBest), r.oversubscribed ? "1" : "0",
            ]
            s += values.joined(separator: ",") + "\n"
        }
        return s
    }

    private static func g(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "" }

    /// A Markdown table of the rows, with a footnote when some are oversubscribed.
    package static func markdown(_ rows: [ScalingRow]) -> String {
        var s = "| series | ranks | B | blocks | n | step (ms) | best step (ms) | compute max / min (ms) | wait (ms) | allreduce (ms) | update (ms) | throughput (task·steps/s) | speedup | efficiency | best efficiency |\n"
        s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in rows {
            func ms(_ x: Double) -> String { x.isFinite ? String(format: x < 1e-3 ? "%.3f" : "%.1f", x * 1e3) : "–" }
            let eff = r.efficiency.isFinite ? String(format: "%.2f", r.efficiency) : "–"
            let effBest = r.efficiencyBest.isFinite ? String(format: "%.2f", r.efficiencyBest) : "–"
            s += "| \(r.series) | \(r.np)\(r.oversubscribed ? "*" : "") | \(r.metaBatch) | \(r.blocks) | \(r.dimension) | \(ms(r.step)) | \(ms(r.stepBest)) | "
            s += "\(ms(r.computeMax)) / \(ms(r.computeMin)) | \(ms(r.wait)) | \(ms(r.allreduce)) | \(ms(r.update)) | "
            s += String(format: "%.0f", r.throughput) + " | " + (r.speedup.isFinite ? String(format: "%.2f", r.speedup) : "–")
            s += " | \(eff) | \(effBest) |\n"
        }
        if rows.contains(where: \.oversubscribed) {
            s += "\n\\* more ranks than cores (oversubscribed): these ranks share cores, so their speedup and efficiency say nothing about scaling.\n"
        }
        return s
    }

    // MARK: Figure

    /// Throughput and parallel efficiency against the number of ranks (both on a log₂ axis), one
    /// colour per series: the median over repetitions (line with markers), the fastest
    /// repetition (faint) and, for throughput, the ideal N × throughput(1) (thin).
    package static func figure(_ rows: [ScalingRow], title: String, subtitle: String?, cores: Int) -> SVGFigure {
        let series = Array(Set(rows.map(\.series))).sorted()
        var throughput: [SVGPlot.Series] = [], efficiency: [SVGPlot.Series] = []
        for (index, name) in series.enumerated() {
            let points = rows.filter { $0.series == name }.sorted { $0.np < $1.np }
            let first = points[0]
            let label = "\(name) (B=\(first.metaBatch)\(name.hasPrefix("weak") ? " at np=\(first.np), ∝ ranks" : ""), n=\(first.dimension))"
            let np = points.map { Double($0.np) }
            func line(_ label: String, _ values: [Double], main: Bool) -> SVGPlot.Series {
                var s = SVGPlot.Series(name: label, values: values, x: np)
                s.colorIndex = index
                s.gapsAtNonFinite = true
                s.markers = main
                s.inLegend = main
                if !main { s.lineWidth = 1.2; s.opacity = 0.4 }
                return s
            }
            throughput.append(line(label, points.map(\.throughput), main: true))
            efficiency.append(line(label, points.map(\.efficiency), main: true))
            if points.contains(where: { $0.repetitions > 1 }) {
                throughput.append(line("\(name) fastest", points.map(\.throughputBest), main: false))
                efficiency.append(line("\(name) fastest", points.map(\.efficiencyBest), main: false))
            }
            if let base = points.first(where: { $0.np == 1 }) {
                var ideal = line("\(name) ideal", points.map { base.throughput * Double($0.np) }, main: false)
                ideal.lineWidth = 1
                throughput.append(ideal)
            }
        }
        var left = SVGPlot(title: "Throughput", xLabel: "MPI ranks", yLabel: "throughput (task·steps/s)", series: throughput)
        left.yScale = .log
        left.xScale = .log2
        var right = SVGPlot(title: "Parallel efficiency", xLabel: "MPI ranks", yLabel: "efficiency", series: efficiency)
        right.yScale = .linear(includeZero: true)
        right.xScale = .log2
        var notes = ["lines: median over repetitions; faint: fastest repetition (other work on the machine only adds time); thin: ideal"]
        if rows.contains(where: \.oversubscribed) { notes.append("more than \(cores) ranks share cores (oversubscribed)") }
        return SVGFigure(title: title, subtitle: ([subtitle].compactMap { $0 } + notes).joined(separator: " · "),
                         panels: [left, right], columns: 2)
    }
}
