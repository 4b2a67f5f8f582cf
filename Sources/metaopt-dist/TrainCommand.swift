import ArgumentParser
import Foundation
import Logging
import MetaOpt
import MetaOptMPI
import Synchronization

extension LogScaleRange {
    /// The option's value, or why it is none: argument-parser's own message for a value it could
    /// not read gave no reason ("The value '0' is invalid").
    static func argument(_ text: String) throws -> LogScaleRange {
        if let range = LogScaleRange(parsing: text) { return range }
        if Double(text.trimmingCharacters(in: .whitespaces)) != nil {
            throw ValidationError("A must be positive and finite (0 < A ≤ 20): it gives the range [−A, A]")
        }
        throw ValidationError("give a number A (0 < A ≤ 20) or two numbers LO,HI (−20 ≤ LO < HI ≤ 20)")
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Meta-train the learned optimizer (the default command).",
        discussion: """
            With no options this is the embedded default job: the paper's quadratic experiment \
            (10-dimensional quadratics, raw gradient input, unroll 20, horizon 100) with a \
            global meta-batch of 128 functions for 4000 meta-steps at learning rate 3e-3, validated \
            every 500 meta-steps, written to runs/quadratic/ (about half a minute on 2 cores). Run it under mpirun to spread the meta-batch over ranks; the result \
            is the same for any number of ranks.

            Files (rank 0 only): RUN_DIR/metrics.jsonl (one JSON object per meta-step), \
            RUN_DIR/checkpoints/ (resumed automatically), RUN_DIR/optimizer.json (the trained \
            optimizer; see docs/optimizer-file.md), RUN_DIR/plot.svg (the training curves, \
            redrawn every 2 minutes and at the end; `metaopt-dist plot RUN_DIR` draws it again); \
            with validation (--validate-every; the \
            quadratics' default) also RUN_DIR/validation.jsonl and RUN_DIR/best-optimizer.json \
            (the best-scoring φ). SIGTERM, SIGINT or SIGUSR1 finishes the \
            current horizon, writes a checkpoint and exits with status 0 on every rank. Under Open \
            MPI's mpirun, send SIGUSR1 to mpirun, which forwards it to every rank; mpirun answers \
            SIGTERM and Ctrl-C by killing the ranks itself after about a second, in which rank 0 \
            checkpoints the last horizon boundary (docs/checkpoints.md).

            Settings can come from a recipe and a run file as well as from flags: --recipe NAME, \
            then --config FILE, then the command line, each overriding the one before. A run file \
            is a JSON object keyed by this command's long option names, e.g. {"task": "mlp", \
            "meta-batch": 2, "p": 20} (null: not given), less those of one invocation or machine \
            (--config, --recipe, --print-config, --resume, --inject-fault, --verbose, --log-level, \
            --collective-timeout, --max-memory, --shards). Every run writes its settings, defaults \
            resolved, to RUN_DIR/config.json, so `train --config RUN_DIR/config.json` runs it again \
            (docs/usage.md, "Run files and recipes"). The last lines name the trained optimizer \
            and the command that evaluates it.

            Recipes (recipes/NAME.json in the repository, built into the program):
            \(recipeList)
            """)

    @Option(help: ArgumentHelp("Start from the settings of this named recipe (listed below); --config and flags override them.",
                               valueName: "name"))
    var recipe: String?

    @Option(name: .customLong("config"),
            help: ArgumentHelp("Read settings from this run file (JSON keyed by long option names, e.g. a RUN_DIR/config.json); they override the recipe's, and flags override them.",
                               valueName: "file.json"))
    var configFile: String?

    @Flag(help: "Print the settings this run would use (what RUN_DIR/config.json would hold) and exit without training.")
    var printConfig = false

    @OptionGroup var task: TaskOptions
    @OptionGroup var architecture: ArchitectureOptions

    @Option(help: "Functions per meta-step, over all ranks (default: \(TaskRegistry.describeDefaults { "\($0.metaBatch)" })).")
    var metaBatch: Int?

