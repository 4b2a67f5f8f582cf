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

    @Option(help: "Meta-steps left out at the start of every run (at least 1: the first step has no previous time).")
    var warmup = 3

    @Option(help: "CSV to write.")
    var csv: String

    @Option(help: "SVG plot to write.")
    var svg: String

    @Option(help: "Markdown table to write (default: standard output).")
    var markdown: String?

    // Optional, so that help does not show this machine's count as if it were the runs'.
    @Option(help: "Cores of the machine the runs used: more ranks than this are marked oversubscribed (default: the cores of the machine running this command).")
    var cores: Int?

    @Option(help: "Plot title.")
    var title = "Scaling of metaopt-dist meta-training"

    @Option(help: "Second line under the title (e.g. the machine and commit).")
    var subtitle: String?

    func validate() throws {
        guard warmup >= 1 else { throw ValidationError("--warmup must be at least 1 (the first step has no previous time)") }
        if let cores, cores < 1 { throw ValidationError("--cores must be positive") }
    }

    func run() throws {
        let cores = self.cores ?? ProcessInfo.processInfo.activeProcessorCount
        try refuseCollidingOutputs([("--csv", csv), ("--svg", svg)] + (markdown.map { [("--markdown", $0)] } ?? []),
                                   inputs: ScalingSummary.inputFiles(runs: FilePaths.url(runs)))
        let rows = try ScalingSummary.rows(runs: FilePaths.url(runs), warmup: warmup, cores: cores)
        guard !rows.isEmpty else { throw ValidationError("no run directories named SERIES.npN.rK in \(runs)") }
        let table = ScalingSummary.markdown(rows)
        // All or none: a path that cannot be written left the files before it new, those after it old.
        var files = [(data: Data(ScalingSummary.csv(rows).utf8), url: FilePaths.url(csv)),
                     (Data(ScalingSummary.figure(rows, title: title, subtitle: subtitle, cores: cores).render().utf8), FilePaths.url(svg))]
        if let markdown { files.append((Data(table.utf8), FilePaths.url(markdown))) }
        try ResultFile.writeAllAtomically(files)
        if markdown == nil { print(table, terminator: "") }
    }
}
