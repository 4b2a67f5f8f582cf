/// Upper limits for every size a command line or a file states, and the memory a configuration
/// needs.
///
/// An Int that overflows traps in a release build and wraps silently in one built with -Ounchecked
/// (as this library once was: a block size of 2^63−1 made ⌈meta-batch / block size⌉ zero blocks),
/// and a size past what the machine holds ends in a trap inside an allocation. So every size is bounded here first, far above any run that
/// fits a node (the paper's largest is a CNN of ~10^5 coordinates, meta-batch 128, unroll 20), and
/// products of sizes are formed with `multipliedReportingOverflow`. A limit is a sanity bound,
/// not a tuning knob: the memory estimate refuses configurations that would not fit.
package enum SizeLimits {
    /// Functions per meta-step (meta-batch), tasks per block, and validation/evaluation functions.
    package static let functions = 1 << 24
    /// Validation and evaluation functions: each is kept in memory with its loss curve.
    package static let heldOutFunctions = 1 << 20
    /// Steps per truncation: the backward pass keeps every step's LSTM state (memory ∝ unroll).
    package static let unroll = 1 << 20
    /// Validation and consistency-check intervals: counters only, bounded so that sums cannot
    /// overflow.
    package static let steps = 1 << 40
    /// Meta-steps: each horizon, and each skipped meta-step, draws its functions under a new
    /// horizon index, one 32-bit word of the random keys (`RandomKey`).
    package static let iterations = 1 << 32
    /// Steps per horizon: an image task draws each step's minibatch from a stream of its own, one
    /// of the 2^24 substreams of a key (`RandomStream`).
    package static let horizon = 1 << 24
    /// Units per LSTM layer: one layer's weight is (inputs + H) × 4H floats.
    package static let hiddenSize = 1 << 14
    /// LSTM layers.
    package static let layers = 64
    /// Learned optimizers in one φ (the CNN uses 2).
    package static let optimizerCount = 64
    /// Coordinates of one optimizee (dimension, or an image network's parameter count), and the
    /// size of one hidden layer, channel count or minibatch of an image task.
    package static let coordinates = 1 << 30
    /// Layers of an image task's network.
    package static let networkLayers = 1 << 10
    /// Parameters of a φ that training writes: its optimizer file takes up to 16 bytes per
    /// parameter as text and is read back up to `RegularFile.optimizerFileLimit` (256 MiB), its
    /// checkpoints 12 per parameter up to `RegularFile.checkpointLimit` (1 GiB). A hidden size of
    /// 2,800 was trained and wrote a checkpoint no resume could read.
    package static let trainedParameters = RegularFile.optimizerFileLimit / 16

    /// "NAME must be at most LIMIT (got VALUE)" when `value` is above `limit`.
    package static func problem(_ name: String, _ value: Int, limit: Int) -> String? {
        value > limit ? "\(name) must be at most \(limit) (got \(value))" : nil
    }

    /// "NAME must be positive and finite as a 32-bit float, at most 3.4028235e+38 (got VALUE)" for a
    /// positive Double that the Float engines would turn into infinity (a learning rate of 1e39).
    package static func floatRangeProblem(_ name: String, _ value: Double) -> String? {
        value > Double(Float.greatestFiniteMagnitude) && value.isFinite
            ? "\(name) must be positive and finite as a 32-bit float, at most \(Float.greatestFiniteMagnitude) (got \(value))" : nil
    }

    /// "NAME must be positive as a 32-bit float (got VALUE, which underflows one)" for a positive
    /// Double that the Float engines would use as 0 (1e-50).
    package static func underflowProblem(_ name: String, _ value: Double) -> String? {
        value > 0 && Float(value) == 0 ? "\(name) must be positive as a 32-bit float (got \(value), which underflows one)" : nil
    }

    /// a · b · …, or nil when the product overflows Int.
    package static func product(_ factors: Int...) -> Int? {
        var result = 1
        for f in factors {
            let (p, overflow) = result.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            result = p
        }
        return result
    }

    /// a + b + …, or nil when the sum overflows Int.
    package static func sum(_ terms: Int...) -> Int? {
        var result = 0
        for t in terms {
            let (s, overflow) = result.addingReportingOverflow(t)
            if overflow { return nil }
            result = s
        }
        return result
    }
}

extension TrainingConfig {
    /// The upper limits (`SizeLimits`) this configuration breaks, as sentences.
    func limitProblems() -> [String] {
        var p: [String] = []
        p += [SizeLimits.problem("the meta-batch size", metaBatch, limit: SizeLimits.functions),
              SizeLimits.problem("the block size", blockSize, limit: SizeLimits.functions),
              SizeLimits.problem("the unroll length", unroll, limit: SizeLimits.unroll),
              SizeLimits.problem("the horizon", horizon, limit: SizeLimits.horizon),
              SizeLimits.problem("the number of iterations", iterations, limit: SizeLimits.iterations),
              validation.flatMap { SizeLimits.problem("the number of validation functions", $0.functions, limit: SizeLimits.heldOutFunctions) },
        ].compactMap { $0 }
        if let every = validation?.every, let problem = SizeLimits.problem("the validation interval", every, limit: SizeLimits.steps) {
            p.append(problem)
        }
        if let problem = SizeLimits.problem("the consistency-check interval", consistencyCheckEvery, limit: SizeLimits.steps) {
            p.append(problem)
        }
        if optimizer.problems().isEmpty,
           let problem = SizeLimits.problem("the learned optimizer's parameter count", ParameterLayout(optimizer).count,
                                            limit: SizeLimits.trainedParameters) {
            p.append(problem + ": its optimizer file and checkpoints could not be read back (give smaller hidden sizes)")
        }
        return p
    }

