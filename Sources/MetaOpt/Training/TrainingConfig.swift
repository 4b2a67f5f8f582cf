/// Everything that defines a meta-training run. Identical on every rank (validated before the first
/// collective) and stored in checkpoints and trained-optimizer files.
public struct TrainingConfig: Codable, Equatable, Sendable {
    /// The optimizee family.
    public var task: TaskSpec
    /// The learned optimizer's architecture.
    public var optimizer: LearnedOptimizerConfig
    /// Functions per meta-step (global, over all ranks).
    public var metaBatch: Int
    /// Functions that always run together in one engine (one GEMM per layer and step). Ranks own
    /// whole blocks, so the result does not depend on the number of ranks; see docs/design.md.
    public var blockSize: Int
    /// Truncation length T.
    public var unroll: Int
    /// Optimization horizon K (steps per sampled function); a multiple of `unroll`.
    public var horizon: Int
    /// Meta-steps (truncations, each followed by one Adam step on φ).
    public var iterations: Int
    public var learningRate: Double
    /// Global-norm clipping of the averaged meta-gradient (nil: no clipping).
    public var clipNorm: Double?
    public var seed: UInt64
    public var mode: MetaGradientMode
    /// Stop after this many consecutive skipped (non-finite) meta-steps.
    public var maxConsecutiveSkips: Int
    /// Compare a hash of φ across ranks every this many meta-steps (0: never).
    public var consistencyCheckEvery: Int
    /// Lv et al.'s random scaling: meta-train on f(c ⊙ θ) with per-coordinate factors
    /// c = exp(U[lower, upper)) (`RandomlyScaledOptimizee`); nil: the functions as they are. Optional
    /// so that files written before it existed still decode (and hash) as they did.
    public var randomScaling: LogScaleRange?
    /// Meta-train from rescaled starting points: each tensor of θ₀ multiplied by its own factor
    /// exp(U[lower, upper)) (`RandomInitialScaleOptimizee`); nil: θ₀ as the task draws it. Optional
    /// for the same reason as `randomScaling`.
    public var initialScaling: LogScaleRange?
    /// Meta-train on a·f with one random factor a = exp(U[lower, upper)) per function
    /// (`RandomLossScaleOptimizee`); nil: f as it is. Optional for the same reason.
    public var lossScaling: LogScaleRange?
    /// Start φ from this trained-optimizer file instead of the seed's initialisation (fine-tuning:
    /// another meta-batch, learning rate or family); the Adam state and the counters start afresh.
    /// Read on rank 0 only, when no checkpoint is resumed. Optional for the same reason.
    /// `metaopt-dist train` reads it; `MetaTrainer` does not (it is part of the configuration that
    /// checkpoints record): give a `MetaTrainer` the file's φ through `resumeFrom` instead.
    public var initFrom: String?
    /// Early stopping: score φ on validation functions now and then and keep the best φ in
    /// RUN_DIR/best-optimizer.json (`ValidationConfig`); nil: no validation. Optional for the
    /// same reason as `randomScaling`. `metaopt-dist train` runs the validations; `MetaTrainer`
    /// alone does not (score φ with `LearnedOptimizer.run` between its steps instead).
    public var validation: ValidationConfig?
    /// Divide each block's meta-loss by its functions' initial loss (`MetaLossNormalization`), so
    /// that no family of a mixture dominates; nil: the plain sum. Optional for the same reason as
    /// `randomScaling`.
    public var lossNormalization: MetaLossNormalization?

    /// Each parameter sets the property of its name. `optimizer` and `blockSize` default to
    /// `task`'s (`TaskSpec.defaultOptimizer`, `defaultBlockSize`): with a family of one's own,
    /// whose `task` is only recorded, give them, or the learned optimizer is `task`'s default
    /// architecture. `iterations` and `learningRate` default to 1000 and 1e-3 here; the command
    /// line sets them per task (`metaopt-dist train --help`). `consistencyCheckEvery` defaults to
    /// 100 here and to 50 on the command line (`--consistency-every`).
    public init(task: TaskSpec, optimizer: LearnedOptimizerConfig? = nil, metaBatch: Int = 128, blockSize: Int? = nil,
                unroll: Int = 20, horizon: Int = 100, iterations: Int = 1000, learningRate: Double = 1e-3,
                clipNorm: Double? = nil, seed: UInt64 = 0, mode: MetaGradientMode = .firstOrder,
                maxConsecutiveSkips: Int = 5, consistencyCheckEvery: Int = 100, randomScaling: LogScaleRange? = nil,
                initialScaling: LogScaleRange? = nil, lossScaling: LogScaleRange? = nil, initFrom: String? = nil,
                validation: ValidationConfig? = nil, lossNormalization: MetaLossNormalization? = nil) {
        self.task = task
        self.optimizer = optimizer ?? task.defaultOptimizer
        self.metaBatch = metaBatch
        self.blockSize = blockSize ?? task.defaultBlockSize
        self.unroll = unroll
        self.horizon = horizon
        self.iterations = iterations
        self.learningRate = learningRate
        self.clipNorm = clipNorm
        self.seed = seed
        self.mode = mode
        self.maxConsecutiveSkips = maxConsecutiveSkips
        self.consistencyCheckEvery = consistencyCheckEvery
        self.randomScaling = randomScaling
        self.initialScaling = initialScaling
        self.lossScaling = lossScaling
        self.initFrom = initFrom
        self.validation = validation
        self.lossNormalization = lossNormalization
    }

