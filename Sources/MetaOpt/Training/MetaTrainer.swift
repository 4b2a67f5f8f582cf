import Foundation

/// Distributed meta-training (docs/design.md, "Distribution and results independent of the number of ranks"): every rank unrolls the learned optimizer on the task
/// blocks it owns, the block meta-gradients are summed exactly in fixed point across ranks, and
/// every rank takes the same Adam step.
///
/// The global meta-batch of B tasks is cut into ⌈B / blockSize⌉ blocks of consecutive task
/// indices. The ranks form groups of `shards` consecutive ranks; group g owns a contiguous run of
/// blocks, and within a group each function's coordinates are split over the shards
/// (`CoordinateShard`). A task's functions come from its key (seed, horizon, global task index), a
/// block always runs as one engine with the same column tiles, and every tile's part of the
/// meta-gradient is summed exactly, so the φ trajectory is the same for any number of ranks and
/// shards.
public final class MetaTrainer {
    /// Doubles in every meta-step's small MAX allreduce (the summary of `step`), which
    /// `allreduce-bench` times as the meta-step's.
    package static let stepSummaryCount = 6

    /// The run's settings, the same on every rank (checked at start).
    public let config: TrainingConfig
    /// The learned optimizer's architecture: |φ| and the engines.
    package let architecture: any LearnedOptimizerArchitecture
    public let communicator: any Communicator
    /// φ, Adam's moments and the counters after the last meta-step: the same on every rank, and
    /// what a checkpoint stores and `init(…, resumeFrom:)` continues from.
    public private(set) var state: TrainerState
    package var faults: [FaultInjection] = []
    /// Polled once per meta-step on every rank; the answer travels in the step's MAX allreduce,
    /// so every rank sees whether any rank was asked to stop.
    public var stopRequested: () -> Bool = { false }

    let family: any TaskFamily
    /// Global task ranges of the blocks this rank's group owns.
    public let ownedBlocks: [Range<Int>]
    /// Ranks per group, each computing a share of every function's coordinates (1: no sharding).
    public let shards: Int
    /// This rank's group's coordinate sharding (nil when `shards` is 1).
    private let coordinateShard: CoordinateShard?
    /// A bound on the units (column tiles) of one block's engine, which fixes the fixed-point
    /// exponent independently of how the units are spread: 2^16 tiles are 16.7 M coordinates per
    /// block.
    public static let maxUnitsPerBlock = 1 << 16
    /// The vector kernels this rank's engines run, and those of every rank.
    public let kernelPath: KernelPath
    public let kernels: KernelCensus
    /// OpenBLAS's kernels on every rank ("Cooperlake"), or "mixed (rank R: NAME)" when ranks run
    /// those of different cores (a cluster of Intel and AMD nodes): the image tasks' optimizees
    /// multiply on them, so their φ differs in its last bits from a run on one kind of node.
    public let blasKernels: String
    private var engines: [(any MetaGradientEngine<Float>)?]
    private var unrollStates: [UnrollState<Float>?]
    private var blockGradients: [[Float]]
    /// Per owned block, the sizes and parameter groups of the functions its engine was made for:
    /// a mixture's next horizon may draw another family, which needs a new engine.
    private var engineShapes: [[TaskShape]?]
    /// Per owned block, the divisor of its meta-loss (`MetaLossNormalization`); 1 when off.
    private var blockScales: [Double]
    private var enginesHorizon: Int? = nil