    /// One block's engine and its state (`LearnedOptimizerConfig.estimatedEngineBytes`).
    package func estimatedEngineBytes(coordinates: Int) -> Int? {
        SizeLimits.product(coordinates, functionsPerBlock).flatMap {
            optimizer.estimatedEngineBytes(columns: $0, unroll: unroll, secondOrder: mode == .secondOrder)
        }
    }

    /// The blocks of the meta-batch that the busiest of `ranks` ranks holds: ⌈blocks / groups⌉,
    /// where the ranks form groups of `shards` (`--shards`) and every rank of a group holds the
    /// whole functions of the group's blocks (measured: 2 ranks, 2 blocks of a 2048-dimensional
    /// quadratic, peak RSS 1.66 GB per rank unsharded and 3.29 GB with --shards 2).
    package func mostBlocksPerRank(ranks: Int, shards: Int = 1) -> Int { (blockCount - 1) / max(ranks / max(shards, 1), 1) + 1 }

    /// Floats of φ's size the trainer holds besides the engines: φ, Adam's two moments, the next
    /// φ, the reduced gradient, the Int64 allreduce buffer (two), the best φ of validation, and
    /// the checkpoint's copies (calibrated: hidden size 2048, |φ| = 50M, peaked at 5.5 GB).
    static let phiSizedBuffers = 20

    /// Everything one rank of a run on `ranks` ranks holds, in bytes: for each block it owns
    /// (⌈blocks / ranks⌉) the engine and its state (`estimatedEngineBytes`), the block's functions
    /// and their batch copy (`TaskSpec.estimatedBytes`) and, first order, the meta-gradient's
    /// parts (|φ| Floats per column tile);
    /// `phiSizedBuffers` × |φ| Floats; with validation, the rank's share of the validation
    /// functions and a forward-only engine for one of them. Nil when it overflows Int.
    /// Measured (peak RSS of `train`, one rank, against this estimate): see MemoryEstimate.swift.
    package func estimatedRankBytes(coordinates: Int, ranks: Int, shards: Int = 1) throws -> Int? {
        let tile = UnrollEngine<Float>.defaultTileWidth
        let phi = ParameterLayout(optimizer).count
        guard let columns = SizeLimits.product(coordinates, functionsPerBlock),
              let engine = estimatedEngineBytes(coordinates: coordinates),
              let functions = try task.estimatedBytes(functions: functionsPerBlock, batched: true) else { return nil }
        let units = mode == .firstOrder ? (columns - 1) / tile + optimizer.optimizerCount : 1
        guard let parts = SizeLimits.product(units, phi, 4),
              let block = SizeLimits.sum(engine, functions, parts),
              let blocks = SizeLimits.product(block, mostBlocksPerRank(ranks: ranks, shards: shards)),
              let phiSized = SizeLimits.product(Self.phiSizedBuffers, phi, 4) else { return nil }
        var validating = 0
        if let validation {
            let share = (validation.functions - 1) / max(ranks, 1) + 1
            guard let held = try task.estimatedBytes(functions: share, batched: false),
                  let batch = try task.estimatedBytes(functions: 1, batched: true),
                  let forward = optimizer.estimatedEngineBytes(columns: coordinates, unroll: nil),
                  let sum = SizeLimits.sum(held, batch, forward) else { return nil }
            validating = sum
        }
        return SizeLimits.sum(blocks, phiSized, validating)
    }
}

extension LearnedOptimizerConfig {
    /// An engine over `columns` coordinates (a forward-only one when `unroll` is nil) and the
    /// state it runs on: `UnrollEngine.statedBytes`, all columns on the first learned optimizer
    /// (one part-filled tile per lane, the most padding any split into lanes has; padding
    /// matters: a function of one coordinate fills 1 of a tile's 256 columns), and the
    /// `UnrollState` (θ, ∇f, every layer's h and c per coordinate, unpadded). Nil when the count
    /// overflows Int.
    package func estimatedEngineBytes(columns: Int, unroll: Int?, secondOrder: Bool = false) -> Int? {
        let stateRows = 2 + 2 * hiddenSizes.reduce(0, +)
        guard let engine = UnrollEngine<Float>.statedBytes(
                  layout: ParameterLayout(self), laneColumns: [columns] + Array(repeating: 0, count: optimizerCount - 1),
                  coordinates: columns, unroll: unroll ?? 1, history: unroll != nil,
                  pairsProducts: FloatKernels(.default).pairsForwardProducts, thetaHistory: secondOrder ? unroll ?? 0 : 0),
              let state = SizeLimits.product(stateRows, columns, MemoryLayout<Float>.stride) else { return nil }
        return SizeLimits.sum(engine, state)
    }
}
