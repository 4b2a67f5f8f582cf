/// Upper limits for every size a command line or a file states, and the memory a configuration
/// needs.
///
/// The library is built with -Ounchecked: an Int that overflows wraps silently (a block size of
/// 2^63−1 made ⌈meta-batch / block size⌉ zero blocks), and a size past what the machine holds ends
/// in a trap inside an allocation. So every size is bounded here first, far above any run that
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
    /// Steps per horizon, and meta-steps: counters only, bounded so that sums cannot overflow.
    package static let steps = 1 << 40
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
              SizeLimits.problem("the horizon", horizon, limit: SizeLimits.steps),
              SizeLimits.problem("the number of iterations", iterations, limit: SizeLimits.steps),
              validation.flatMap { SizeLimits.problem("the number of validation functions", $0.functions, limit: SizeLimits.heldOutFunctions) },
        ].compactMap { $0 }
        if let every = validation?.every, let problem = SizeLimits.problem("the validation interval", every, limit: SizeLimits.steps) {
            p.append(problem)
        }
        if let problem = SizeLimits.problem("the consistency-check interval", consistencyCheckEvery, limit: SizeLimits.steps) {
            p.append(problem)
        }
        return p
    }

    /// The bytes one rank's engines allocate for this configuration on `ranks` ranks with
    /// `coordinates` coordinates per function: `UnrollEngine.statedBytes`'s formula without the
    /// tile padding and the per-lane scratch (a lower bound, exact to a few per cent for the
    /// paper's sizes), times the blocks the rank owns (⌈blocks / ranks⌉). Per column (one
    /// coordinate of one function): T'·I inputs, the output head's 2, each layer's
    /// `LSTMLayerLane.scalarsPerColumn`, and T' + 4 flat vectors (T + T' + 4 in the second-order
    /// mode); T' = max(T, 2). Per engine, where the default kernels pair the forward products,
    /// their prepared weights (`PairedForwardProducts.scalars`). Nil when the product overflows
    /// Int (it exceeds every machine).
    package func estimatedEngineBytes(coordinates: Int, ranks: Int) -> Int? {
        let t = max(unroll, 2)
        var perColumn = t * optimizer.inputCount + OutputHead<Float>.scalarsPerColumn() + t + 4
        if mode == .secondOrder { perColumn += unroll }
        var inputs = optimizer.inputCount
        for h in optimizer.hiddenSizes {
            let layer = ParameterLayout.Layer(inputs: inputs, hidden: h, weight: 0, bias: 0)
            perColumn += LSTMLayerLane<Float>.scalarsPerColumn(layer, slots: t)
            inputs = h
        }
        let blocksPerRank = (blockCount - 1) / max(ranks, 1) + 1
        let paired = FloatKernels(.default).pairsForwardProducts ? PairedForwardProducts.scalars(ParameterLayout(optimizer)) : 0
        guard let columns = SizeLimits.product(perColumn, coordinates, blockSize),
              let perEngine = SizeLimits.sum(columns, paired) else { return nil }
        return SizeLimits.product(perEngine, blocksPerRank, MemoryLayout<Float>.stride)
    }
}