    public var truncationsPerHorizon: Int { horizon / unroll }
    /// ⌈metaBatch / blockSize⌉, formed without overflow (metaBatch + blockSize − 1 wrapped for a
    /// block size near Int.max, which made zero blocks).
    public var blockCount: Int { metaBatch < 1 || blockSize < 1 ? 0 : (metaBatch - 1) / blockSize + 1 }
    /// The most functions one block holds: a block size above the meta-batch makes one block of
    /// the whole meta-batch (the same run as a block size equal to it).
    package var functionsPerBlock: Int { min(blockSize, metaBatch) }

    /// The family meta-training samples from: the task's, started from rescaled points if
    /// `initialScaling` says so, randomly rescaled if `randomScaling` says so, and its loss
    /// multiplied by a random factor if `lossScaling` says so.
    /// A mixture draws its component once per block (`MixtureFamily`), so a block holds one family.
    public func makeTrainingFamily() throws -> any TaskFamily {
        if let mixture = task.settings as? MixtureTask {
            return makeTrainingFamily(base: try mixture.makeFamily(functionsPerDraw: max(blockSize, 1)))
        }
        return try makeTrainingFamily(base: task.makeFamily())
    }

    /// `base` with this configuration's augmentations (a family of one's own, or the task's).
    func makeTrainingFamily(base: any TaskFamily) -> any TaskFamily {
        augmentations.reduce(base) { AugmentedFamily(base: $0, augmentation: $1.augmentation) }
    }

    /// The augmentations that are switched on, innermost first, with the option that sets each.
    var augmentations: [(option: String, augmentation: TaskAugmentation)] {
        [("--initial-scaling", initialScaling.map(TaskAugmentation.randomInitialScale)),
         ("--random-scaling", randomScaling.map(TaskAugmentation.randomScaling)),
         ("--loss-scaling", lossScaling.map(TaskAugmentation.randomLossScale))]
            .compactMap { option, augmentation in augmentation.map { (option, $0) } }
    }

    /// Every problem with the configuration, as sentences; empty when it is usable.
    public func problems() -> [String] { problems(ownFamily: nil) }

    /// The same, for meta-training on `ownFamily` instead of the task's family when given: the
    /// optimizer count and the Hessians are the family's.
    func problems(ownFamily: (any TaskFamily)?) -> [String] {
        var p: [String] = []
        if metaBatch < 1 { p.append("the meta-batch size must be positive (got \(metaBatch))") }
        if blockSize < 1 { p.append("the block size must be positive (got \(blockSize))") }
        if unroll < 1 { p.append("the unroll length must be positive (got \(unroll))") }
        if horizon < 1 { p.append("the horizon must be positive (got \(horizon))") }
        if unroll >= 1 && horizon >= 1 && horizon % unroll != 0 {
            p.append("the horizon (\(horizon)) must be a multiple of the unroll length (\(unroll))")
        }
        if iterations < 0 { p.append("the number of iterations must not be negative (got \(iterations))") }
        if !(learningRate > 0 && learningRate.isFinite) { p.append("the learning rate must be positive and finite (got \(learningRate))") }
        // Adam takes the rate as a Float, and the clipping factor clip / norm is one: past Float's
        // range it is infinite, below it 0, and every meta-step left φ as it was.
        if let problem = SizeLimits.floatRangeProblem("the learning rate", learningRate)
            ?? SizeLimits.underflowProblem("the learning rate", learningRate) { p.append(problem) }
        if let c = clipNorm, !(c > 0 && c.isFinite) { p.append("the clipping norm must be positive and finite (got \(c))") }
        if let c = clipNorm, let problem = SizeLimits.underflowProblem("the clipping norm", c) { p.append(problem) }
        p += optimizer.problems()
        if let ownFamily {
            if optimizer.optimizerCount != ownFamily.optimizerCount {
                p.append("the \(ownFamily.name) family needs \(ownFamily.optimizerCount) learned optimizer(s), the configuration has \(optimizer.optimizerCount)")
            }
            if mode == .secondOrder && !(ownFamily.sample(RandomKey(seed: seed, horizon: 0, task: 0)) is any SecondOrderOptimizee) {
                p.append("second-order meta-gradients need the optimizee's Hessian; the \(ownFamily.name) family's optimizees are not SecondOrderOptimizee")
            }
        } else if optimizer.optimizerCount != task.optimizerCount {
            p.append("the \(task.name) task needs \(task.optimizerCount) learned optimizer(s), the configuration has \(optimizer.optimizerCount)")
        }
        if ownFamily == nil && mode == .secondOrder && !task.supportsSecondOrder {
            let providers = TaskRegistry.plugins.filter { $0.supportsSecondOrder }.map { $0.name }
            p.append("second-order meta-gradients need the optimizee's Hessian, which only the \(TaskRegistry.listed(providers)) task\(providers.count == 1 ? " provides" : "s provide")")
        }
        for (option, augmentation) in augmentations {
            if let problem = augmentation.range.problem { p.append("\(option): " + problem) }
            // The augmented optimizees provide no Hessian.
            if mode == .secondOrder { p.append("\(option) supports first-order meta-gradients only") }
        }
        if let validation { p.append(contentsOf: validation.problems(trainingSeed: seed)) }
        if initFrom?.isEmpty == true { p.append("--init-from must not be empty") }
        if maxConsecutiveSkips < 1 { p.append("the skip limit must be positive") }
        if consistencyCheckEvery < 0 { p.append("the consistency-check interval must not be negative") }
        p.append(contentsOf: limitProblems())
        p.append(contentsOf: task.problems())
        return p
    }
}
