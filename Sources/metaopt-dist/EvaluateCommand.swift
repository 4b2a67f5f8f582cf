import ArgumentParser
import Foundation
import MetaOpt

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Compare a trained optimizer with tuned baselines on held-out functions.",
        discussion: """
            Each baseline's learning rate is chosen by a grid search (\(LearningRateSearch.defaultGrid.map { "\($0)" }.joined(separator: ", ")), \
            continued beyond an end while the best rate is there: 10, 30, ... or 3e-05, 1e-05, ..., \
            up to 6 more rates each way) on --tuning-functions training functions, and --refine \
            rounds of rates between the best and its neighbours; then the learned optimizer and the tuned \
            baselines run on the same --functions held-out functions. The held-out functions are \
            drawn with --seed, which must differ from the training seed; the tuning functions with \
            seed+1. For image tasks the held-out functions train on the test split (--split train \
            for model selection) and the tuning functions on the training split. Writes OUT/report.json (every curve, the grid scores), OUT/statistics.csv \
            (per-step mean, median, quartiles), OUT/loss.svg (plot) and OUT/summary.md, and prints \
            the summary table. Runs in one process (no MPI needed).

            Progress: when standard error is a terminal, one line there, rewritten in place, says \
            which optimizer runs (and which learning rate during the tuning), how many of its \
            functions are done and the estimated time left for the whole evaluation; it is erased \
            before the table is printed. Nothing is shown when standard error is not a terminal \
            (a log file, a pipe) or with --quiet.
            """)

    @Option(help: "The trained optimizer file (from train).")
    var optimizer: String

    @OptionGroup var task: TaskOptions

    @Option(help: "Held-out functions to evaluate on.")
    var functions = 100

    @Option(help: "Optimizee steps per function.")
    var steps = 100

    @Option(help: ArgumentHelp("Baselines to compare against (comma-separated, or 'all', or 'none').",
                               valueName: "sgd,nag,rmsprop,adam"))
    var baselines = "sgd,nag,rmsprop,adam"

    @Option(help: "Training functions for the baselines' learning-rate search.")
    var tuningFunctions = 20

    @Option(help: ArgumentHelp("Rounds of finer tuning after the grid: each tries the geometric midpoints (two significant digits) between a baseline's best rate and its two neighbours, halving the spacing on a log scale (2 rounds: about 1.3x between rates instead of 3x; up to 2 more tuning runs per round and baseline). 0: the grid alone, as the tables of docs/results.md unless they say otherwise.", valueName: "rounds"))
    var refine = 0

    @Option(help: "Seed of the held-out functions (default: the training seed + 1000003; not the training seed; the seed of the run's validation functions is warned about).", transform: SeedArgument.parse)
    var seed: UInt64?

    @Option(help: ArgumentHelp("Image tasks: the data split the held-out functions train on. test for reported results; train to choose among trained optimizers (checkpoints, settings) without looking at the test split, as the paper's early stopping on validation functions does.",
                               valueName: "test|train"))
    var split: DatasetSplit = .test

    @Option(help: "Output directory (default: beside the optimizer file, eval for a run's optimizer.json and eval-NAME for any other NAME.json, e.g. eval-best-optimizer).")
    var out: String?

    @Option(help: "Title of OUT/loss.svg (default: the task and the number of held-out functions, e.g. \"quadratic: 100 held-out functions\").")
    var title: String?

    @OptionGroup var memory: MemoryLimitOptions

    @Flag(help: "Show no progress line on standard error (it is shown only when standard error is a terminal).")
    var quiet = false

    @Flag(help: "MLP only: also write OUT/layer-trace.csv, per step and optimizer the RMS distance moved from θ₀ and the RMS gradient of every weight matrix and bias vector on the first held-out function. Without it, a layer-trace.csv that an earlier evaluation left in OUT is removed.")
    var layerTrace = false

    /// Where the results go without --out: `eval` beside a run's `optimizer.json`, `eval-NAME`
    /// beside any other `NAME.json` (`best-optimizer.json`, a shipped optimizer), so that evaluating
    /// two files of one folder keeps the results of both.
    static func defaultOutput(for optimizer: String) -> String {
        let file = FilePaths.url(optimizer)
        let stem = file.deletingPathExtension().lastPathComponent
        return file.deletingLastPathComponent().appendingPathComponent(stem == "optimizer" ? "eval" : "eval-\(stem)").path
    }

    func validate() throws {
        if let problem = SingleProcess.problem(command: "evaluate") { throw ValidationError(problem) }
        // URL(fileURLWithPath: "") is the current directory: say what is wrong instead.
        if optimizer.isEmpty { throw ValidationError("--optimizer must not be empty") }
        // A second --optimizer replaced the first without a word: only the last was evaluated.
        _ = try RunFiles.value(of: "optimizer", in: CommandLine.arguments.dropFirst(),
                               remedy: "evaluate scores one trained optimizer: evaluate each into its own --out, then `metaopt-dist plot --evaluations OUT1 OUT2` draws them side by side")
        guard functions > 0 else { throw ValidationError("--functions must be positive") }
        if let out, out.isEmpty { throw ValidationError("--out must not be empty") }
        guard steps > 0 else { throw ValidationError("--steps must be positive") }
        guard tuningFunctions > 0 else { throw ValidationError("--tuning-functions must be positive") }
        for (name, value) in [("--functions", functions), ("--tuning-functions", tuningFunctions), ("--steps", steps)] {
            if let problem = SizeLimits.problem(name, value, limit: SizeLimits.heldOutFunctions) { throw ValidationError(problem) }
        }
        let kinds: [BaselineKind]
        do { kinds = try BaselineKind.parseList(baselines) } catch { throw ValidationError("--baselines: \(error)") }
        for option in ["tuning-functions", "refine"] where kinds.isEmpty && OptionScope.givenOnCommandLine.contains(option) {
            throw ValidationError("--\(option) tunes the baselines, and --baselines none runs none: give one or the other")
        }
        guard (0...LearningRateSearch.maxRefinements).contains(refine) else {
            throw ValidationError("--refine must be from 0 to \(LearningRateSearch.maxRefinements) (got \(refine)): each round halves the spacing between rates, and \(LearningRateSearch.maxRefinements) already reach about 1.02x on the default grid")
        }
    }

    /// `--layer-trace`'s rows: one a step, optimizer and parameter tensor of the MLP (a weight
    /// matrix and a bias vector per layer).
    static func traceRows(_ spec: TaskSpec, steps: Int, optimizers: Int) -> Int {
        guard let mlp = spec.settings as? MLPTask, case .mlp(let architecture) = mlp.spec.architecture else { return 0 }
        return SizeLimits.product(steps, optimizers, 2 * (architecture.hiddenSizes.count + 1)) ?? .max
    }

    /// "1 + 20 tuning functions", "1 function" (no baseline, nothing tuned).
    static func counted(functions: Int, tuning: Int) -> String {
        tuning == 0 ? "\(functions) function\(functions == 1 ? "" : "s")" : "\(functions) + \(tuning) tuning functions"
    }

    func run() throws {
        setBLASThreads(1)
        Console.error(kernelsLine() + "\n")
        let file = try OptimizerFile.read(from: FilePaths.url(optimizer))
        let training = file.training
        let filesOwnTask = task.task == nil ? training?.task : nil
        var spec = try filesOwnTask ?? task.spec()
        // As in train: a task option the evaluated task does not read is an error, not ignored.
        // The file's own mixture is not built from this command line (and task options without
        // --task are refused below).
        if let problem = OptionScope.problems(given: OptionScope.givenOnCommandLine, task: spec, optimizer: file.optimizer,
                                              commandLine: filesOwnTask == nil ? { try? self.task.spec(family: $0) } : nil).first {
            throw ValidationError(problem)
        }
        // Task options build a task from their defaults (`task.spec()`), which only --task asks
        // for: without it they used to be ignored, and the file's own task ran as trained.
        // --data-dir says where the data is, not which task: the file's own task, read from there
        // (a relative directory in the file is the training run's, which another folder lacks).
        if let trained = filesOwnTask, let option = OptionScope.givenOnCommandLine.intersection(OptionScope.taskOptionNames).subtracting(["data-dir"]).sorted().first {
            throw ValidationError("--\(option) describes a task, but without --task evaluate runs the optimizer file's own (\(trained.name), as trained); give --task \(trained.name) with it to evaluate on that task with these options (the others at their defaults)")
        }
        if let trained = filesOwnTask, let directory = task.dataDir {
            // One directory for all of a mixture's image data: only where they all read one.
            let sources = Set(trained.dataLocations.map { "\($0.dataset) from \($0.directory ?? "its standard location")" })
            if sources.count > 1 {
                throw ValidationError("--data-dir names one directory, but this optimizer file's mixture reads \(sources.sorted().joined(separator: " and ")); give --task mix and --mixture with each component's data-dir=")
            }
            spec = spec.readingData(from: directory)
            if let problem = spec.problems().first { throw ValidationError(problem) }
        }
        // A mixture's φ has one optimizer for every family: a family with several parameter
        // groups (the CNN) runs them all on it, as it did in meta-training.
        let sharesOneOptimizer = training?.task.settings is MixtureTask && file.optimizer.optimizerCount == 1
        guard spec.optimizerCount == file.optimizer.optimizerCount || sharesOneOptimizer else {
            throw ValidationError("the \(spec.name) task needs \(spec.optimizerCount) learned optimizer(s); \(optimizer) has \(file.optimizer.optimizerCount)")
        }
        if split != .test, !spec.hasDataSplit {
            let withSplit = TaskRegistry.plugins.filter { $0.hasDataSplit }.map { $0.name }
            let what = spec.name == MixtureTask.name ? "this mixture has no image family" : "the \(spec.name) task has no data split"
            throw ValidationError("--split applies to image tasks only (\(withSplit.joined(separator: ", ")); \(what))")
        }
        if layerTrace && spec.name != "mlp" {
            throw ValidationError("--layer-trace needs the MLP task (got \(spec.name))")
        }
        let kinds = try BaselineKind.parseList(baselines)
        // With no baseline nothing is tuned: no tuning functions are drawn or counted.
        let tuningFunctions = kinds.isEmpty ? 0 : tuningFunctions
        // Refused before the functions are sampled: a quadratic's W alone may exceed the machine.
        if let problem = memory.addressSpaceProblem() { throw ValidationError(problem) }
        let coordinates: Int, needed: Int?
        do {
            coordinates = try spec.dimension()
            needed = try MemoryEstimate.evaluationBytes(task: spec, coordinates: coordinates, optimizer: file.optimizer,
                                                        functions: functions, tuningFunctions: tuningFunctions, steps: steps,
                                                        optimizers: 1 + kinds.count,
                                                        traceRows: layerTrace ? Self.traceRows(spec, steps: steps, optimizers: 1 + kinds.count) : 0)
        } catch let error as DataError where error.isConfigurationProblem {
            // The options do not fit the data (a CNN with too many poolings): bad usage, status 64.
            throw ValidationError(error.description)
        } catch let error as DataError where task.dataDir == nil && error.isMissing {
            // The file names where its task's data was: say so, since the path is not the user's.
            if let stored = filesOwnTask?.dataLocations.compactMap(\.directory).first {
                Console.error("note: the optimizer file's training settings name the data directory \(stored)\(stored.hasPrefix("/") ? "" : " (relative: taken from the folder evaluate runs in)"); give --data-dir DIR to read the data from another directory\n")
            }
            throw error
        }
        // The task by name and size: an image task's full description is a page of Swift types.
        let limit = memory.memoryLimit()
        if let problem = MemoryEstimate.problem(needed: needed, limit: limit.bytes, limitSource: limit.source,
                                                what: "evaluating \(Self.counted(functions: functions, tuning: tuningFunctions)) of the \(spec.name) task (\(coordinates) coordinates each) for \(steps) steps",
                                                perRank: false) {
            throw ValidationError(problem)
        }
        // The outputs are checked now, not after minutes of evaluation.
        let directory = FilePaths.url(out ?? Self.defaultOutput(for: optimizer))
        // layer-trace.csv too without --layer-trace: an earlier evaluation's is then removed.
        for name in ["report.json", "statistics.csv", "loss.svg", "summary.md", "layer-trace.csv"] {
            let output = directory.appendingPathComponent(name)
            if FilePaths.same(output, FilePaths.url(optimizer)) {
                throw ValidationError("--optimizer \(optimizer) is \(output.path), which the evaluation writes; move it or give another --out")
            }
            if name != "layer-trace.csv" || layerTrace { try ResultFile.checkWritable(output) }
        }
        let trainingSeed = training?.seed ?? 0
        let evaluationSeed = seed ?? Evaluation.defaultSeed(trainingSeed: trainingSeed)
        if let training, evaluationSeed == training.seed {
            throw ValidationError("--seed \(evaluationSeed) is the training seed: the held-out functions would be training functions")
        }
        // The validation functions chose this φ (early stopping): scored on them again, it looks
        // better than on functions it has not seen. Said, not refused: measuring the validation
        // score again is a check of its own.
        if let validation = training?.validation, evaluationSeed == validation.seed {
            Console.error("warning: --seed \(evaluationSeed)\(seed == nil ? " (the default)" : "") is the seed of the validation functions of the run that trained this optimizer: these are the functions its early stopping chose φ on, so the learned optimizer's results are not held-out results (give another --seed for those)\n")
        }
        // Held-out functions use the test split of image data unless --split says otherwise (model
        // selection); the baselines are tuned on training data with another seed.
        let (heldOut, tuningSet) = try Evaluation.functionSets(spec, split: split, seed: evaluationSeed, functions: functions,
                                                               tuningFunctions: tuningFunctions) { spec in
            let base = try spec.makeFamily()
            return sharesOneOptimizer && spec.optimizerCount > 1 ? SharedOptimizerFamily(base: base) : base
        }
        let learned = LearnedOptimizer(file: file)
        // Progress on a terminal only: the library reports, the meter estimates, this prints.
        let status = TerminalStatus.standardError(quiet: quiet)
        defer { status.clear() }  // also before an error message
        let meter = EvaluationProgressMeter(planned: EvaluationProgressMeter.plan(
            learned: [learned.name], baselines: kinds.map(\.displayName), gridSize: LearningRateSearch.defaultGrid.count + 2 * refine,
            tuningFunctions: tuningFunctions, functions: functions))
        let start = DispatchTime.now()
        let progress: EvaluationProgress.Handler? = status.enabled ? { event in
            status.show(meter.update(event, now: Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9),
                        force: event.functionsDone == 0)
        } : nil
        let tuning = try Evaluation.tuneBaselines(kinds, trainingFunctions: tuningSet, steps: steps, refinements: refine, progress: progress)
        let optimizers: [any EvaluatedOptimizer] = [learned] + tuning.map { BaselineOptimizer(tuned: $0) }
        var report = try Evaluation.run(
            optimizers: optimizers, functions: heldOut, steps: steps, tuning: tuning,
            // The held-out functions' split: the spec as trained names the training split.
            metadata: ["task": "\(spec.onSplit(split))", "optimizer_file": optimizer, "evaluation_seed": "\(evaluationSeed)",
                       "tuning_seed": "\(Evaluation.tuningSeed(evaluationSeed: evaluationSeed))", "training_iterations": "\(file.iteration)",
                       "kernels": KernelPath.default.rawValue, "training_kernels": file.kernels ?? "unknown"]
                .merging(split == .test ? [:] : ["held_out_split": split.rawValue]) { a, _ in a }
                .merging(refine == 0 ? [:] : ["tuning_refinements": "\(refine)"]) { a, _ in a },
            progress: progress)
        report.provenance = Provenance.current(kernels: KernelPath.default.rawValue)
        report.optimizerProvenance = file.provenance
        // Traced before anything is written, so that an evaluation stopped here leaves the
        // previous files of --out as they were, not new ones beside an old trace.
        var trace: LayerTrace?
        if layerTrace {
            let mlp = heldOut[0] as! MLPOptimizee  // checked above
            var rows = LayerTrace()
            for o in optimizers { try rows.record(o, on: mlp, tensors: mlp.tensors, steps: steps) }
            trace = rows
        }
        status.clear()
        let summary = report.markdownSummary()
        let plot = report.plot(title: title ?? "\(spec.name): \(functions) held-out function\(functions == 1 ? "" : "s")")
        let traceURL = directory.appendingPathComponent("layer-trace.csv")
        // Made one at a time as they are written (`MemoryEstimate.evaluationOutputBytes`).
        var files: [(url: URL, make: () throws -> Data)] = [
            (directory.appendingPathComponent("report.json"), { try report.jsonData() }),
            (directory.appendingPathComponent("statistics.csv"), { Data(report.statisticsCSV().utf8) }),
            (directory.appendingPathComponent("loss.svg"), { Data(plot.render().utf8) }),
            (directory.appendingPathComponent("summary.md"), { Data(summary.utf8) })]
        if let trace { files.append((traceURL, { Data(trace.csv().utf8) })) }
        do {
            // All or none: a failed write (a full disk) used to leave this evaluation's first
            // files beside an earlier one's others.
            try ResultFile.writeAllAtomically(files)
        } catch {
            print(summary)  // the results are not lost with the files
            throw error
        }
        print(summary)
        print("wrote \(directory.path)/{report.json,statistics.csv,loss.svg,summary.md}")
        if trace != nil {
            print("wrote \(traceURL.path)")
        } else if try ResultFile.removeLeftover(traceURL) {
            // An earlier evaluation's trace beside this evaluation's report would describe other
            // functions, steps or optimizers.
            print("removed \(traceURL.path): an earlier evaluation's (this one has no --layer-trace)")
        }
    }
}