    /// Checks the configuration identically on every rank, makes sure all ranks run the same one,
    /// then takes φ and the counters from rank 0 (a fresh start, or `resumeFrom` there). A
    /// `resumeFrom` that no run could continue (φ or Adam moments of another size or not finite,
    /// counters that do not fit together, a state inside a horizon) throws
    /// `TrainingError.invalidConfiguration` on every rank.
    ///
    /// `kernelPath` (default `KernelPath.default`) may differ between ranks: the reduced
    /// meta-gradient and the Adam step do not depend on it, so φ stays the same on every rank.
    ///
    /// `shards` (default 1) ranks form a group that splits each function's coordinates; it must
    /// divide the number of ranks, and the second-order mode cannot be sharded. φ does not depend
    /// on it.
    public convenience init(config: TrainingConfig, communicator: any Communicator, resumeFrom: TrainerState? = nil,
                            kernelPath: KernelPath? = nil, shards: Int = 1) throws {
        try self.init(config: config, ownFamily: nil, communicator: communicator, resumeFrom: resumeFrom,
                      kernelPath: kernelPath, shards: shards)
    }

    /// Meta-trains on a family of your own (docs/swift-api.md): `family` is sampled instead of
    /// `config.task`, with the configuration's augmentations (`randomScaling`, `initialScaling`,
    /// `lossScaling`) on top. Everything else (meta-batch, blocks, unroll, horizon, Adam, seeds)
    /// comes from `config` as for a built-in family; `config.task` is only recorded, and
    /// `config.optimizer.optimizerCount` must equal `family.optimizerCount`. Second-order
    /// meta-gradients need the family's optimizees to be `SecondOrderOptimizee`s.
    ///
    /// Every rank must pass a family that samples the same functions for the same keys; the ranks
    /// check that they run the same configuration and family name, not the functions.
    public convenience init(config: TrainingConfig, family: any TaskFamily, communicator: any Communicator,
                            resumeFrom: TrainerState? = nil, kernelPath: KernelPath? = nil, shards: Int = 1) throws {
        try self.init(config: config, ownFamily: family, communicator: communicator, resumeFrom: resumeFrom,
                      kernelPath: kernelPath, shards: shards)
    }

    /// Why `shards` cannot split `ranks` ranks for `config` (empty: it can).
    public static func shardingProblems(shards: Int, ranks: Int, config: TrainingConfig) -> [String] {
        var problems: [String] = []
        if shards < 1 {
            problems.append("shards must be at least 1, got \(shards)")
        } else if ranks % shards != 0 {
            problems.append("\(shards) shards do not divide \(ranks) ranks: the ranks form groups of --shards ranks")
        }
        if shards > 1 && config.mode == .secondOrder {
            problems.append("the second-order meta-gradient cannot be sharded (its Hessian-vector products couple a function's coordinates): use --shards 1 or the first-order mode")
        }
        return problems
    }

    /// `--shards auto`: no sharding while every group of one rank has a block to run; with more
    /// ranks than blocks, the smallest S dividing the ranks that leaves no group without a block
    /// (8 ranks, 2 blocks: S = 4). 1 in the second-order mode.
    public static func automaticShards(ranks: Int, config: TrainingConfig) -> Int {
        guard config.mode == .firstOrder, ranks > config.blockCount else { return 1 }
        return (1...ranks).first { ranks % $0 == 0 && ranks / $0 <= config.blockCount } ?? ranks
    }

