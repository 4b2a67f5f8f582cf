/// What one meta-step did, as seen by every rank (all figures are global unless named "local").
public struct StepReport: Sendable {
    public var iteration: Int
    public var horizon: Int
    public var truncation: Int
    /// Mean over the meta-batch of Σ_t w_t f(θ_t) for this truncation (NaN when skipped); with
    /// `TrainingConfig.lossNormalization`, each block's part divided by its initial loss (or by
    /// its loss where the truncation starts).
    public var metaLoss: Double
    /// Mean optimizee loss per unrolled step: metaLoss / Σ_t w_t.
    public var meanStepLoss: Double
    /// ‖mean meta-gradient‖₂ before clipping (NaN when skipped).
    public var gradientNorm: Double
    public var skipped: Bool
    public var skippedTotal: Int
    /// Seconds of compute (unrolls and backward passes; in a sharded run with the θ allgathers,
    /// `exchange`, in them) over ranks: max, mean, min.
    public var computeMax: Double, computeMean: Double, computeMin: Double
    /// This rank's seconds in the small MAX allreduce that waits for the slowest rank.
    public var wait: Double
    /// This rank's seconds in the meta-gradient allreduce.
    public var allreduce: Double
    /// This rank's seconds in the θ allgathers of coordinate sharding (0 without).
    public var exchange: Double = 0
    /// This rank's seconds in the Adam step.
    public var update: Double
    /// Some rank's `stopRequested` was true at this step (the same on every rank).
    public var stopRequested: Bool
}
