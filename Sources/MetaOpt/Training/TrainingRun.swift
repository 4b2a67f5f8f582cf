import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Drives a `MetaTrainer` to the end: progress, metrics lines, checkpoints at horizon boundaries,
/// a clean stop when asked (every rank agrees on the step), and the final optimizer file.
package final class TrainingRun {
    package struct Options: Sendable {
        package var runDirectory: RunDirectory
        /// Optimizer file to write at the end (default: in the run directory).
        package var output: URL?
        /// Write a checkpoint at the first horizon boundary at least this many meta-steps after the last one (0: only the final one, at the end).
        package var checkpointEvery: Int
        package var keepCheckpoints: Int
        /// Print a progress line every this many meta-steps.
        package var progressEvery: Int
        /// Rank 0 redraws RUN_DIR/plot.svg after this many seconds of wall time since the last
        /// drawing, and once at the end (nil: never).
        package var plotEvery: Double?
        /// Ranks per group that split each function's coordinates (`MetaTrainer.shards`); nil:
        /// `MetaTrainer.automaticShards`.
        package var shards: Int?
        package init(runDirectory: RunDirectory, output: URL? = nil, checkpointEvery: Int = 100,
                    keepCheckpoints: Int = 3, progressEvery: Int = 10, plotEvery: Double? = 120, shards: Int? = nil) {
            self.shards = shards
            self.runDirectory = runDirectory
            self.output = output
            self.checkpointEvery = checkpointEvery
            self.keepCheckpoints = keepCheckpoints
            self.progressEvery = progressEvery
            self.plotEvery = plotEvery
        }
    }

    package enum Outcome: Equatable, Sendable {
        case finished
        /// Stopped on request at a horizon boundary, after writing a checkpoint.
        case stopped(iteration: Int)
    }

    package let trainer: MetaTrainer
    package let options: Options
    let logger: Logger
    let store: CheckpointStore
    /// Rank 0's checkpoint writes, which another thread may add to when mpirun is about to kill the
    /// job (`BoundaryCheckpointer.writeLastBoundary`).
    package let checkpointer: BoundaryCheckpointer
    /// Whether the run continues from a checkpoint (the same on every rank).
    package let resumed: Bool
    /// This process (version, commit, command line) and the job's kernels: recorded in every file
    /// the run writes. Each (re)start writes its own, so a resumed run's files name the binary
    /// that continued it.
    package let provenance: Provenance
    /// Rank 0: the kernel paths that trained φ, in the order the run's (re)starts ran them
    /// (`KernelHistory`): the optimizer files' and checkpoints' record of what decides φ's last bits.
    package let trainedKernels: String
    /// Scores φ on the validation functions (every rank), when the configuration asks for it.
    let validator: ValidationScorer?
    /// Rank 0: the score of the φ in RUN_DIR/best-optimizer.json. After a resume it may come from
    /// a validation after the checkpoint, which the resumed run repeats.
    package private(set) var bestScore: ValidationScore?
    /// The meta-step whose φ the ranks were last found to agree on (`checkAgreement`).
    private var agreedAt: Int?
    /// Rank 0: the checkpoint store's warnings logged so far. Pruning repeats them at every
    /// checkpoint (a directory named like a checkpoint, a file that cannot be removed); each is
    /// logged once per run.
    private var loggedStoreWarnings: Set<String> = []
    /// Rank 0: the lowest score in validation.jsonl and its meta-step, which decides each line's
    /// "best" flag, so that a resumed run writes the lines an uninterrupted one does. After a
    /// resume whose best-optimizer.json was lost, `bestScore` is nil while this is not.
    package private(set) var bestLogged: (iteration: Int, meanFinalLoss: Double)?
    /// Rank 0: the run directory's lock, held for the whole run (released when this run is freed or
    /// the process ends).
    private let lock: RunLock?
    /// A resumed run whose checkpoint is at a validation point that validation.jsonl has no score
    /// for (a stop during that validation abandoned it) validates before its first meta-step
    /// (`ValidationLog.validatesAtResume`). Rank 0 reads the log; the decision is broadcast, so
    /// every rank agrees.
    private let validatesAtResume: Bool
    /// Polled once per meta-step on every rank; the ranks agree through a MAX allreduce.
    package var stopRequested: () -> Bool {
        get { trainer.stopRequested }
        set { trainer.stopRequested = newValue }
    }
    /// Told what the run does next ("meta-step N", "validation at meta-step N", "checkpoint at
    /// meta-step N", "the final write") and how long it may take, so that a watchdog can name it
    /// and give it time (every rank).
    package var activity: (RunActivity) -> Void = { _ in }
    /// Validations so far (every rank alike): the meta-step after one waits for rank 0's write.
    private var validationCount = 0
    /// Rank 0: the meta-steps metrics.jsonl holds after the resume's truncation and its length, for
    /// the `LivePlot` to start from; emptied when it takes them.
    private var loggedSteps: (steps: [TrainingLog.Step], bytes: Int) = ([], 0)
    /// Rank 0: warns once when a window of meta-steps is no better than the untrained start; nil
    /// where that start is no yardstick (`stallWatch(config:logged:startIteration:)`).
    private var stallWatch: StallWatch?
    /// Told the wall time of every meta-step in seconds (every rank): a watchdog's deadline.
    package var stepTimed: (Double) -> Void = { _ in }
    /// Receives every progress line (rank 0).
    package var progress: (String) -> Void = { line in Console.error(line + "\n") }

    /// Rank 0 first checks that every file the run will write can be written (`checkWriteTargets`)
    /// and takes the run directory's lock (`RunLock`), before it reads or writes anything else.
    /// Then it loads the newest usable checkpoint (when `resume` and one exists) and builds the
    /// trainer from it, or starts fresh. Other ranks receive the state by broadcast, and a refusal
    /// of rank 0 (a path, the lock, a checkpoint) reaches every rank as the same
    /// `CheckpointResumeError`.
    package init(config: TrainingConfig, communicator: any Communicator, options: Options, resume: Bool,
                logger: Logger = Logger(label: "metaopt-dist.train"), activity: @escaping (RunActivity) -> Void = { _ in }) throws {
        self.options = options
        self.logger = logger
        self.activity = activity
        // --checkpoint-every decides when the ranks meet in a checkpoint's collectives: a rank with
        // another interval would meet the others in the wrong one (MPI_ERR_TRUNCATE, unexplained).
        guard try communicator.allAgree(on: UInt64(bitPattern: Int64(options.checkpointEvery))) else {
            throw CheckpointResumeError(message: "the ranks were started with different --checkpoint-every (check that every rank got the same arguments)",
                                        onEveryRank: true, repeatsOnRestart: true)
        }
        store = CheckpointStore(directory: options.runDirectory.checkpoints, keep: options.keepCheckpoints)
        var resumeState: TrainerState? = nil
        var resumedKernels: String? = nil
        var failure: String? = nil
        // Whether `failure` would come back on a restart (CheckpointResumeError.repeatsOnRestart).
        var failureRepeats = false
        // The earlier run's logs to set aside once the start goes ahead (`setAsideEarlierLogs`).
        var setAside: (reason: String, replacing: Bool)? = nil
        var lock: RunLock? = nil
        if communicator.isRoot {
            do {
                try Self.checkWriteTargets(options)
                lock = try RunLock(directory: options.runDirectory.url.path)
            } catch let error as RunLockError {
                failure = "\(error)"
            } catch {
                failure = "refusing to start, a file of this run could not be written: \(error)"
                failureRepeats = Self.writeRefusalRepeats(error)
            }
        }
        self.lock = lock
        if lock != nil {
            for path in options.runDirectory.removeLeftoverTemporaries() {
                logger.notice("removed \(path), left by a write that was interrupted")
            }
        }
        if communicator.isRoot && failure == nil && resume {
            do {
                if let (checkpoint, url, warnings) = try store.loadLatest(TrainingConfig.self) {
                    for w in warnings { logger.warning("\(w)") }
                    let problems = TrainerCheckpoint.compatibilityProblems(saved: checkpoint.metadata.configuration, current: config)
                    if problems.isEmpty, checkpoint.metadata.metaStep > config.iterations {
                        // Resuming would write φ of a later step labelled with fewer meta-steps.
                        failure = "\(url.path) is at meta-step \(checkpoint.metadata.metaStep), past --iterations \(config.iterations) "
                            + "(the total count, including the meta-steps before a resume): give --iterations \(checkpoint.metadata.metaStep) or more, "
                            + "or --no-resume to start over"
                        failureRepeats = true
                    } else if problems.isEmpty {
                        resumeState = try TrainerCheckpoint.state(from: checkpoint, source: url.path)
                        resumedKernels = TrainerCheckpoint.trainedKernels(of: checkpoint)
                        logger.info("resuming from \(url.path) at iteration \(resumeState!.iteration)")
                    } else {
                        failure = "\(url.path): " + problems.joined(separator: "\n")
                        failureRepeats = true
                    }
                } else {
                    // A fresh start; files the store passes over are still worth a word, and an
                    // earlier run's logs (one that stopped before its first checkpoint) are set
                    // aside as --no-resume sets them aside: they were emptied, and its best
                    // optimizer kept, without the scores that chose it.
                    for w in try store.ignoredFileWarnings() { logger.warning("\(w)") }
                    setAside = (reason: "no checkpoint to resume", replacing: false)
                }
            } catch {
                failure = "\(error)"
                // Damaged or unusable checkpoints stay so; a read that failed may not.
                failureRepeats = Self.repeatsOnRestart(error)
            }
        } else if communicator.isRoot && failure == nil {
            setAside = (reason: "not resuming", replacing: true)
        }
        // No checkpoint to resume: a fresh start, from the --init-from file if there is one. Read
        // before anything of the earlier run is moved: a start refused for it moved nothing.
        var warmState: TrainerState? = nil
        if communicator.isRoot && failure == nil && resumeState == nil, let source = config.initFrom {
            do {
                warmState = try Self.warmStart(config: config, from: FilePaths.url(source))
                logger.info("starting φ from \(source)")
            } catch {
                failure = "\(error)"
                failureRepeats = true
            }
        }
        // Starting over (--no-resume): checkpoints of an earlier run in this directory would
        // otherwise be resumed after a crash of this one (a higher step wins), so they are set aside.
        if communicator.isRoot && failure == nil, setAside?.replacing == true {
            do {
                if let moved = try Self.setAsideCheckpoints(of: options.runDirectory) {
                    logger.notice("not resuming: moved the checkpoints of the earlier run to \(moved.path)")
                }
            } catch {
                failure = "cannot set aside the checkpoints of the earlier run: \(error)"
            }
        }
        // An entry with a checkpoint's name that is no regular file is passed over on loading,
        // but the run could not write its checkpoint there when it gets to that step: found
        // after the training up to it, and again after every restart. Refused now.
        if communicator.isRoot && failure == nil,
           let obstacle = Self.checkpointObstacle(in: store, after: resumeState?.iteration ?? 0, upTo: config.iterations) {
            failure = obstacle
            failureRepeats = true
        }
        // The earlier run's logs, set aside only by a start that goes ahead.
        if communicator.isRoot && failure == nil, let setAside {
            do {
                try Self.setAsideEarlierLogs(of: options.runDirectory, reason: setAside.reason, replacing: setAside.replacing,
                                             logger: logger)
            } catch {
                failure = "cannot set aside the logs of the earlier run: \(error)"
            }
        }
        // launch/restart.sh drops --no-resume from its restarts once a start over has gone ahead.
        if communicator.isRoot && failure == nil, setAside?.replacing == true,
           let marker = ProcessInfo.processInfo.environment["METAOPT_STARTED_OVER_FILE"], !marker.isEmpty,
           !FileManager.default.createFile(atPath: marker, contents: nil) {
            logger.warning("cannot create \(marker) (METAOPT_STARTED_OVER_FILE): launch/restart.sh will keep --no-resume on its restarts, which start over again")
        }
        // Every rank learns whether rank 0 resumed or could not, and why, so that all stop
        // together with the same message on a bad checkpoint (no rank waits for another).
        // 0: a fresh start, 1: a resume, 2: a refusal, 3: a refusal that a restart would repeat.
        // With it, the length of the logs rank 0 reads below (`RunActivity.readingLogs`).
        var flag: [Int64] = [failure != nil ? (failureRepeats ? 3 : 2) : resumeState != nil ? 1 : 0,
                             communicator.isRoot ? Self.logBytes(of: options.runDirectory) : 0]
        try communicator.broadcast(&flag, root: 0)
        if flag[0] >= 2 {
            let message = try communicator.broadcast(value: failure ?? "", root: 0)
            throw CheckpointResumeError(message: message, onEveryRank: true, repeatsOnRestart: flag[0] == 3)
        }
        resumed = flag[0] == 1
        trainer = try MetaTrainer(config: config, communicator: communicator, resumeFrom: resumeState ?? warmState,
                                  shards: options.shards ?? MetaTrainer.automaticShards(ranks: communicator.size, config: config))
        provenance = Provenance.current(kernels: trainer.kernels.description, blas: trainer.blasKernels)
        trainedKernels = KernelHistory.appending(trainer.kernels.description, to: resumedKernels)
        checkpointer = BoundaryCheckpointer(store: store, config: trainer.config, provenance: provenance, trainedKernels: trainedKernels,
                                            lock: lock, logs: [options.runDirectory.metrics, options.runDirectory.validationLog],
                                            written: resumed ? trainer.state.iteration : nil)
        if let resumedKernels, trainedKernels != resumedKernels {
            logger.notice("the checkpoint's φ was trained on kernels \(resumedKernels), this job runs \(trainer.kernels): φ differs in its last bits from a run on one path; the optimizer file records \"\(trainedKernels)\"")
        }
        validator = try config.validation.map {
            try ValidationScorer(config: $0, training: config, communicator: communicator)
        }
        var validatesFirst = false
        // Rank 0 reads its logs whole next (a resume drops what follows the checkpoint), which for
        // a long run takes minutes, past the start-up deadline of the ranks waiting for it: they
        // learnt how long the logs are with the start's flag.
        activity(RunActivity.readingLogs(bytes: Int(flag[1])))
        if communicator.isRoot {
            try FileManager.default.createDirectory(at: options.runDirectory.url, withIntermediateDirectories: true)
            let (undecodable, keptSteps, keptBytes) = try MetricsLog.truncated(options.runDirectory.metrics, lines: TrainingLog.Step.self,
                                                                               before: trainer.state.iteration)
            if options.plotEvery != nil { loggedSteps = (keptSteps, keptBytes) }
            stallWatch = Self.stallWatch(config: config, logged: resumed ? keptSteps : [], startIteration: trainer.state.iteration)
            // A fresh start drops every line anyway.
            if resumed, let warning = MetricsLog.undecodableLinesWarning(options.runDirectory.metrics, lines: undecodable) {
                logger.warning("\(warning)")
            }
            if config.validation != nil {
                (bestScore, bestLogged, validatesFirst) = try Self.prepareValidationFiles(
                    of: options.runDirectory, config: config, resumedAt: resumed ? trainer.state.iteration : nil, logger: logger)
            }
        }
        // Every rank waits here, under the deadline for the logs, until rank 0 has read them: a
        // rank that went on would wait in the first meta-step, whose deadline is the start-up's.
        var validatesNow: [Int64] = [config.validation != nil && resumed && validatesFirst ? 1 : 0]
        try communicator.broadcast(&validatesNow, root: 0)
        validatesAtResume = validatesNow[0] == 1
        activity(RunActivity.startUp)
    }

    /// Rank 0, before anything else: every file the run must write is a regular file or missing,
    /// and its directory can be written, with names that fit (`FileIO.checkWritable`), so that a
    /// bad --output is refused before the training rather than after it. That includes a
    /// checkpoint in RUN_DIR/checkpoints: every run writes one at its end. Not plot.svg: a drawing
    /// that fails only logs a warning, by design.
    static func checkWriteTargets(_ options: Options) throws {
        let run = options.runDirectory
        // Checkpoint names have a fixed width, so any step stands for all.
        let checkpoint = run.checkpoints.appendingPathComponent(CheckpointStore.fileName(step: 0))
        for url in [run.config, run.metrics, run.validationLog, run.bestOptimizer, options.output ?? run.optimizer, checkpoint] {
            try FileIO.checkWritable(FileIO.filePath(url))
        }
    }

    /// The first entry of `store` with the name of this run's checkpoint of a step in
    /// `start + 1 ... end` (`CheckpointStore.fileName(step:)`) that the checkpoint's write would
    /// refuse (`FileIO.writeTarget`: not a regular file nor a link to one), as a refusal; nil when
    /// there is none. Other names that parse as a step (`ckpt-4.mopt`) are never written to.
    static func checkpointObstacle(in store: CheckpointStore, after start: Int, upTo end: Int) -> String? {
        for (step, url) in (try? store.checkpointFiles()) ?? [] where step > start && step <= end
            && url.lastPathComponent == CheckpointStore.fileName(step: step) {
            do { _ = try FileIO.writeTarget(url.path) } catch {
                return "\(error), where this run may write its checkpoint of meta-step \(step): move it away"
            }
        }
        return nil
    }

    /// Rank 0, at a fresh start: an earlier run's logs and best optimizer, set aside together
    /// (RUN_DIR/*.previous.*) whether or not this run validates: the fresh start would empty the
    /// logs, and a best optimizer left behind would stand without the scores that chose it.
    /// `replacing` (--no-resume): over the files an older start set aside. Otherwise (a resume
    /// that found no checkpoint: most often this run's own attempt that stopped before its first
    /// one, under launch/restart.sh after a --no-resume) nothing is moved when any of those is
    /// there: the set aside stays one run's, and the start redoes the attempt's lines.
    static func setAsideEarlierLogs(of directory: RunDirectory, reason: String, replacing: Bool, logger: Logger) throws {
        let fm = FileManager.default
        let pairs = [(directory.metrics, directory.previousMetrics), (directory.validationLog, directory.previousValidationLog),
                     (directory.bestOptimizer, directory.previousBestOptimizer)]
        let files = pairs.filter { holdsBytes($0.0) }
        if !replacing, pairs.contains(where: { fm.fileExists(atPath: $0.1.path) }) {
            // An older run's set lies there: kept whole. The logs are rewritten from the start as
            // always; a best-optimizer.json stays until this run's first validation replaces it.
            if !files.isEmpty {
                logger.notice("\(reason): the logs start again from meta-step 0 (the *.previous.* files hold an older run's, kept)")
            }
            return
        }
        for (file, previous) in files {
            if fm.fileExists(atPath: previous.path) { try fm.removeItem(at: previous) }
            try fm.moveItem(at: file, to: previous)
            logger.notice(file == directory.bestOptimizer
                ? "\(reason): moved the earlier run's best optimizer to \(previous.path)"
                : "\(reason): moved the earlier run's \(file.lastPathComponent) to \(previous.path)")
        }
    }

    /// Whether the file at `url` is there and not empty.
    private static func holdsBytes(_ url: URL) -> Bool { bytes(of: url) > 0 }

    /// The size of the file at `url`, 0 when there is none.
    private static func bytes(of url: URL) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
    }

    /// The bytes of the run directory's metrics.jsonl and validation.jsonl (0 for what is not there).
    static func logBytes(of run: RunDirectory) -> Int64 {
        Int64(bytes(of: run.metrics) + bytes(of: run.validationLog))
    }

    /// Rank 0, before a run with validation. Resuming at meta-step `resumedAt`: drops the log lines
    /// after it (they will be redone) and returns the score in the best-optimizer file, which may
    /// come from a later validation of the interrupted run (the resumed run reproduces it), the
    /// lowest score left in the log, and whether the run validates φ of `resumedAt` before its
    /// first meta-step (`ValidationLog.validatesAtResume`, decided from the lines kept). A file that
    /// is missing, unreadable or of another configuration while the log has a best is warned
    /// about: that φ is lost, and only a validation that beats the logged best writes a new file.
    /// Starting afresh: empties the log; an earlier run's best-optimizer file was set aside before
    /// (`setAsideEarlierLogs`) or stays until the first validation replaces it.
    static func prepareValidationFiles(of runDirectory: RunDirectory, config: TrainingConfig, resumedAt: Int?, logger: Logger) throws
        -> (file: ValidationScore?, logged: (iteration: Int, meanFinalLoss: Double)?, validatesAtResume: Bool) {
        let fm = FileManager.default
        let best = runDirectory.bestOptimizer
        let log = runDirectory.validationLog
        let undecodable = try MetricsLog.truncate(log, lines: TrainingLog.Validation.self, before: resumedAt.map { $0 + 1 } ?? 0)
        if resumedAt != nil, let warning = MetricsLog.undecodableLinesWarning(log, lines: undecodable) {
            logger.warning("\(warning)")
        }
        let contents = fm.contents(atPath: log.path) ?? Data()
        let logged = ValidationLog.best(in: contents)
        var validatesFirst = false
        if let resumedAt, let validation = config.validation {
            validatesFirst = ValidationLog.validatesAtResume(resumedAt, validation: validation,
                                                             truncationsPerHorizon: config.truncationsPerHorizon,
                                                             lastIteration: config.iterations, in: contents)
        }
        guard fm.fileExists(atPath: best.path) else {
            if resumedAt != nil, let logged {
                logger.warning("\(best.path) is missing although validation.jsonl records a best at meta-step \(logged.iteration) (mean final loss \(logged.meanFinalLoss)): its φ cannot be recovered; the next validation that beats it writes a new best-optimizer.json")
            }
            return (nil, logged, validatesFirst)
        }
        if resumedAt != nil {
            let nextBest = logged.map { "; the next validation that beats the best logged score (\($0.meanFinalLoss) at meta-step \($0.iteration)) writes a new best-optimizer.json" } ?? ""
            let file: OptimizerFile
            do {
                file = try OptimizerFile.read(from: best)
            } catch {
                // The checkpoints are the truth; this file is only a copy of a validated φ. A torn
                // or damaged one is set aside rather than failing every resume.
                let unreadable = runDirectory.unreadableBestOptimizer
                if fm.fileExists(atPath: unreadable.path) { try fm.removeItem(at: unreadable) }
                try fm.moveItem(at: best, to: unreadable)
                logger.warning("\(error); moved it to \(unreadable.path) and resuming without it: validation.jsonl still lists every score\(nextBest)")
                return (nil, logged, validatesFirst)
            }
            if let saved = file.training, TrainerCheckpoint.compatibilityProblems(saved: saved, current: config).isEmpty,
               let score = file.validation, score.iteration > config.iterations {
                // A best of the interrupted run past this run's end (--iterations lowered): this
                // run never scores it again, and its final lines named a best from after its end.
                // Kept under a name of its own: best-optimizer.previous.json may hold an older run's.
                let kept = runDirectory.url.appendingPathComponent("best-optimizer.meta-step-\(score.iteration).json")
                if fm.fileExists(atPath: kept.path) { try fm.removeItem(at: kept) }
                try fm.moveItem(at: best, to: kept)
                logger.notice("\(best.path) holds φ of meta-step \(score.iteration), past --iterations \(config.iterations): moved it to \(kept.path)\(nextBest)")
                return (nil, logged, validatesFirst)
            }
            if let saved = file.training, TrainerCheckpoint.compatibilityProblems(saved: saved, current: config).isEmpty,
               let score = file.validation {
                // A best scored at or before the resumed meta-step is one the log must know too:
                // with validation.jsonl lost or cut short, worse scores were flagged "new best"
                // beside a best-optimizer.json that kept the better one. (A best after it, this
                // run will score again.)
                var known = logged
                if let resumedAt, score.iteration <= resumedAt, score.meanFinalLoss < known?.meanFinalLoss ?? .infinity {
                    known = (score.iteration, score.meanFinalLoss)
                }
                return (score, known, validatesFirst)
            }
            logger.warning("\(best.path) was written by another configuration\(nextBest.isEmpty ? "; the next validation replaces it" : nextBest)")
            return (nil, logged, validatesFirst)
        }
        // A fresh start with a best-optimizer.json left (`setAsideEarlierLogs` moves it unless an
        // older run's lies in best-optimizer.previous.json, which is kept): an empty one goes,
        // another stays until this run's first validation replaces it.
        if !holdsBytes(best) { try fm.removeItem(at: best) }
        return (nil, logged, validatesFirst)
    }

    /// Whether a refused write would come back on a restart (`checkWriteTargets`' refusal, or a
    /// write of evaluate, export, plot or bench): `FileIO.refusalRepeats` of the file system's
    /// error, also where an optimizer file's write wraps it.
    package static func writeRefusalRepeats(_ error: any Error) -> Bool {
        if let error = error as? OptimizerFileError { return error.refusalRepeats }
        return FileIO.refusalRepeats(error)
    }

    /// Whether loading the newest checkpoint would fail the same way after a restart: every file
    /// damaged or of an unusable kind, or a checkpoint this version cannot continue; not a system
    /// call that failed (a read of a file or of the directory), which may succeed the next time.
    static func repeatsOnRestart(_ error: any Error) -> Bool {
        switch error {
        case is CheckpointResumeError: return true
        case let error as CheckpointError:
            guard case .noUsableCheckpoint(let rejected) = error.problem else { return false }
            return !rejected.contains { if case .io = $0.problem { true } else { false } }
        default: return false
        }
    }

    /// A fresh state (Adam and counters at zero) whose φ is the trained optimizer in `url`, which
    /// must have this configuration's architecture. A file with one optimizer also starts a run
    /// with one optimizer per parameter kind (the CNN's convolution and fully connected ones):
    /// every kind starts from its weights, and the kinds part from there.
    static func warmStart(config: TrainingConfig, from url: URL) throws -> TrainerState {
        let file = try OptimizerFile.read(from: url)
        var single = config.optimizer
        single.optimizerCount = 1
        let replicates = file.optimizer == single  // one optimizer of this run's shape
        guard file.optimizer == config.optimizer || replicates else {
            throw OptimizerFileError(path: url.path, problem: "holds an optimizer with architecture \(file.optimizer.summary); this run configures \(config.optimizer.summary) (a file with 1 optimizer of the same shape may start any number of them)")
        }
        var state = TrainerState(config: config)
        if replicates {
            for block in ParameterLayout(config.optimizer).blocks {
                state.phi.replaceSubrange(block.range, with: file.phi)
            }
        } else {
            state.phi = file.phi
        }
        return state
    }

    /// The stall watch of a run from an untrained φ (no `--init-from`) whose first horizon is a
    /// yardstick (`StallWatch.watches`), given the meta-steps a resumed run's metrics.jsonl holds
    /// before its checkpoint at `startIteration` (none for a fresh start at 0); nil when they are
    /// not all there.
    static func stallWatch(config: TrainingConfig, logged: [TrainingLog.Step], startIteration: Int) -> StallWatch? {
        guard config.initFrom == nil, StallWatch.watches(config), logged.count == startIteration,
              var watch = StallWatch(truncationsPerHorizon: config.truncationsPerHorizon),
              watch.replay(logged, unroll: config.unroll) else { return nil }
        return watch
    }

    /// Renames RUN/checkpoints to RUN/checkpoints.previous (replacing an older one) when it holds
    /// any checkpoint, temporary file or unusable checkpoint name; returns the new location, or
    /// nil when there was nothing.
    static func setAsideCheckpoints(of runDirectory: RunDirectory) throws -> URL? {
        let store = CheckpointStore(directory: runDirectory.checkpoints)
        guard try !store.checkpointFiles().isEmpty || !store.temporaryFiles().isEmpty
                || !store.unusableCheckpointNames().isEmpty else { return nil }
        let previous = runDirectory.previousCheckpoints
        let fm = FileManager.default
        if fm.fileExists(atPath: previous.path) { try fm.removeItem(at: previous) }
        try fm.moveItem(at: runDirectory.checkpoints, to: previous)
        return previous
    }

    /// Trains until `config.iterations` meta-steps are done or a stop is requested.
    ///
    /// Every checkpoint is taken at a horizon boundary (the only place where the state is φ, Adam
    /// and the counters, without optimizee state), on every rank together. At the end the final
    /// state is checkpointed; when the run ends mid-horizon (`iterations` not a multiple of the
    /// truncations per horizon), the last horizon boundary is checkpointed instead, so that a
    /// later run with more iterations continues the same trajectory.
    @discardableResult
    package func run() throws -> Outcome {
        let comm = trainer.communicator
        let config = trainer.config
        let metrics = comm.isRoot ? try MetricsLog(url: options.runDirectory.metrics) : nil
        let validationLog = comm.isRoot && validator != nil ? try MetricsLog(url: options.runDirectory.validationLog) : nil
        let livePlot = comm.isRoot ? options.plotEvery.map {
            LivePlot(runDirectory: options.runDirectory, interval: $0, logger: logger, lock: lock,
                     logged: loggedSteps.steps, loggedBytes: loggedSteps.bytes)
        } : nil
        loggedSteps = ([], 0)
        defer { livePlot?.refresh(atEnd: true) }  // once at the end, however the run ends
        // A fresh run scores its starting φ too (with --init-from it may stay the best), and so does
        // a resumed one whose checkpoint's validation was abandoned. A stop during it ends the run
        // with nothing new to save: the start is a checkpoint already, or a fresh start.
        if let validator, !resumed || validatesAtResume, try !validate(validator, log: validationLog) {
            return .stopped(iteration: trainer.state.iteration)
        }
        // A resumed run starts from a checkpoint that is on disk already.
        var lastCheckpoint: Int? = resumed ? trainer.state.iteration : nil
        var lastBoundary = trainer.state
        let startIteration = trainer.state.iteration
        let clock = DispatchTime.now()
        var stopping = false
        // The first line this process appends carries its provenance.
        var lineProvenance: Provenance? = provenance
        var validationsBefore = 0
        while !trainer.finished {
            // After a validation rank 0 writes best-optimizer.json alone while the others go on
            // into this meta-step's collectives: the write's deadline, not a meta-step's.
            let afterValidation = validationCount != validationsBefore
            validationsBefore = validationCount
            activity(RunActivity("meta-step \(trainer.state.iteration)", seconds: afterValidation ? RunActivity.writeDeadline : 0))
            let stepStart = DispatchTime.now()
            let report = try trainer.step()
            stepTimed(seconds(since: stepStart))
            let elapsed = seconds(since: clock)
            let done = trainer.state.iteration - startIteration
            let rate = Double(done) / max(elapsed, 1e-9)
            if let metrics {
                try metrics.append(MetricsLine(report, elapsed: elapsed, iterationsPerSecond: rate, kernels: trainer.kernels,
                                               provenance: lineProvenance))
                lineProvenance = nil
                if let warning = stallWatch?.observe(report) { logger.warning("\(warning)") }
                // Lines are numbered from 1 (iteration + 1), so every N-th is N, 2N, … and the first.
                let number = report.iteration + 1
                if number % options.progressEvery == 0 || number == startIteration + 1 || trainer.finished {
                    progress(Self.progressLine(report, total: config.iterations, rate: rate,
                                               remaining: config.iterations - trainer.state.iteration))
                }
                livePlot?.refreshIfDue()
            }
            // The step's MAX allreduce carried every rank's stop flag: all ranks agree.
            if !stopping && report.stopRequested {
                stopping = true
                if comm.isRoot {
                    logger.notice("stop requested: finishing the current horizon, then writing a checkpoint")
                }
            }
            if trainer.state.atHorizonBoundary {
                let previousBoundary = lastBoundary.iteration
                lastBoundary = trainer.state
                // The boundary rank 0 may checkpoint from another thread when mpirun is about to
                // kill the job (`BoundaryCheckpointer`): only one the ranks agree on, as for every
                // checkpoint; checked here, since that thread cannot join a collective (one small
                // allreduce a horizon). Before the validation, which may outlast mpirun's second
                // (the horizon before was saved then); a resume from it validates first.
                if comm.size > 1 { try checkAgreement(on: lastBoundary) }
                if comm.isRoot { checkpointer.passed(lastBoundary) }
                if let validator, validator.config.isDue(atBoundary: trainer.state.iteration, previous: previousBoundary,
                                                         lastIteration: config.iterations,
                                                         truncationsPerHorizon: config.truncationsPerHorizon),
                   try !validate(validator, log: validationLog) {
                    // Stopped during the validation: the meta-steps so far are kept, the score is
                    // not; a resume from this checkpoint validates first (`validatesAtResume`).
                    try writeCheckpoint(trainer.state)
                    return .stopped(iteration: trainer.state.iteration)
                }
                // The last meta-step: the final checkpoint below, whether or not a stop was asked.
                if trainer.finished { break }
                if stopping {
                    try writeCheckpoint(trainer.state)
                    return .stopped(iteration: trainer.state.iteration)
                }
                if options.checkpointEvery > 0
                    && trainer.state.iteration - (lastCheckpoint ?? startIteration) >= options.checkpointEvery {
                    try writeCheckpoint(trainer.state)
                    lastCheckpoint = trainer.state.iteration
                }
            }
        }
        // The trained optimizer before the final checkpoint, and each attempted whatever the other
        // does: a checkpoint that cannot be written (with --checkpoint-every 0 the only one) must
        // not cost the result of the whole run. No file may hold a φ the ranks disagree on
        // (every rank takes part in the check).
        activity(RunActivity("the final write at meta-step \(trainer.state.iteration)", seconds: RunActivity.writeDeadline))
        try checkAgreement(on: trainer.state)
        let (skipped, steps) = (trainer.state.skippedSteps, trainer.state.iteration)
        if comm.isRoot && skipped > 0 {
            // A run whose meta-steps were all skipped ended with status 0 and an untrained φ
            // called trained, without a word.
            let all = skipped == steps ? "; all were, so φ is the one the run started from" : ""
            logger.warning("skipped meta-steps: \(skipped) of \(steps) (a non-finite loss or meta-gradient, or an Adam step past Float's range), which left φ as it was\(all)")
        }
        var optimizerFailure: (any Error)? = nil
        if comm.isRoot {
            do {
                try writeOptimizerFile()
            } catch {
                optimizerFailure = error
            }
        }
        // Every rank takes part (the write ends with a barrier).
        if lastBoundary.iteration != lastCheckpoint {
            if !trainer.state.atHorizonBoundary && comm.isRoot {
                logger.notice("the run ended mid-horizon at meta-step \(trainer.state.iteration); checkpointing the last horizon boundary, meta-step \(lastBoundary.iteration)")
            }
            do {
                try writeCheckpoint(lastBoundary)
            } catch {
                if let optimizerFailure { logger.error("\(optimizerFailure)") }
                throw error
            }
        }
        if let optimizerFailure { throw optimizerFailure }
        return .finished
    }

    /// Rank 0: φ of the last meta-step to --output (default RUN_DIR/optimizer.json).
    private func writeOptimizerFile() throws {
        let config = trainer.config
        let file = OptimizerFile(optimizer: config.optimizer, phi: trainer.state.phi, training: config,
                                 iteration: trainer.state.iteration, kernels: trainedKernels,
                                 provenance: provenance)
        let url = options.output ?? options.runDirectory.optimizer
        // An --output outside the run directory is written whatever became of the directory.
        if options.output == nil { try lock?.checkInPlace() }
        try file.write(to: url)
        logger.info("wrote the trained optimizer to \(url.path)")
    }

    /// Scores the current φ (every rank takes part); rank 0 keeps it in best-optimizer.json when it
    /// beats the best so far (written before the log line that says so) and logs the score.
    /// Returns false, on every rank alike, when a stop request on any rank abandoned the
    /// validation: then nothing is written.
    private func validate(_ validator: ValidationScorer, log: MetricsLog?) throws -> Bool {
        validationCount += 1
        let state = trainer.state
        let config = trainer.config
        activity(RunActivity("validation at meta-step \(state.iteration)",
                             steps: Double(config.horizon) / Double(config.unroll) * Double(trainer.shards)))
        // The score and a new best-optimizer.json are only meaningful for a φ all ranks share.
        try checkAgreement(on: state)
        guard let loss = try validator.meanFinalLoss(phi: state.phi, communicator: trainer.communicator,
                                                     stopRequested: trainer.stopRequested) else {
            if trainer.communicator.isRoot {
                logger.notice("stop requested: abandoned the validation at meta-step \(state.iteration); a resume repeats it")
            }
            return false
        }
        guard let log else { return true }
        let score = ValidationScore(iteration: state.iteration, meanFinalLoss: loss,
                                    functions: validator.config.functions, seed: validator.config.seed)
        let isBest = loss < bestLogged?.meanFinalLoss ?? .infinity
        if isBest {
            bestLogged = (state.iteration, loss)
            // Not over a better φ that the interrupted run found after the checkpoint this run
            // resumed from: this run will reach it again.
            if loss <= bestScore?.meanFinalLoss ?? .infinity {
                // Not into a new directory at the old path of one that moved.
                try lock?.checkInPlace()
                try OptimizerFile(optimizer: config.optimizer, phi: state.phi, training: config, iteration: state.iteration,
                                  validation: score, kernels: trainedKernels,
                                  provenance: provenance).write(to: options.runDirectory.bestOptimizer)
                bestScore = score
            }
        }
        try log.append(ValidationLine(score, best: isBest, kernels: trainer.kernels))
        let best = bestScore.map { "best \($0.meanFinalLoss) at meta-step \($0.iteration)" }
            ?? bestLogged.map { "best \($0.meanFinalLoss) at meta-step \($0.iteration), whose φ best-optimizer.json no longer holds" }
            ?? "no finite score yet"
        logger.info("validation at meta-step \(state.iteration): mean final loss \(loss) on \(score.functions) functions (\(isBest ? "new best" : best))")
        return true
    }

    /// `MetaTrainer.checkConsistency` of `state`, once per meta-step: a validation, a checkpoint
    /// and the final write of the same state share one check (every rank skips alike).
    private func checkAgreement(on state: TrainerState) throws {
        guard agreedAt != state.iteration else { return }
        try trainer.checkConsistency(of: state)
        agreedAt = state.iteration
    }

    /// Rank 0 writes; the others wait, so that no rank runs ahead of a checkpoint it may need.
    /// Must be called by every rank (it ends with a barrier).
    private func writeCheckpoint(_ state: TrainerState) throws {
        precondition(state.atHorizonBoundary, "checkpoints are taken at horizon boundaries only")
        activity(RunActivity("checkpoint at meta-step \(state.iteration)", seconds: RunActivity.writeDeadline))
        // No checkpoint may hold a φ the ranks disagree on (a resume would carry it on).
        try checkAgreement(on: state)
        let comm = trainer.communicator
        if comm.isRoot {
            let result = try checkpointer.write(state)
            for w in result.warnings where loggedStoreWarnings.insert(w).inserted { logger.warning("\(w)") }
            logger.info("checkpoint \(result.url.lastPathComponent)")
        }
        try comm.barrier()
    }

    static func progressLine(_ r: StepReport, total: Int, rate: Double, remaining: Int) -> String {
        let eta = rate > 0 ? Double(remaining) / rate : .infinity
        let loss = r.skipped ? "skipped" : String(format: "%.4g", r.meanStepLoss)
        return String(format: "iter %ld/%ld  loss %@  %.2f it/s  ETA %@  compute %.3fs (max %.3fs)  wait %.3fs  allreduce %.4fs%@%@",
                      r.iteration + 1, total, loss, rate, formatDuration(eta), r.computeMean, r.computeMax,
                      r.wait, r.allreduce, r.exchange > 0 ? String(format: "  allgather %.3fs", r.exchange) : "",
                      r.skippedTotal > 0 ? "  skipped \(r.skippedTotal)" : "")
    }
}

/// "1h2m", "3m4s" or "5s"; "?" for a duration that is not finite or not below 10^15 s in size (an
/// ETA at a vanishing rate, an `elapsed` a hand-edited log made huge), which Int would trap on.
func formatDuration(_ s: Double) -> String {
    guard s.isFinite, abs(s) < 1e15 else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? "\(t / 3600)h\(t % 3600 / 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
}