    private init(config: TrainingConfig, ownFamily: (any TaskFamily)?, communicator: any Communicator,
                 resumeFrom: TrainerState?, kernelPath: KernelPath?, shards: Int) throws {
        let problems = config.problems(ownFamily: ownFamily)
            + Self.shardingProblems(shards: shards, ranks: communicator.size, config: config)
        guard problems.isEmpty else { throw TrainingError.invalidConfiguration(problems) }
        self.config = config
        self.communicator = communicator
        architecture = config.optimizer.architecture
        // Same configuration everywhere? One MAX allreduce of (hash, −hash). A family of one's
        // own adds its name to the hashed bytes.
        var agreed = try JSONEncoder.sorted.encode(config)
        if let ownFamily { agreed.append(contentsOf: Array("\nfamily: \(ownFamily.name)".utf8)) }
        agreed.append(contentsOf: Array("\nshards: \(shards)".utf8))
        guard try communicator.allAgree(on: fnv1a(agreed)) else {
            // Every rank is here: each names what it has other than rank 0.
            let root = try communicator.broadcast(value: config)
            let rootShards = try communicator.broadcast(value: shards)
            let rootFamily = try communicator.broadcast(value: ownFamily?.name ?? "")
            var differences = TrainerCheckpoint.differences(saved: root, current: config, elsewhere: "on rank 0")
            if root == config {
                // Equal values written apart (-0 and 0): the hash of the encoding saw them.
                let sameBytes = (try? JSONEncoder.sorted.encode(root)) == (try? JSONEncoder.sorted.encode(config))
                differences = communicator.rank == 0 || sameBytes ? [] : ["the same settings as rank 0, written differently (-0 for 0, for instance)"]
            }
            if rootShards != shards { differences.append("--shards \(shards) here, \(rootShards) on rank 0") }
            if rootFamily != ownFamily?.name ?? "" { differences.append("task family \(ownFamily?.name ?? "none") here, \(rootFamily.isEmpty ? "none" : rootFamily) on rank 0") }
            throw TrainingError.configurationDiffersAcrossRanks(differences: differences)
        }
        family = try ownFamily.map(config.makeTrainingFamily(base:)) ?? config.makeTrainingFamily()
        guard try communicator.allAgree(on: family.dataFingerprint ?? 0) else {
            throw TrainingError.dataDiffersAcrossRanks
        }
        self.kernelPath = try KernelPath.resolved(kernelPath)
        kernels = try KernelCensus.gather(self.kernelPath, communicator: communicator)
        blasKernels = try communicator.allAgree(on: fnv1a(Array(blasCoreName.utf8)))
            ? blasCoreName : "mixed (rank \(communicator.rank): \(blasCoreName))"
        self.shards = shards
        ownedBlocks = MetaTrainer.blocks(config: config, rank: communicator.rank / shards,
                                         size: communicator.size / shards)
        coordinateShard = shards > 1
            ? CoordinateShard(group: try communicator.split(color: communicator.rank / shards, key: communicator.rank % shards))
            : nil
        engines = Array(repeating: nil, count: ownedBlocks.count)
        unrollStates = Array(repeating: nil, count: ownedBlocks.count)
        engineShapes = Array(repeating: nil, count: ownedBlocks.count)
        blockScales = Array(repeating: 1, count: ownedBlocks.count)
        blockGradients = Array(repeating: [], count: ownedBlocks.count)
        var initial = communicator.isRoot ? (resumeFrom ?? TrainerState(config: config)) : TrainerState(config: config)
        // Checked on rank 0 before it travels (arrays of another size would not fit the others'),
        // and refused on every rank together: a wrong Adam state trapped in the first step.
        let stateProblems = try communicator.broadcast(value: communicator.isRoot ? initial.problems(for: config) : [], root: 0)
        guard stateProblems.isEmpty else {
            throw TrainingError.invalidConfiguration(stateProblems.map { "the resumed state: \($0)" })
        }
        try MetaTrainer.broadcast(&initial, communicator: communicator)
        state = initial
    }

    /// The task ranges of the blocks rank `rank` of `size` owns: blocks are split as evenly as
    /// possible, in order, so each rank holds a contiguous slice of the global task indices.
    public static func blocks(config: TrainingConfig, rank: Int, size: Int) -> [Range<Int>] {
        let n = config.blockCount
        let first = rank * n / size, last = (rank + 1) * n / size
        return (first..<last).map { b in
            (b * config.blockSize)..<min((b + 1) * config.blockSize, config.metaBatch)
        }
    }

    /// φ, the Adam moments and the counters from rank 0 to everyone: the counters as one
    /// `Codable` value (every field travels, whatever `TrainerCounters` holds), the arrays raw.
    static func broadcast(_ state: inout TrainerState, communicator: any Communicator) throws {
        state.counters = try communicator.broadcast(value: state.counters, root: 0)
        try communicator.broadcast(&state.phi, root: 0)
        try communicator.broadcast(&state.adam.firstMoment, root: 0)
        try communicator.broadcast(&state.adam.secondMoment, root: 0)
    }