    @Option(help: "Functions that always run together in one block (default: \(TaskRegistry.describeDefaults { "\($0.blockSize)" })); one above --meta-batch makes one block of the whole meta-batch, the same run as --block-size equal to it. Keep it fixed to compare runs: ranks own whole blocks, so results are identical for any number of ranks with the same block size.")
    var blockSize: Int?

    @Option(help: "Truncation length T (optimizee steps per meta-step).")
    var unroll = 20

    @Option(help: "Optimization horizon K (steps per sampled function); a multiple of --unroll.")
    var horizon = 100

    @Option(help: "Meta-steps to train, in total including those before a resume (default: \(TaskRegistry.describeDefaults { "\($0.iterations)" })); 0 writes the untrained φ.")
    var iterations: Int?

    @Option(help: "Adam learning rate on φ (default: \(TaskRegistry.describeDefaults { shortNumber($0.learningRate) })).")
    var learningRate: Double?

    @Option(help: "Clip the mean meta-gradient to this global L2 norm (default: no clipping).")
    var clipNorm: Double?

    @Option(help: ArgumentHelp("Meta-train on randomly rescaled functions f(c ⊙ θ), each coordinate's factor c drawn from exp(U[−A, A)), or exp(U[LO, HI)) (0 < A ≤ 20; −20 ≤ LO < HI ≤ 20) (Lv et al. 2017's random scaling; docs/results.md). Default: off. Evaluation always uses the unscaled functions.",
                               valueName: "A|LO,HI"), transform: LogScaleRange.argument)
    var randomScaling: LogScaleRange?

    @Option(help: ArgumentHelp("Meta-train from rescaled starting points: each weight matrix and bias vector of θ₀ multiplied by its own factor exp(U[−A, A)), or exp(U[LO, HI)) (0 < A ≤ 20; −20 ≤ LO < HI ≤ 20; docs/results.md). Default: off. Evaluation always starts from the unscaled θ₀.",
                               valueName: "A|LO,HI"), transform: LogScaleRange.argument)
    var initialScaling: LogScaleRange?

    @Option(help: ArgumentHelp("Meta-train on a·f, with one factor a drawn from exp(U[−A, A)), or exp(U[LO, HI)) (0 < A ≤ 20; −20 ≤ LO < HI ≤ 20), per function: steps that follow the gradient's size are punished, normalised steps are not (docs/results.md). Default: off.",
                               valueName: "A|LO,HI"), transform: LogScaleRange.argument)
    var lossScaling: LogScaleRange?

    /// `--loss-normalization`: a `MetaLossNormalization` or none.
    enum LossNormalizationChoice: String, CaseIterable, ExpressibleByArgument {
        case initialLoss = "initial-loss"
        case truncationStart = "truncation-start"
        case off = "none"
    }

    @Option(help: ArgumentHelp("Divide each block's meta-loss by its functions' initial loss f(θ₀) (initial-loss), or each truncation's by their loss where the truncation starts, floored at 10⁻⁴ f(θ₀) (truncation-start: progress late in a horizon counts as much as early progress), so that no family of a mixture dominates the meta-gradient; validation then scores final over initial loss (docs/usage.md, \"Mixtures\"). Default: initial-loss for mix (it trained better there than none, docs/results.md), none for the other tasks.",
                               valueName: "initial-loss|truncation-start|none"))
    var lossNormalization: LossNormalizationChoice?

    @Option(help: ArgumentHelp("Start φ from this trained optimizer (fine-tuning) instead of a fresh initialisation; it must have this run's architecture (--hidden-size or --hidden-sizes, --preprocessing, --p, --output-scale); a file with one optimizer also starts each of the CNN's per-kind optimizers. Adam's state and the meta-step count start at zero, so --iterations counts the new meta-steps; use another --seed to draw functions the first run did not see. A checkpoint in RUN_DIR is resumed instead, as usual.",
                               valueName: "optimizer.json"))
    var initFrom: String?

    @Option(help: "Early stopping as in the paper: every this many meta-steps (at the next horizon boundary), at the start and at the last horizon boundary, score φ on validation functions by their mean final loss after one horizon; the best φ goes to RUN_DIR/best-optimizer.json, every score to RUN_DIR/validation.jsonl. 0: no validation. Default: 500 for the quadratics (the default job: its last φ depends on the kernel path's rounding), none for the other tasks.")
    var validateEvery: Int?

