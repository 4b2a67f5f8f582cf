import ArgumentParser
import Foundation
import MetaOpt

/// `plot`: SVG figures of training runs (`TrainingFigure`) or of several evaluations side by side
/// (`EvaluationReport.panelFigure`). Only argument handling here; reading and drawing are in the
/// library.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Plot training runs, or several evaluations side by side, as SVG.",
        usage: """
            metaopt-dist plot RUN_DIR [RUN_DIR ...] [--out FILE_OR_DIR] [--title TITLE]
            metaopt-dist plot --evaluations REPORT [REPORT ...] [--out FILE_OR_DIR] [--title TITLE] [--panel-titles T ...] [--columns N] [--no-bands]
            """,
        discussion: """
            Training runs: reads RUN_DIR/metrics.jsonl (and RUN_DIR/validation.jsonl when there \
            is one) of each run and draws one figure with panels against meta-steps: the \
            meta-loss, the validation score (mean final loss; with a ring at the best one), the \
            meta-gradient norm, and the seconds per meta-step (compute: mean over ranks, shaded \
            from the fastest to the slowest rank; rank 0's wait for the slowest rank; the \
            allreduce). Meta-loss and gradient norm are noisy: every meta-step is drawn faint, \
            and over it a centred moving median over a window of about 1/30 of the run (at least \
            5 meta-steps, a whole number of horizons; the subtitles say how many). Timings are \
            drawn as moving medians on a linear axis from 0. Several runs are overlaid in one \
            colour each, named by their directory in the legends, with one timing panel per run \
            side by side on one axis. A run that is still training can be plotted: a \
            half-written last line is left out. A malformed line is an error naming the file \
            and line.

            Evaluations (--evaluations): one panel per evaluation report (evaluate's report.json, \
            or the directory that holds it), side by side as in the paper's figures: mean loss \
            per step with the 25th-75th percentile band, the baselines' tuned learning rates in \
            the legend, the same colour for an optimizer in every panel. Panel titles default to \
            the report's directory name.

            Y axes: logarithmic with ticks at 1, 2, 5 in every decade when the values span a few \
            decades, at powers of ten when they span many, and linear when they span a small \
            range (largest / smallest < 3).

            Output (--out: a file, or an existing directory or one ending in '/' to write the \
            default name into): one run: RUN_DIR/plot.svg (which `train` also keeps up to date \
            while it runs, every 2 minutes and at the end); several runs: plot.svg in the current \
            directory; evaluations: evaluations.svg in the current directory.

            Examples:
              metaopt-dist plot runs/mlp                            (writes runs/mlp/plot.svg)
              metaopt-dist plot runs/mlp-p5 runs/mlp-p20 --out compare.svg
              metaopt-dist plot --evaluations docs/results/mlp-p20 docs/results/mlp-p20-2-layers --out panel.svg
            """)

    @Argument(help: ArgumentHelp("Run directories of `train` (with metrics.jsonl).", valueName: "run-dir"))
    var runDirectories: [String] = []

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("Evaluation reports to put side by side instead: report.json files of `evaluate`, or the directories holding them.",
                               valueName: "report"))
    var evaluations: [String] = []

    @Option(help: ArgumentHelp("Where to write the SVG: a file, or a directory for the default name (see above).", valueName: "file-or-dir"))
    var out: String?

    @Option(help: "Figure title (default: the run names, or \"Loss on held-out functions\").")
    var title: String?

    @Option(parsing: .upToNextOption, help: ArgumentHelp("With --evaluations: one title per panel (default: each report's directory name).", valueName: "title"))
    var panelTitles: [String] = []

    @Option(help: "With --evaluations: panels per row (default: all in one row, at most 4).")
    var columns: Int?

    @Flag(inversion: .prefixedNo, help: "With --evaluations: shade the 25th-75th percentile band.")
    var bands = true

    func validate() throws {
        if let problem = SingleProcess.problem(command: "plot") { throw ValidationError(problem) }
        // URL(fileURLWithPath: "") is the current directory: say what is wrong instead.
        if runDirectories.contains("") { throw ValidationError("a run directory must not be empty") }
        if evaluations.contains("") { throw ValidationError("--evaluations: a report must not be empty") }
        if let out, out.isEmpty { throw ValidationError("--out must not be empty") }
        if runDirectories.isEmpty == evaluations.isEmpty {
            throw ValidationError(runDirectories.isEmpty
                                  ? "give run directories, or --evaluations with report files"
                                  : "give either run directories or --evaluations, not both")
        }
        // --bands too: the default, but given for run directories it would be ignored as well.
        let bandsGiven = !bands || OptionScope.givenOnCommandLine.contains("bands")
        if evaluations.isEmpty && (!panelTitles.isEmpty || columns != nil || bandsGiven) {
            throw ValidationError("--panel-titles, --columns and --bands/--no-bands apply to --evaluations only")
        }
        // The same run twice drew two identical curves under one legend name.
        for (i, path) in runDirectories.enumerated() {
            if let first = runDirectories[..<i].first(where: { FilePaths.same(FilePaths.url($0), FilePaths.url(path)) }) {
                throw ValidationError("the run directory \(path) is \(first) again; give each run once")
            }
        }
        if !panelTitles.isEmpty && panelTitles.count != evaluations.count {
            throw ValidationError("--panel-titles has \(panelTitles.count) titles for \(evaluations.count) reports")
        }
        if let columns, columns < 1 { throw ValidationError("--columns must be positive") }
    }

    func run() throws {
        let fm = FileManager.default
        let url: URL
        if evaluations.isEmpty {
            let directories = runDirectories.map { FilePaths.url($0) }
            let names = TrainingLog.displayNames(directories)
            let logs = try zip(directories, names).map { try TrainingLog.load(runDirectory: $0, name: $1) }
            url = output(default: logs.count == 1 ? RunDirectory(directories[0]).plot : FilePaths.url("plot.svg"),
                         name: "plot.svg")
            try refuseOverwriting(directories.flatMap { [RunDirectory($0).metrics, RunDirectory($0).validationLog] }, with: url)
            // Nor another file of a run (its optimizer, settings, a checkpoint), as train's --output.
            for directory in directories {
                let run = RunDirectory(directory)
                let own = run.ownFile(at: url) ?? (FilePaths.same(run.optimizer, url) ? run.optimizer.lastPathComponent : nil)
                if let own, own != run.plot.lastPathComponent {
                    throw ValidationError("--out \(url.path) would overwrite the run's own \(own) in \(directory.path); choose another path")
                }
            }
            try TrainingFigure.make(logs, title: title).write(to: url)
        } else {
            var panels: [(title: String, report: EvaluationReport)] = []
            var files: [URL] = []
            for (i, path) in evaluations.enumerated() {
                var isDirectory: ObjCBool = false
                var file = FilePaths.url(path)
                if fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    file = file.appendingPathComponent("report.json")
                }
                let report = try EvaluationReport.load(from: file)
                files.append(file)
                let name = file.standardizedFileURL.deletingLastPathComponent().lastPathComponent
                panels.append((panelTitles.isEmpty ? name : panelTitles[i], report))
            }
            url = output(default: FilePaths.url("evaluations.svg"), name: "evaluations.svg")
            try refuseOverwriting(files, with: url)
            try EvaluationReport.panelFigure(panels, title: title ?? "Loss on held-out functions", columns: columns,
                                             bands: bands).write(to: url)
        }
        print("wrote \(url.path)")
    }

    /// The figure must not replace a file it is drawn from (a metrics.jsonl, a report.json).
    func refuseOverwriting(_ inputs: [URL], with url: URL) throws {
        if let input = inputs.first(where: { FilePaths.same($0, url) }) {
            throw ValidationError("--out \(url.path) is \(input.path), which the plot reads; choose another path")
        }
    }

    /// --out as given (a directory gets `name`), else `fallback`.
    func output(default fallback: URL, name: String) -> URL {
        guard let out else { return fallback }
        var isDirectory: ObjCBool = false
        if out.hasSuffix("/") || (FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) && isDirectory.boolValue) {
            return FilePaths.url(out).appendingPathComponent(name)
        }
        return FilePaths.url(out)
    }
}