    /// Whether `config.iterations` meta-steps are done (`step()` then throws `alreadyFinished`).
    public var finished: Bool { state.iteration >= config.iterations }

    /// Samples the current horizon's functions for every owned block.
    private func prepareHorizon() throws {
        for (i, range) in ownedBlocks.enumerated() {
            let tasks = range.map { family.sample(RandomKey(seed: config.seed, horizon: state.horizon, task: $0)) }
            // θ₀ is drawn once: checked here, then the engine starts from it.
            let starts = tasks.map { $0.initialParameters() }
            // A family of one's own may sample functions whose θ₀ or parameter groups do not fit
            // their dimension: the engine would trap or step outside θ.
            for (task, (function, start)) in zip(range, zip(tasks, starts)) {
                if let problem = function.shapeProblem(start: start) {
                    throw TrainingError.invalidConfiguration(["function \(task) of the family at horizon \(state.horizon): \(problem)"])
                }
                // The configuration's check samples one function; a family may mix kinds (the
                // engine trapped, without a word, at the first function without a Hessian).
                if config.mode == .secondOrder && !(function is any SecondOrderOptimizee) {
                    throw TrainingError.invalidConfiguration(["function \(task) of the family at horizon \(state.horizon): second-order meta-gradients need the optimizee's Hessian, and it is not a SecondOrderOptimizee"])
                }
            }
            let shapes = tasks.map(TaskShape.init)
            if let engine = engines[i], engineShapes[i] == shapes {
                engine.replaceTasks(tasks)
            } else {
                engines[i] = nil  // free the old engine's buffers first
                // A family of one's own may declare fewer optimizers than its functions use.
                if let (_, o) = config.optimizer.firstUnknownOptimizer(in: tasks) {
                    throw TrainingError.invalidConfiguration(["a function of the family has a parameter group for learned optimizer \(o); the configuration has \(config.optimizer.optimizerCount) (0..<\(config.optimizer.optimizerCount))"])
                }
                let engine = architecture.makeEngine(tasks: tasks, unroll: config.unroll, kernelPath: kernelPath)
                guard engine.units.count <= Self.maxUnitsPerBlock else {
                    throw TrainingError.invalidConfiguration(["a block of the meta-batch has \(engine.units.count) column tiles, more than \(Self.maxUnitsPerBlock): use smaller blocks (--block-size, TrainingConfig's blockSize)"])
                }
                coordinateShard?.attach(to: engine)
                engines[i] = engine
                engineShapes[i] = shapes
                blockGradients[i] = [Float](repeating: 0, count: engine.gradientUnitCount(mode: config.mode) * architecture.parameterCount)
            }
            unrollStates[i] = engines[i]!.initialState(startingAt: starts)
            if config.lossNormalization != nil {
                blockScales[i] = MetaLossNormalization.initialLossScale(of: tasks)
            }
        }
        enginesHorizon = state.horizon
    }

    private func fault(_ kind: FaultInjection.Kind) -> Bool {
        faults.contains { $0.kind == kind && $0.iteration == state.iteration && $0.rank == communicator.rank }
    }

