/// One line of RUN_DIR/metrics.jsonl, as `train` writes it (`JSONLineEncoder`: keys in this
/// order, non-finite numbers as null). Read back by `TrainingLog.Step`. The first line each
/// process appends (a fresh start or a resume) ends with a `provenance` object: the version,
/// commit, command line and kernels of the binary that wrote the lines from there on.
struct MetricsLine: Encodable {
    var iteration: Int
    var horizon: Int
    var truncation: Int
    var metaLoss: Double
    var meanStepLoss: Double
    var gradientNorm: Double
    var skipped: Bool
    var skippedTotal: Int
    var computeMax: Double
    var computeMean: Double
    var computeMin: Double
    var wait: Double
    var allreduce: Double
    /// Seconds in coordinate sharding's θ allgathers (0 without sharding).
    var exchange: Double
    var update: Double
    var elapsed: Double
    var iterationsPerSecond: Double
    var kernels: String
    /// Only on the first line a process writes (omitted, not null, on the others).
    var provenance: Provenance?

    enum CodingKeys: String, CodingKey {
        case iteration, horizon, truncation, metaLoss = "meta_loss", meanStepLoss = "mean_step_loss"
        case gradientNorm = "gradient_norm", skipped, skippedTotal = "skipped_total"
        case computeMax = "compute_max", computeMean = "compute_mean", computeMin = "compute_min"
        case wait, allreduce, exchange, update, elapsed, iterationsPerSecond = "iterations_per_second", kernels, provenance
    }

    init(_ r: StepReport, elapsed: Double, iterationsPerSecond: Double, kernels: KernelCensus,
         provenance: Provenance? = nil) {
        iteration = r.iteration
        horizon = r.horizon
        truncation = r.truncation
        metaLoss = r.metaLoss
        meanStepLoss = r.meanStepLoss
        gradientNorm = r.gradientNorm
        skipped = r.skipped
        skippedTotal = r.skippedTotal
        computeMax = r.computeMax
        computeMean = r.computeMean
        computeMin = r.computeMin
        wait = r.wait
        allreduce = r.allreduce
        exchange = r.exchange
        update = r.update
        self.elapsed = elapsed
        self.iterationsPerSecond = iterationsPerSecond
        self.kernels = kernels.description
        self.provenance = provenance
    }
}

/// One line of RUN_DIR/validation.jsonl, as `train` writes it. Read back by
/// `TrainingLog.Validation`.
struct ValidationLine: Encodable {
    var iteration: Int
    /// Non-finite (a diverged validation) is written as null.
    var meanFinalLoss: Double
    /// Whether it is the lowest score in the log so far.
    var best: Bool
    var kernels: String

    enum CodingKeys: String, CodingKey {
        case iteration, meanFinalLoss = "mean_final_loss", best, kernels
    }

    init(_ score: ValidationScore, best: Bool, kernels: KernelCensus) {
        iteration = score.iteration
        meanFinalLoss = score.meanFinalLoss
        self.best = best
        self.kernels = kernels.description
    }
}
