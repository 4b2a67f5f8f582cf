import ArgumentParser
import Foundation
import MetaOpt

/// Hidden: turns the runs of launch/scaling.sh into a CSV, a Markdown table and an SVG plot of
/// throughput and parallel efficiency against the number of ranks.
///
/// RUNS holds one run directory per job, named `SERIES.npN.rK` (series name, ranks, repetition),
/// each with the metrics.jsonl and optimizer.json that `train` writes. A meta-step's time is the
/// difference of consecutive `elapsed` values in metrics.jsonl (rank 0's wall clock: compute,
/// both allreduces, the Adam step and the bookkeeping); the first --warmup meta-steps of each
/// run are left out. Per run the medians are taken over its meta-steps, then per (series, N) the
/// median over repetitions. Throughput counts optimizee steps: meta-batch × unroll per meta-step.
/// Efficiency = throughput(N) / (N × throughput(1)) of the same series: speedup / N for a fixed
/// global meta-batch (strong scaling), throughput ratio / N for a fixed meta-batch per rank (weak).
struct ScalingPlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling-plot",
        abstract: "Summarise launch/scaling.sh runs: CSV, Markdown table and SVG plot.",
        shouldDisplay: false)

    @Option(help: "Directory of run directories named SERIES.npN.rK.")
    var runs: String

    @Option(help: "Meta-steps left out at the start of every run.")
    var warmup = 3

    @Option(help: "CSV to write.")
    var csv: String

    @Option(help: "SVG plot to write.")
    var svg: String

    @Option(help: "Markdown table to write (default: standard output).")
    var markdown: String?

    @Option(help: "Cores of the machine the runs used: more ranks than this are marked oversubscribed.")
    var cores = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Plot title.")
    var title = "Scaling of metaopt-dist meta-training"

    @Option(help: "Second line under the title (e.g. the machine and commit).")
    var subtitle: String?

    func validate() throws {
        guard warmup >= 1 else { throw ValidationError("--warmup must be at least 1 (the first step has no previous time)") }
        guard cores >= 1 else { throw ValidationError("--cores must be positive") }
    }

    func run() throws {
        let rows = try ScalingSummary.rows(runs: URL(fileURLWithPath: runs), warmup: warmup, cores: cores)
        guard !rows.isEmpty else { throw ValidationError("no run directories named SERIES.npN.rK in \(runs)") }
        try ResultFile.writeAtomically(ScalingSummary.csv(rows), to: URL(fileURLWithPath: csv))
        try ResultFile.writeAtomically(ScalingSummary.svg(rows, title: title, subtitle: subtitle, cores: cores),
                                       to: URL(fileURLWithPath: svg))
        let table = ScalingSummary.markdown(rows)
        if let markdown {
            try ResultFile.writeAtomically(table, to: URL(fileURLWithPath: markdown))
        } else {
            print(table, terminator: "")
        }
    }
}

/// One (series, number of ranks) point, medians over repetitions.
struct ScalingRow {
    var series: String
    var np: Int
    var metaBatch: Int, blockSize: Int, blocks: Int, dimension: Int, unroll: Int
    var repetitions: Int, stepsPerRun: Int
    /// Seconds per meta-step and its parts (rank 0's wait and allreduce; compute over ranks).
    var step: Double, computeMax: Double, computeMean: Double, computeMin: Double
    /// The fastest repetition's median meta-step: other work on a shared machine only adds time.
    var stepBest: Double
    var wait: Double, allreduce: Double, update: Double
    var oversubscribed: Bool
    /// Optimizee steps per second: meta-batch × unroll / step.
    var throughput: Double { Double(metaBatch * unroll) / step }
    var throughputBest: Double { Double(metaBatch * unroll) / stepBest }
    var speedup: Double = .nan
    var efficiency: Double = .nan
    var efficiencyBest: Double = .nan
}