    /// One meta-step: unroll every owned block for T steps, reduce, Adam step on φ. Throws
    /// `TrainingError.alreadyFinished` once `finished`.
    @discardableResult
    public func step() throws -> StepReport {
        guard !finished else { throw TrainingError.alreadyFinished(iterations: config.iterations) }
        if fault(.kill) { kill(getpid(), SIGKILL) }
        if fault(.abort) { Foundation.abort() }
        if fault(.throw) { throw TrainingError.injectedFault(iteration: state.iteration, rank: communicator.rank) }
        if fault(.perturb) { state.phi[0] += 1e-3 }
        if fault(.stall) { Thread.sleep(forTimeInterval: 60) }

        let start = DispatchTime.now()
        if enginesHorizon != state.horizon || state.truncation == 0 { try prepareHorizon() }
        var blockLosses = [Double](repeating: 0, count: ownedBlocks.count)
        var maxGradient = 0.0
        var nonFinite = 0.0
        let phi = state.phi
        for i in ownedBlocks.indices {
            let engine = engines[i]!
            // Moved out of the arrays (not copied), so the engine's updates do not copy ~MBs.
            var unrollState = unrollStates[i]!
            unrollStates[i] = nil
            let scale = config.lossNormalization == .truncationStart
                ? MetaLossNormalization.truncationScale(startLosses: unrollState.loss, initialScale: blockScales[i])
                : blockScales[i]
            var gradient = blockGradients[i]
            blockGradients[i] = []
            let losses = phi.withUnsafeBufferPointer { p in
                gradient.withUnsafeMutableBufferPointer {
                    engine.truncation(phi: p, state: &unrollState, mode: config.mode, unitGradients: $0)
                }
            }
            try coordinateShard?.checkFailure()
            unrollStates[i] = unrollState
            blockLosses[i] = losses.reduce(0.0) { $0 + Double($1) }
            if config.lossNormalization != nil {
                gradient.withUnsafeMutableBufferPointer { MetaLossNormalization.divide($0, by: scale) }
                blockLosses[i] /= scale
            }
            blockGradients[i] = gradient
        }
        if fault(.nan), let i = blockGradients.firstIndex(where: { !$0.isEmpty }) { blockGradients[i][0] = .nan }
        for g in blockGradients {
            for v in g {
                let a = Double(abs(v))
                if !a.isFinite { nonFinite = 1 } else if a > maxGradient { maxGradient = a }
            }
        }
        if blockLosses.contains(where: { !$0.isFinite }) { nonFinite = 1 }
        let maxLoss = blockLosses.reduce(0.0) { Swift.max($0, abs($1)) }
        let compute = seconds(since: start)
        let exchange = coordinateShard?.takeSeconds() ?? 0

        // Small MAX allreduce (`stepSummaryCount` values): largest magnitudes (fix the shared
        // exponent), non-finite flag, compute time spread, stop flag. It is also where fast ranks
        // wait for slow ones.
        let waitStart = DispatchTime.now()
        var summary: [Double] = [maxGradient, nonFinite > 0 ? 0 : maxLoss, nonFinite, compute, -compute,
                                 stopRequested() ? 1 : 0]
        precondition(summary.count == Self.stepSummaryCount)
        try communicator.allreduce(&summary, .max)
        let wait = seconds(since: waitStart)

        var report = StepReport(iteration: state.iteration, horizon: state.horizon, truncation: state.truncation,
                                metaLoss: .nan, meanStepLoss: .nan, gradientNorm: .nan, skipped: false,
                                skippedTotal: state.skippedSteps, computeMax: summary[3], computeMean: compute,
                                computeMin: -summary[4], wait: wait, allreduce: 0, exchange: exchange, update: 0,
                                stopRequested: summary[5] > 0)
        if summary[2] > 0 {
            // Every rank saw the same flag: skip together and start fresh functions.
            try skip(&report)
            return report
        }

        // Exact sum over all parts (a tile of a block each, or a whole block in the second-order
        // mode): gradient, loss and compute time in 64-bit fixed point. The gradient's exponent
        // allows for the most parts a meta-batch can have, a bound that does not depend on the
        // ranks. A block's loss is counted once, by its group's first shard.
        let gradientCodec = FixedPointCodec(maxMagnitude: summary[0], terms: config.blockCount * Self.maxUnitsPerBlock)
        let lossCodec = FixedPointCodec(maxMagnitude: summary[1], terms: config.blockCount)
        let P = architecture.parameterCount
        var buffer = [Int64](repeating: 0, count: P + 2)
        for g in blockGradients {
            for part in stride(from: 0, to: g.count, by: P) {
                for i in 0..<P { buffer[i] &+= gradientCodec.encode(g[part + i]) }
            }
        }
        if communicator.rank % shards == 0 {
            for l in blockLosses { buffer[P] &+= lossCodec.encode(l) }
        }
        buffer[P + 1] = Int64((compute * 1e6).rounded())
        let reduceStart = DispatchTime.now()
        try communicator.allreduce(&buffer, .sum)
        report.allreduce = seconds(since: reduceStart)

        let updateStart = DispatchTime.now()
        let B = Double(config.metaBatch)
        var gradient = [Float](repeating: 0, count: P)
        var normSquared = 0.0
        for i in 0..<P {
            let g = gradientCodec.decode(buffer[i]) / B
            gradient[i] = Float(g)
            normSquared += g * g
        }
        let norm = normSquared.squareRoot()
        if let clip = config.clipNorm, norm > clip {
            let factor = Float(clip / norm)
            for i in 0..<P { gradient[i] *= factor }
        }
        var newPhi = state.phi, newAdam = state.adam
        newAdam.apply(gradient: gradient, to: &newPhi, learningRate: Float(config.learningRate), step: state.adamStep + 1)
        report.update = seconds(since: updateStart)
        // A finite meta-gradient can still overflow Float in the step (a learning rate near Float's
        // limit, or g² past it, which would freeze those coordinates of φ for good): such a step is
        // skipped like a non-finite meta-gradient, so no checkpoint or file ever holds it. Every
        // rank computed the same bits, so all skip together.
        guard newPhi.allSatisfy(\.isFinite) && newAdam.firstMoment.allSatisfy(\.isFinite)
                && newAdam.secondMoment.allSatisfy(\.isFinite) else {
            try skip(&report)
            return report
        }
        state.adamStep += 1
        state.phi = newPhi
        state.adam = newAdam

        report.metaLoss = lossCodec.decode(buffer[P]) / B
        report.meanStepLoss = report.metaLoss / Double(config.unroll)
        report.gradientNorm = norm
        report.computeMean = Double(buffer[P + 1]) / 1e6 / Double(communicator.size)
        state.consecutiveSkips = 0
        state.iteration += 1
        state.truncation += 1
        if state.truncation == config.truncationsPerHorizon {
            state.truncation = 0
            state.horizon += 1
        }
        if config.consistencyCheckEvery > 0 && state.iteration % config.consistencyCheckEvery == 0 {
            try checkConsistency()
        }
        return report
    }

