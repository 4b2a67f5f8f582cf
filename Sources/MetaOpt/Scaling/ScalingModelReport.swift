import Foundation

/// `ScalingModel` evaluated over rank counts for several workloads and networks: the Markdown
/// tables, the CSV and the efficiency figure of docs/scaling.md (`metaopt-dist scaling-model`).
package struct ScalingModelReport: Sendable {
    /// A measured point to mark on the efficiency plot (never part of the model's lines).
    package struct MeasuredPoint: Sendable, Equatable {
        package var label: String
        package var ranks: Int
        package var efficiency: Double
        package init(label: String, ranks: Int, efficiency: Double) {
            self.label = label
            self.ranks = ranks
            self.efficiency = efficiency
        }
    }

    /// One workload on one network at one rank count, in its fastest layout (`bestLayout`) or with
    /// the report's fixed number of shards.
    package struct Row: Sendable {
        package var workload: String
        package var network: String
        package var layout: ScalingModel.Layout
        package var step: ScalingModel.StepTime
        package var efficiency: Double
        /// Seconds to the target validation score (nil when the target is not given or not reached).
        package var timeToTarget: Double?
    }

    package var workloads: [ScalingModel.Workload]
    package var networks: [ScalingModel.Network]
    package var compute: ScalingModel.Compute
    package var ranks: [Int]
    /// Meta-steps to the target score, measured for the workloads with this meta-batch only (a
    /// different meta-batch is a different training, with its own count).
    package var metaStepsToTarget: (steps: Int, metaBatch: Int)?
    /// Shards per group for every rank count it divides (others are left out); nil: the fastest
    /// layout at each rank count.
    package var shards: Int?

    package init(workloads: [ScalingModel.Workload], networks: [ScalingModel.Network], compute: ScalingModel.Compute,
                 ranks: [Int], metaStepsToTarget: (steps: Int, metaBatch: Int)?) {
        self.workloads = workloads
        self.networks = networks
        self.compute = compute
        self.ranks = ranks
        self.metaStepsToTarget = metaStepsToTarget
    }

    package func rows() -> [Row] {
        var rows: [Row] = []
        for network in networks {
            for workload in workloads {
                let model = ScalingModel(workload: workload, compute: compute, network: network)
                for r in ranks {
                    let layout: ScalingModel.Layout
                    if let shards {
                        guard r % shards == 0 else { continue }
                        layout = ScalingModel.Layout(groups: r / shards, shards: shards)
                    } else {
                        guard let best = model.bestLayout(ranks: r) else { continue }
                        layout = best
                    }
                    let step = model.stepTime(layout)
                    rows.append(Row(workload: workload.name, network: network.name, layout: layout, step: step,
                                    efficiency: model.efficiency(layout),
                                    timeToTarget: timeToTarget(workload, step)))
                }
            }
        }
        return rows
    }

    private func timeToTarget(_ workload: ScalingModel.Workload, _ step: ScalingModel.StepTime) -> Double? {
        guard let target = metaStepsToTarget, target.metaBatch == workload.metaBatch else { return nil }
        return Double(target.steps) * step.total
    }

    package static func markdown(_ rows: [Row]) -> String {
        var s = "| network | workload | ranks | G × S | compute (ms) | allgather (ms) | allreduces (ms) | encode + fixed (ms) | step (ms) | efficiency | to target |\n"
        s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in rows {
            func ms(_ x: Double) -> String { String(format: x < 0.1e-3 ? "%.3f" : (x < 10e-3 ? "%.2f" : "%.1f"), x * 1e3) }
            s += "| \(r.network) | \(r.workload) | \(r.layout.ranks) | \(r.layout) | \(ms(r.step.compute)) | \(ms(r.step.allgather)) | "
            s += "\(ms(r.step.allreduce)) | \(ms(r.step.encode + r.step.fixed)) | \(ms(r.step.total)) | "
            s += String(format: "%.2f", r.efficiency) + " | " + (r.timeToTarget.map(duration) ?? "–") + " |\n"
        }
        return s
    }

    package static func csv(_ rows: [Row]) -> String {
        var s = "network,workload,ranks,groups,shards,compute_s,encode_s,allgather_s,allreduce_s,fixed_s,step_s,efficiency,time_to_target_s\n"
        for r in rows {
            let v: [String] = [r.network, r.workload, "\(r.layout.ranks)", "\(r.layout.groups)", "\(r.layout.shards)",
                               g(r.step.compute), g(r.step.encode), g(r.step.allgather), g(r.step.allreduce), g(r.step.fixed),
                               g(r.step.total), g(r.efficiency), r.timeToTarget.map(g) ?? ""]
            // RFC 4180 as the evaluation CSV: a network named with a quote was read back wrong.
            s += v.map(EvaluationReport.csvField).joined(separator: ",") + "\n"
        }
        return s
    }

    private static func g(_ x: Double) -> String { String(format: "%.6g", x) }

    /// "42 s", "13.5 min", "2.1 h".
    package static func duration(_ seconds: Double) -> String {
        if seconds < 120 { return String(format: "%.0f s", seconds) }
        if seconds < 7200 { return String(format: "%.1f min", seconds / 60) }
        return String(format: "%.1f h", seconds / 3600)
    }

    /// Modelled efficiency against ranks, one panel per network and one line per workload; the
    /// measured points as unconnected large markers in every panel.
    package static func figure(_ rows: [Row], measured: [MeasuredPoint], title: String, subtitle: String?) -> SVGFigure {
        let networks = rows.map(\.network).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let workloads = rows.map(\.workload).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        var panels: [SVGPlot] = []
        for network in networks {
            var series: [SVGPlot.Series] = []
            for (i, workload) in workloads.enumerated() {
                let points = rows.filter { $0.network == network && $0.workload == workload }
                guard !points.isEmpty else { continue }
                var s = SVGPlot.Series(name: "\(workload) (model)", values: points.map(\.efficiency),
                                       x: points.map { Double($0.layout.ranks) })
                s.colorIndex = i
                s.markers = true
                s.markerRadius = 2.5
                series.append(s)
            }
            for (j, point) in measured.enumerated() {
                var s = SVGPlot.Series(name: "\(point.label) (measured)", values: [point.efficiency], x: [Double(point.ranks)])
                s.line = false
                s.markers = true
                s.markerRadius = 5
                s.colorIndex = workloads.count + j
                series.append(s)
            }
            let ranks = rows.map { Double($0.layout.ranks) }
            if let lowest = ranks.min(), let highest = ranks.max(), lowest < highest {
                var target = SVGPlot.Series(name: "target of issue #15: 0.7 at 64 ranks", values: [0.7, 0.7], x: [lowest, highest])
                target.lineWidth = 1
                target.opacity = 0.6
                target.colorIndex = 7
                series.append(target)
            }
            var panel = SVGPlot(title: network, xLabel: "MPI ranks (R = groups × shards)", yLabel: "efficiency", series: series)
            panel.xScale = .log2
            panel.yScale = .linear(includeZero: true)
            panel.yRange = 0...1
            panels.append(panel)
        }
        return SVGFigure(title: title, subtitle: subtitle, panels: panels, columns: min(2, panels.count))
    }
}