enum ScalingSummary {
    static func median(_ values: [Double]) -> Double {
        let v = values.filter(\.isFinite).sorted()
        guard !v.isEmpty else { return .nan }
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    struct RunError: Error, CustomStringConvertible { var description: String }

    static func rows(runs: URL, warmup: Int, cores: Int) throws -> [ScalingRow] {
        let fm = FileManager.default
        let pattern = try NSRegularExpression(pattern: #"^([A-Za-z0-9_-]+)\.np([0-9]+)\.r([0-9]+)$"#)
        var perRun: [String: [Int: [ScalingRow]]] = [:]
        for name in try fm.contentsOfDirectory(atPath: runs.path).sorted() {
            let range = NSRange(name.startIndex..., in: name)
            guard let m = pattern.firstMatch(in: name, range: range),
                  let seriesRange = Range(m.range(at: 1), in: name), let npRange = Range(m.range(at: 2), in: name),
                  let np = Int(name[npRange]) else { continue }
            let dir = runs.appendingPathComponent(name)
            let file = try OptimizerFile.read(from: dir.appendingPathComponent("optimizer.json"))
            guard let config = file.training else { throw RunError(description: "\(dir.path): no training configuration") }
            let metrics = try readMetrics(dir.appendingPathComponent("metrics.jsonl"))
            guard metrics.count > warmup else {
                throw RunError(description: "\(dir.path): \(metrics.count) meta-steps, not more than the warm-up of \(warmup)")
            }
            func column(_ key: String) -> [Double] { metrics[warmup...].map { $0[key] ?? .nan } }
            let steps = (warmup..<metrics.count).map { (metrics[$0]["elapsed"] ?? .nan) - (metrics[$0 - 1]["elapsed"] ?? .nan) }
            let dimension = try config.task.dimension()
            let row = ScalingRow(
                series: String(name[seriesRange]), np: np, metaBatch: config.metaBatch, blockSize: config.blockSize,
                blocks: config.blockCount, dimension: dimension, unroll: config.unroll, repetitions: 1,
                stepsPerRun: steps.count, step: median(steps), computeMax: median(column("compute_max")),
                computeMean: median(column("compute_mean")), computeMin: median(column("compute_min")),
                stepBest: median(steps),
                wait: median(column("wait")), allreduce: median(column("allreduce")), update: median(column("update")),
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
                row.step = median(runs.map(\.step))
                row.stepBest = runs.map(\.step).min()!
                row.computeMax = median(runs.map(\.computeMax))
                row.computeMean = median(runs.map(\.computeMean))
                row.computeMin = median(runs.map(\.computeMin))
                row.wait = median(runs.map(\.wait))
                row.allreduce = median(runs.map(\.allreduce))
                row.update = median(runs.map(\.update))
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

    static func readMetrics(_ url: URL) throws -> [[String: Double]] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RunError(description: "\(url.path): missing")
        }
        return try data.split(separator: UInt8(ascii: "\n")).map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw RunError(description: "\(url.path): a line is not a JSON object")
            }
            var values: [String: Double] = [:]
            for (k, v) in object {
                if let n = v as? NSNumber, !(v is Bool) { values[k] = n.doubleValue }
            }
            return values
        }
    }

    static func csv(_ rows: [ScalingRow]) -> String {
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

    static func markdown(_ rows: [ScalingRow]) -> String {
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

    // MARK: SVG

    static func svg(_ rows: [ScalingRow], title: String, subtitle: String?, cores: Int) -> String {
        let width = 1000.0, height = 470.0
        let top = subtitle == nil ? 56.0 : 72.0, bottom = height - 96
        let panels = [(left: 80.0, right: 470.0), (left: 580.0, right: 970.0)]
        let series = Array(Set(rows.map(\.series))).sorted()
        let nps = Array(Set(rows.map(\.np))).sorted()
        let maxNP = Double(nps.last ?? 1)
        let palette = SVGPlot.palette
        func color(_ name: String) -> String { palette[(series.firstIndex(of: name) ?? 0) % palette.count] }
        func f(_ x: Double) -> String { String(format: "%.1f", x) }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        func x(_ np: Double, _ p: Int) -> Double {
            let span = max(log2(maxNP), 1)
            return panels[p].left + 20 + log2(np) / span * (panels[p].right - panels[p].left - 40)
        }

        // Throughput axis: log10, whole decades around the data and the ideal lines.
        var values: [Double] = (rows.map(\.throughput) + rows.map(\.throughputBest)).filter { $0 > 0 && $0.isFinite }
        for r in rows { if let base = rows.first(where: { $0.series == r.series && $0.np == 1 }) { values.append(base.throughput * Double(r.np)) } }
        let lo = floor(log10(values.min() ?? 1)), hi = max(ceil(log10(values.max() ?? 10)), lo + 1)
        func yThroughput(_ v: Double) -> Double { bottom - (log10(v) - lo) / (hi - lo) * (bottom - top) }
        let effMax = max(1.2, ceil(((rows.map(\.efficiency) + rows.map(\.efficiencyBest)).filter(\.isFinite).max() ?? 1) * 5) / 5)
        func yEfficiency(_ v: Double) -> Double { bottom - v / effMax * (bottom - top) }

        var s = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(width / 2))" y="28" text-anchor="middle" font-size="17" font-weight="bold">\(esc(title))</text>

            """
        if let subtitle {
            s += "<text x=\"\(f(width / 2))\" y=\"48\" text-anchor=\"middle\" font-size=\"12\" fill=\"#444444\">\(esc(subtitle))</text>\n"
        }
        for p in 0..<2 {
            let (left, right) = panels[p]
            // Oversubscribed region.
            if Double(cores) < maxNP {
                let from = x(Double(cores), p) + (x(Double(cores) * 2, p) - x(Double(cores), p)) / 2
                s += "<rect x=\"\(f(from))\" y=\"\(f(top))\" width=\"\(f(right - from))\" height=\"\(f(bottom - top))\" fill=\"#eeeeee\"/>\n"
                s += "<text x=\"\(f((from + right) / 2))\" y=\"\(f(top + 16))\" text-anchor=\"middle\" font-size=\"11\" fill=\"#666666\">oversubscribed</text>\n"
                s += "<text x=\"\(f((from + right) / 2))\" y=\"\(f(top + 30))\" text-anchor=\"middle\" font-size=\"11\" fill=\"#666666\">(&gt; \(cores) cores)</text>\n"
            }
            s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#333333\"/>\n"
            for np in nps {
                let px = x(Double(np), p)
                s += "<line x1=\"\(f(px))\" y1=\"\(f(bottom))\" x2=\"\(f(px))\" y2=\"\(f(bottom + 5))\" stroke=\"#333333\"/>\n"
                s += "<text x=\"\(f(px))\" y=\"\(f(bottom + 20))\" text-anchor=\"middle\" font-size=\"12\">\(np)</text>\n"
            }
            s += "<text x=\"\(f((left + right) / 2))\" y=\"\(f(bottom + 40))\" text-anchor=\"middle\" font-size=\"13\">MPI ranks (log scale)</text>\n"
        }
        // Throughput ticks: decades, with 2 and 5 in between.
        let (l0, r0) = panels[0]
        for d in Int(lo)...Int(hi) {
            for m in [1.0, 2.0, 5.0] {
                let v = m * pow(10, Double(d))
                guard log10(v) <= hi + 1e-9 else { continue }
                let py = yThroughput(v)
                s += "<line x1=\"\(f(l0))\" y1=\"\(f(py))\" x2=\"\(f(r0))\" y2=\"\(f(py))\" stroke=\"#dddddd\"\(m == 1 ? "" : " stroke-dasharray=\"2,3\"")/>\n"
                s += "<text x=\"\(f(l0 - 6))\" y=\"\(f(py + 4))\" text-anchor=\"end\" font-size=\"11\">\(tickLabel(v))</text>\n"
            }
        }
        s += "<text transform=\"translate(20,\(f((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">throughput (task·steps/s, log scale)</text>\n"
        // Efficiency ticks.
        let (l1, r1) = panels[1]
        var t = 0.0
        while t <= effMax + 1e-9 {
            let py = yEfficiency(t)
            s += "<line x1=\"\(f(l1))\" y1=\"\(f(py))\" x2=\"\(f(r1))\" y2=\"\(f(py))\" stroke=\"\(abs(t - 1) < 1e-9 ? "#999999" : "#dddddd")\"/>\n"
            s += "<text x=\"\(f(l1 - 6))\" y=\"\(f(py + 4))\" text-anchor=\"end\" font-size=\"11\">\(String(format: "%.1f", t))</text>\n"
            t += 0.2
        }
        s += "<text transform=\"translate(\(f(l1 - 50)),\(f((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">parallel efficiency</text>\n"

        for name in series {
            let points = rows.filter { $0.series == name }.sorted { $0.np < $1.np }
            let c = color(name)
            if let base = points.first(where: { $0.np == 1 }) {
                let ideal = points.map { "\(f(x(Double($0.np), 0))),\(f(yThroughput(base.throughput * Double($0.np))))" }
                s += "<polyline points=\"\(ideal.joined(separator: " "))\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"1\" stroke-dasharray=\"5,4\" opacity=\"0.7\"/>\n"
            }
            let line = points.map { "\(f(x(Double($0.np), 0))),\(f(yThroughput($0.throughput)))" }
            s += "<polyline data-series=\"\(esc(name))\" points=\"\(line.joined(separator: " "))\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\"/>\n"
            for p in points {
                s += "<circle cx=\"\(f(x(Double(p.np), 0)))\" cy=\"\(f(yThroughput(p.throughput)))\" r=\"3.5\" fill=\"\(c)\"/>\n"
            }
            let best = points.filter { $0.efficiencyBest.isFinite }
            if points.count > 0 && points.contains(where: { $0.repetitions > 1 }) {
                s += "<polyline points=\"\(best.map { "\(f(x(Double($0.np), 1))),\(f(yEfficiency($0.efficiencyBest)))" }.joined(separator: " "))\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"1.2\" stroke-dasharray=\"1.5,3\"/>\n"
                let bestLine = points.map { "\(f(x(Double($0.np), 0))),\(f(yThroughput($0.throughputBest)))" }
                s += "<polyline points=\"\(bestLine.joined(separator: " "))\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"1.2\" stroke-dasharray=\"1.5,3\"/>\n"
            }
            let eff = points.filter { $0.efficiency.isFinite }
            s += "<polyline points=\"\(eff.map { "\(f(x(Double($0.np), 1))),\(f(yEfficiency($0.efficiency)))" }.joined(separator: " "))\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\"/>\n"
            for p in eff {
                s += "<circle cx=\"\(f(x(Double(p.np), 1)))\" cy=\"\(f(yEfficiency(p.efficiency)))\" r=\"3.5\" fill=\"\(c)\"/>\n"
            }
        }
        // Legend under the panels.
        var lx = 80.0
        let ly = height - 30
        for name in series {
            let r = rows.first { $0.series == name }!
            let label = "\(name) (B=\(r.metaBatch)\(name.hasPrefix("weak") ? " at np=\(r.np), ∝ ranks" : ""), n=\(r.dimension))"
            s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly))\" stroke=\"\(color(name))\" stroke-width=\"2\"/>\n"
            s += "<text x=\"\(f(lx + 30))\" y=\"\(f(ly + 4))\" font-size=\"12\">\(esc(label))</text>\n"
            lx += 48 + Double(label.count) * 6.6
        }
        s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly))\" stroke=\"#333333\" stroke-dasharray=\"5,4\"/>\n"
        s += "<text x=\"\(f(lx + 30))\" y=\"\(f(ly + 4))\" font-size=\"12\">ideal</text>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\" font-size=\"11\" fill=\"#666666\">solid: median over repetitions; dotted: fastest repetition (other work on the machine only adds time); dashed: ideal</text>\n"
        s += "</svg>\n"
        return s
    }

    private static func tickLabel(_ v: Double) -> String {
        if v >= 1e6 { return String(format: "%gM", v / 1e6) }
        if v >= 1e3 { return String(format: "%gk", v / 1e3) }
        return String(format: "%g", v)
    }
}