    /// A skipped meta-step: φ and Adam stay as they were, the counters advance and the next
    /// meta-step starts a fresh horizon; too many in a row end the run.
    private func skip(_ report: inout StepReport) throws {
        state.skippedSteps += 1
        state.consecutiveSkips += 1
        report.skipped = true
        report.skippedTotal = state.skippedSteps
        state.iteration += 1
        state.horizon += 1
        state.truncation = 0
        if state.consecutiveSkips >= config.maxConsecutiveSkips {
            throw TrainingError.tooManySkips(consecutive: state.consecutiveSkips, iteration: state.iteration - 1)
        }
    }

    /// Stops the job if φ (or Adam's second moment) differs between ranks: a MAX allreduce of
    /// (hash, −hash). Checks `checked` (default: the current state), e.g. the state about to be
    /// written to a checkpoint.
    public func checkConsistency(of checked: TrainerState? = nil) throws {
        let s = checked ?? state
        let hash = s.phi.withUnsafeBytes { fnv1a($0) } ^ s.adam.secondMoment.withUnsafeBytes { fnv1a($0) }
        guard try communicator.allAgree(on: hash) else { throw TrainingError.ranksDiverged(iteration: s.iteration) }
    }
}

/// What an engine's layout depends on: a function's size and parameter groups.
private struct TaskShape: Equatable {
    let dimension: Int
    let groups: [ParameterGroup]
    init(_ function: any Optimizee) {
        dimension = function.dimension
        groups = function.parameterGroups
    }
}