    @Option(help: "Validation functions (when the run validates: with --validate-every, or by the quadratics' default; default: 20); image tasks draw them from the training split.")
    var validationFunctions: Int?

    @Option(help: "Seed of the validation functions (when the run validates; default: the run seed + 2000003; it must differ from the run seed and from evaluate's default held-out seed, the run seed + 1000003).",
            transform: SeedArgument.parse)
    var validationSeed: UInt64?

    // "(default: 0)" by hand: argument-parser shows no default for an option parsed by a transform.
    @Option(help: "Run seed: every function is drawn from (seed, horizon index, task index). (default: 0)",
            transform: SeedArgument.parse)
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Meta-gradient: the paper's first-order approximation, or the exact one (\(TaskRegistry.plugins.filter { $0.supportsSecondOrder }.map { $0.name }.joined(separator: ", ")) only).",
                               valueName: "first-order|second-order"))
    var mode: MetaGradientMode = .firstOrder

    @Option(help: "Directory for metrics, checkpoints and the trained optimizer (default: runs/TASK).")
    var runDir: String?

    @Option(help: "Where to write the trained optimizer (default: RUN_DIR/optimizer.json).")
    var output: String?

    @Option(help: ArgumentHelp("Ranks per group that split each function's coordinates (docs/scaling.md): the ranks form groups of S, each group runs its share of the meta-batch's blocks, and each rank of a group runs the learned optimizer on 1/S of every function's coordinates (one allgather per unrolled step). It must divide the number of ranks; first-order mode only. φ is the same for any value. auto: 1 while there are at least as many blocks as ranks, else the smallest S that gives every group a block (1 in second-order mode: ranks past the blocks then wait, with a warning).",
                               valueName: "S|auto"))
    var shards: ShardCount = .auto

    @Option(help: "Checkpoint at the first horizon boundary at least this many meta-steps after the previous checkpoint (0: only at the end).")
    var checkpointEvery = 50

    @Option(help: "Checkpoints to keep.")
    var keepCheckpoints = 3

    @Flag(inversion: .prefixedNo, help: "Resume from the newest usable checkpoint in RUN_DIR if there is one.")
    var resume = true

    @Option(help: "Stop after this many consecutive meta-steps with a non-finite loss or meta-gradient.")
    var maxSkips = 5

    @Option(help: "Compare φ across ranks every this many meta-steps (0: only where it is always compared: on several ranks at every horizon boundary, so before each checkpoint and validation, and before the final optimizer file).")
    var consistencyEvery = 50

    @Option(help: "Print a progress line every this many meta-steps.")
    var progressEvery = 10

    @Option(help: ArgumentHelp("FOR TESTS ONLY: make rank RANK fail at the start of meta-step ITER (repeatable), counted from 0 as metrics.jsonl's iteration (the progress line shows iter ITER+1). KIND: kill, throw, abort, nan, perturb, stall (a 60 s meta-step; docs/checkpoints.md). With ATTEMPT, only in that attempt of a job restarted by launch/restart.sh ($METAOPT_RESTART_COUNT; unset = 0); without, in every process that reaches ITER.",
                               valueName: "KIND@ITER:RANK[:ATTEMPT]"))
    var injectFault: [String] = []

    @OptionGroup var runOptions: RunOptions

    func validate() throws {
        if let validateEvery, validateEvery < 0 {
            throw ValidationError("--validate-every must be a number of meta-steps, or 0 for no validation (got \(validateEvery))")
        }
        let config = try trainingConfig()
        if let problem = config.problems().first { throw ValidationError(problem) }
        if let runDir, runDir.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ValidationError("--run-dir must not be empty (it would put the run's files in the current directory)")
        }
        if let problem = OptionScope.problems(given: OptionScope.givenOnCommandLine, task: config.task, optimizer: config.optimizer,
                                              commandLine: { try? self.task.spec(family: $0) }).first {
            throw ValidationError(problem)
        }
        if let output {
            guard !output.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--output must not be empty") }
            let runDirectory = RunDirectory(FilePaths.url(runDirectoryPath(config)))
            if let own = runDirectory.ownFile(at: FilePaths.url(output)) {
                throw ValidationError("--output \(output) would overwrite the run's own \(own); choose another path")
            }
            // A run directory not made yet (an existing one is refused with the other directories
            // in the file's place, before training): the run would create it and train to the end
            // before failing to write the optimizer there.
            if runDirectory.liesWithin(FilePaths.url(output)) {
                throw ValidationError("--output \(output) is the run directory or a folder it is in; give a file's path (the optimizer is a file)")
            }
            if let configFile, FilePaths.same(FilePaths.url(output), FilePaths.url(configFile)) {
                throw ValidationError("--output \(output) is the run file of --config; the optimizer would replace it (choose another path)")
            }
            // The run's config.json names the --init-from file: replaced, the run could not be
            // made again from its settings.
            if let initFrom, FilePaths.same(FilePaths.url(output), FilePaths.url(initFrom)) {
                throw ValidationError("--output \(output) is the --init-from file; the trained optimizer would replace the one it started from (choose another path)")
            }
        }
        // A start from the run's own files: a fresh start moves best-optimizer.json aside before
        // reading it (the run then failed, its earlier files set aside), and optimizer.json was
        // replaced by the result (config.json named a file that no longer held the start).
        if let initFrom {
            let runDirectory = RunDirectory(FilePaths.url(runDirectoryPath(config)))
            let file = FilePaths.url(initFrom)
            let defaultOutput = output == nil && FilePaths.same(file, runDirectory.optimizer)
            if let own = runDirectory.ownFile(at: file) ?? (defaultOutput ? runDirectory.optimizer.lastPathComponent : nil) {
                throw ValidationError("--init-from \(initFrom) is the run's own \(own), which the run replaces or moves aside; copy it out of the run directory and give the copy")
            }
        }
        if let validation = config.validation, validation.seed == Evaluation.defaultSeed(trainingSeed: seed) {
            throw ValidationError("--validation-seed \(validation.seed) is the seed evaluate draws its held-out functions from by default (the run seed + 1000003): the φ chosen on them would be scored on them; give another")
        }
        if config.validation == nil && (validationSeed != nil || validationFunctions != nil) {
            throw ValidationError(validateEvery == 0 ? "--validation-functions and --validation-seed do not apply with --validate-every 0 (no validation)"
                                                     : "--validation-functions and --validation-seed need --validate-every (task \(config.task.name) does not validate by default)")
        }
        if let count = shards.count, count < 1 { throw ValidationError("--shards must be a positive number of ranks or auto, got \(count)") }
        // Needs no rank count, so here, before --print-config and MPI (it used to pass
        // --print-config and stop only at start-up).
        if let count = shards.count, count > 1, config.mode == .secondOrder {
            throw ValidationError("--shards \(count) needs the first-order mode: the second-order meta-gradient cannot be sharded (its Hessian-vector products couple a function's coordinates); use --shards 1 or leave --mode second-order out")
        }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must not be negative") }
        guard keepCheckpoints >= 1 else { throw ValidationError("--keep-checkpoints must be at least 1") }
        guard progressEvery >= 1 else { throw ValidationError("--progress-every must be positive") }
        for f in injectFault where FaultInjection(parsing: f) == nil {
            throw ValidationError("--inject-fault '\(f)' is not KIND@ITER:RANK[:ATTEMPT] with KIND one of \(FaultInjection.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func trainingConfig() throws -> TrainingConfig {
        let spec = try task.spec()
        return TrainingConfig(task: spec, optimizer: architecture.config(for: spec),
                              metaBatch: metaBatch ?? spec.defaultMetaBatch, blockSize: blockSize, unroll: unroll,
                              horizon: horizon, iterations: iterations ?? spec.defaultIterations,
                              learningRate: learningRate ?? spec.defaultLearningRate, clipNorm: clipNorm, seed: seed, mode: mode,
                              maxConsecutiveSkips: maxSkips, consistencyCheckEvery: consistencyEvery,
                              randomScaling: randomScaling, initialScaling: initialScaling, lossScaling: lossScaling,
                              initFrom: initFrom,
                              validation: (validateEvery ?? spec.defaultValidateEvery).flatMap { every in
                                  every == 0 ? nil : ValidationConfig(every: every, functions: validationFunctions ?? 20,
                                                                      seed: validationSeed ?? ValidationConfig.defaultSeed(trainingSeed: seed))
                              },
                              lossNormalization: lossNormalization.map { MetaLossNormalization(rawValue: $0.rawValue) }
                                  ?? (spec.settings is MixtureTask ? .initialLoss : nil))
    }

    func run() throws {
        let config = try trainingConfig()
        let settings = try effectiveSettings(config)
        if printConfig {
            print(settings.json(), terminator: "")
            return
        }
        let runDirectoryPath = runDirectoryPath(config)
        let runDirectory = RunDirectory(FilePaths.url(runDirectoryPath))
        withCommunicator(runOptions) { comm in
            setBLASThreads(1)
            let logger = Logger(label: "metaopt-dist.train")
            if comm.isRoot {
                logger.info("meta-training on \(comm.size) rank(s): \(config.task.name), meta-batch \(config.metaBatch) in \(config.blockCount) block(s) of \(config.functionsPerBlock), unroll \(config.unroll), horizon \(config.horizon), \(config.iterations) meta-steps")
            }
            let shardCount = shards.count ?? MetaTrainer.automaticShards(ranks: comm.size, config: config)
            try endIfAnyRankRefuses(comm, startupRefusal(config: config, ranks: comm.size, shards: shardCount))
            if comm.isRoot && shardCount > 1 {
                logger.info("\(comm.size / shardCount) group(s) of \(shardCount) ranks: each function's coordinates are split over \(shardCount) ranks")
            }
            let idleGroups = comm.size / shardCount - config.blockCount
            if comm.isRoot && idleGroups > 0 {
                let idle = shardCount > 1 ? "\(idleGroups) of \(comm.size / shardCount) groups of \(shardCount) ranks" : "\(idleGroups) of \(comm.size) ranks"
                let remedy = config.mode == .secondOrder ? "second-order meta-gradients cannot split a function over ranks: give a smaller --block-size or fewer ranks"
                    : "give a smaller --block-size, fewer ranks, or --shards auto"
                logger.warning("\(idle) own no block of the meta-batch (\(config.blockCount) block(s)) and only wait for the others: \(remedy)")
            }
            let run: TrainingRun
            do {
                run = try TrainingRun(
                    config: config, communicator: comm,
                    options: .init(runDirectory: runDirectory, output: output.map { FilePaths.url($0) },
                                   checkpointEvery: checkpointEvery, keepCheckpoints: keepCheckpoints,
                                   progressEvery: progressEvery, shards: shardCount),
                    resume: resume, logger: logger, activity: { comm.watchdog.setActivity($0) })
            } catch let error as CheckpointResumeError where error.onEveryRank {
                // Every rank has the same message (rank 0 could not resume): each prints it and
                // the job ends cleanly, with status 65 when a restart would be refused the same
                // way (another configuration, no usable checkpoint), else 1. MPI_Abort here would
                // race the other ranks' messages and make mpirun print errors of its own.
                endTogether(comm, error, status: error.repeatsOnRestart ? Self.repeatsOnRestartStatus : 1)
            } catch let error as TrainingError where error.repeatsOnRestart {
                endTogether(comm, error, status: Self.repeatsOnRestartStatus)
            }
            // Only now: until here (loading the checkpoint and the data, drawing the functions) a
            // stop signal has its default effect and ends the process at once, which loses nothing
            // (no meta-step was done; the checkpoints and logs are as they were) and, under mpirun,
            // ends the job. From here on the run polls the flag: between meta-steps, and between
            // the steps of a validation.
            StopSignals.install(noticeLauncherKill: comm.isRoot && LaunchEnvironment.atLaunch.launcher == .openMPI) {
                [checkpointer = run.checkpointer] in
                let (step, failure) = checkpointer.writeLastBoundary()
                if let step {
                    Console.error("metaopt-dist: wrote the checkpoint of meta-step \(step), the last horizon boundary, before mpirun's kill\n")
                } else if let failure {
                    Console.error("metaopt-dist: could not write the last horizon boundary's checkpoint before mpirun's kill: \(failure)\n")
                }
            }
            if comm.isRoot {
                // After the resume check, so that a run refused for another configuration leaves
                // the directory's config.json as it was.
                try ResultFile.writeAtomically(Data(settings.json().utf8), to: runDirectory.config)
                logger.info("wrote the run's settings to \(joinedPath(runDirectoryPath, "config.json"))")
            }
            let attempt = FaultInjection.attempt(environment: ProcessInfo.processInfo.environment)
            let faults = injectFault.compactMap(FaultInjection.init(parsing:))
            run.trainer.faults = faults.filter { $0.applies(toAttempt: attempt) }
            if comm.isRoot && !faults.isEmpty {
                logger.warning("fault injection (for tests): \(run.trainer.faults.isEmpty ? "none armed" : run.trainer.faults.map(\.description).joined(separator: ", ")) in attempt \(attempt)")
            }
            if comm.isRoot && !run.trainer.kernels.isUniform {
                logger.notice("ranks run different kernel paths (\(run.trainer.kernels)): φ is the same on every rank, but differs in its last bits from a run on one path")
            }
            if comm.isRoot && run.trainer.blasKernels.hasPrefix("mixed") {
                logger.notice("ranks run OpenBLAS's kernels for different cores, rank 0 those of \(blasCoreName) (OPENBLAS_CORETYPE pins one; the files record \"\(run.trainer.blasKernels)\"): φ is the same on every rank, but an image task's differs in its last bits from a run on one kind of node")
            }
            run.stopRequested = { stopSignalReceived.load(ordering: .relaxed) }
            run.stepTimed = { comm.watchdog.noteStep(seconds: $0) }
            logger.debug("owns blocks \(run.trainer.ownedBlocks.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", "))")
            let outcome: TrainingRun.Outcome
            do {
                outcome = try run.run()
            } catch let error as TrainingError where error.repeatsOnRestart {
                endTogether(comm, error, status: Self.repeatsOnRestartStatus)
            }
            if comm.isRoot, case .stopped(let it) = outcome {
                logger.notice("stopped at meta-step \(it) after a signal; run again to resume")
                // launch/slurm.sbatch requeues a job stopped by SIGUSR1; one sent to the ranks, not
                // to its shell (`scancel --signal=USR1` without --batch), ends mpirun with 0 as a
                // finished run does, and only this file tells the two apart. (SIGTERM and SIGINT
                // stop a job for good.)
                if stopSignalWasUSR1.load(ordering: .relaxed),
                   let marker = ProcessInfo.processInfo.environment["METAOPT_STOPPED_FILE"], !marker.isEmpty,
                   !FileManager.default.createFile(atPath: marker, contents: nil) {
                    logger.warning("cannot create \(marker) (METAOPT_STOPPED_FILE): launch/slurm.sbatch will take this stop for the run's end and not requeue the job")
                }
            }
            if comm.isRoot {
                // Unbuffered, so that the lines come out even if a later step of the shutdown fails.
                let lines = finalLines(outcome: outcome, run: run, runDirectoryPath: runDirectoryPath)
                // Informational: a closed or full standard output must not fail a finished run.
                try? Console.output(lines.map { $0 + "\n" }.joined())
                if Console.droppedMessageCount > 0 {
                    try? Console.output("metaopt-dist: \(Console.droppedMessageCount) log line(s) could not be written to standard error\n")
                }
            }
        }
    }

    /// The checks that need the rank count (so not in validate()), on this rank: the message and
    /// exit status of the first that fails, or nil.
    func startupRefusal(config: TrainingConfig, ranks: Int, shards: Int) -> (message: String, status: Int32)? {
        if let fault = injectFault.compactMap(FaultInjection.init(parsing:)).first(where: { $0.rank >= ranks }) {
            // A usage error, as --shards for the rank count (status 1 was retried by restart.sh).
            return ("--inject-fault \(fault.description) names rank \(fault.rank), but the job has \(ranks) rank(s) (0…\(ranks - 1))", 64)
        }
        // A fault the run never reaches was accepted and did nothing (against the iterations in
        // effect, from the command line, a run file or the task's default).
        if let fault = injectFault.compactMap(FaultInjection.init(parsing:)).first(where: { $0.iteration >= config.iterations }) {
            return ("--inject-fault \(fault.description): meta-step \(fault.iteration) is never reached by --iterations \(config.iterations) (ITER counts from 0)", 64)
        }
        // Settings that do not fit the data (a CNN with more poolings than its images allow)
        // are known once the data set is read, and are usage errors; a damaged file is bad data,
        // which restart.sh must not retry (it did, on status 1); a missing or unreadable file
        // ends the run with 1, which restart.sh retries (a file system not mounted yet), here
        // before --no-resume sets the earlier run aside (it did, then failed to load the data).
        if let problem = runOptions.addressSpaceProblem() { return (problem, 64) }
        var coordinates: Int?
        do { coordinates = try config.task.dimension() } catch let error as DataError where error.isConfigurationProblem {
            return (error.description, 64)
        } catch let error as DataError where error.isDamagedFile {
            return (error.description, Self.repeatsOnRestartStatus)
        } catch let error as DataError {
            return (error.description, 1)
        } catch {}
        let limit = runOptions.memoryLimit()
        if let coordinates,
           let problem = MemoryEstimate.trainingProblem(config, coordinates: coordinates, ranks: ranks, shards: shards,
                                                        limit: limit.bytes, limitSource: limit.source) {
            return (problem, 64)
        }
        let sharding = MetaTrainer.shardingProblems(shards: shards, ranks: ranks, config: config)
        if !sharding.isEmpty { return ("--shards: " + sharding.joined(separator: "; "), 64) }
        return nil
    }

    /// The exit status of a run that stopped for a reason a restart would meet again (EX_DATAERR):
    /// launch/restart.sh does not restart it.
    static let repeatsOnRestartStatus: Int32 = 65

    /// Ends this rank after the ranks agreed to stop (in a collective, so none waits in one):
    /// it prints `message` when given, and exits with `status`.
    func endTogether(_ comm: MPICommunicator, _ message: (any CustomStringConvertible)?, status: Int32) -> Never {
        if let message { Console.error("metaopt-dist: rank \(comm.rank): \(message)\n") }
        try? MPIRuntime.finalize()
        Foundation.exit(status)
    }

    /// Ends the job when any rank refuses to start, every rank at once with the highest status.
    /// The ranks need not agree: the default memory limit is the host's memory shared by its
    /// ranks, which differs between hosts. So one MAX allreduce decides, before the first other
    /// collective, and no rank is left waiting in it; a refusing rank prints its reason, rank 0
    /// says so when only others refused.
    func endIfAnyRankRefuses(_ comm: MPICommunicator, _ refusal: (message: String, status: Int32)?) throws {
        var status: [Int64] = [Int64(refusal?.status ?? 0)]
        try comm.allreduce(&status, .max)
        guard status[0] != 0 else { return }
        let message = refusal?.message ?? (comm.isRoot ? "another rank refused to start; its message says why" : nil)
        endTogether(comm, message, status: Int32(status[0]))
    }

    /// The directory the program runs in when it is not where the user started it: launch/local.sh
    /// and hostfile.sh run it from the repository root and name the directory they were started
    /// in (METAOPT_LAUNCH_DIR). nil when they are the same (or either is unknown).
    static var directoryUnlikeTheCallers: String? {
        guard let launch = ProcessInfo.processInfo.environment["METAOPT_LAUNCH_DIR"], let here = FilePaths.currentDirectory(),
              !FilePaths.same(FilePaths.url(launch), FilePaths.url(here)) else { return nil }
        return here
    }

    /// `path` as the user can use it where they started the program: a relative path printed
    /// absolute when the program runs elsewhere (`directoryUnlikeTheCallers`), so that the printed
    /// commands run where the user is.
    static func forCaller(_ path: String) -> String {
        guard !path.hasPrefix("/"), let here = directoryUnlikeTheCallers else { return path }
        let absolute = FilePaths.url(joinedPath(here, path)).standardizedFileURL.path
        return path.hasSuffix("/") ? absolute + "/" : absolute
    }

    /// Rank 0's last lines: where the trained optimizer is and the command that evaluates it (the
    /// best-scoring φ when the run validated), or how to resume a stopped run.
    func finalLines(outcome: TrainingRun.Outcome, run: TrainingRun, runDirectoryPath: String) -> [String] {
        let program = invocationName()
        let givenPath = runDirectoryPath
        let runDirectoryPath = Self.forCaller(runDirectoryPath)
        let configFile = joinedPath(runDirectoryPath, "config.json")
        if case .stopped = outcome {
            // config.json keeps every relative path (run directory, --output, --data-dir,
            // --init-from) relative to where the program ran: from elsewhere, the command goes
            // there first, or it would start a fresh run in another directory.
            // A job of several ranks resumes as it was started (the program's name alone would
            // continue it on one rank).
            let relaunch = LaunchEnvironment.atLaunch.relaunchCommand(
                environment: ProcessInfo.processInfo.environment, runsAsRoot: geteuid() == 0,
                cores: LaunchEnvironment.physicalCores() ?? max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                ranks: run.trainer.communicator.size)
            let caveat = relaunch.caveat.map { [$0] } ?? []
            if let here = Self.directoryUnlikeTheCallers {
                let command = relaunch.command(program: program, arguments: "train --config \(shellQuotedPath(joinedPath(givenPath, "config.json")))")
                return caveat + ["resume with: cd \(shellQuoted(here)) && \(command)"]
            }
            return caveat + ["resume with: \(relaunch.command(program: program, arguments: "train --config \(shellQuotedPath(configFile))"))"]
        }
        let final = output.map(Self.forCaller) ?? joinedPath(runDirectoryPath, "optimizer.json")
        var lines = ["trained optimizer: \(final) (meta-step \(run.trainer.state.iteration))"]
        var evaluate = final
        if let best = run.bestScore {
            let file = joinedPath(runDirectoryPath, "best-optimizer.json")
            lines.append("best optimizer by validation: \(file) (meta-step \(best.iteration), mean final loss \(best.meanFinalLoss))")
            evaluate = file
        } else if let logged = run.bestLogged {
            // A resume found best-optimizer.json gone (or set it aside) and nothing beat the best since.
            lines.append("best optimizer by validation: none: validation.jsonl's best, meta-step \(logged.iteration) (mean final loss \(logged.meanFinalLoss)), was lost with its best-optimizer.json before this run resumed, and no later validation beat it")
        }
        lines.append("settings: \(configFile)")
        lines.append("evaluate with: \(program) evaluate --optimizer \(shellQuotedPath(evaluate))")
        return lines
    }
}

/// `--shards`: a number of ranks per group, or `auto`.
enum ShardCount: ExpressibleByArgument, Equatable {
    case auto
    case fixed(Int)

    init?(argument: String) {
        if argument == "auto" {
            self = .auto
        } else if let n = Int(argument) {
            self = .fixed(n)
        } else {
            return nil
        }
    }

    /// The fixed count, nil for auto.
    var count: Int? {
        if case .fixed(let n) = self { return n }
        return nil
    }

    var defaultValueDescription: String {
        switch self {
        case .auto: return "auto"
        case .fixed(let n): return "\(n)"
        }
    }
}

extension TrainingError {
    /// Whether every rank stops with this error at the same point, for a reason that a restart
    /// from the newest checkpoint would meet again: the skipped meta-steps come back with the same
    /// functions (drawn from their keys), and the ranks' arguments and data stay what they were.
    var repeatsOnRestart: Bool {
        switch self {
        case .tooManySkips, .configurationDiffersAcrossRanks, .dataDiffersAcrossRanks: return true
        case .invalidConfiguration, .ranksDiverged, .injectedFault, .alreadyFinished: return false
        }
    }
}
