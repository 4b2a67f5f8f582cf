import CMetaOptKernels
import Foundation

/// Runs the learned optimizer on a fixed set of tasks: forward over a truncation of T steps and the
/// hand-written backward pass that yields each task's meta-gradient (DESIGN.md §1).
///
/// All coordinates of all tasks that one learned optimizer acts on are the columns of one
/// feature-major matrix (features × coordinates). The columns are cut into tiles of `tileWidth`
/// columns, stored tile by tile (`TiledMatrix`): per step, each tile runs layer 1's matrix product
/// into a cache-resident scratch block, layer 1's elementwise kernel, then layer 2's product and
/// kernel, so the gate pre-activations never leave the L2 cache and every block of the BPTT
/// history is one contiguous run of memory. See docs/performance.md.
///
/// An engine's result is a pure function of its tasks and φ: the same tasks in the same order give
/// bit-identical results in any process (one thread, a fixed sequence of BLAS calls and sums). (It
/// is not true across different groupings: OpenBLAS's edge kernels round a column differently
/// depending on where it falls in the matrix, so the distributed trainer always runs the same
/// fixed blocks of tasks, whatever the number of ranks.)
///
/// Buffers are sized once in `init` and reused; nothing is allocated inside the step loop.
public final class UnrollEngine<S: MetaScalar> {
    public let layout: ParameterLayout
    public private(set) var tasks: [any Optimizee]
    public let unroll: Int
    /// w_t for t = 0…T (w_0 = 0: the loss counts θ_1…θ_T).
    public let lossWeights: [S]
    /// Start of each task's θ in the flat coordinate vector; the last entry is the total.
    public let taskOffsets: [Int]
    public var coordinateCount: Int { taskOffsets[tasks.count] }
    public var scalarsAllocated: Int { workspace.allocatedScalars }
    /// Bytes of every buffer the engine allocated (BPTT history and work buffers).
    public var allocatedBytes: Int { workspace.allocatedScalars * MemoryLayout<S>.stride }

    /// A contiguous run of coordinates of one task that one learned optimizer updates.
    struct Segment {
        var task: Int  // the first task of the run
        var start: Int  // in the flat coordinate vector
        var count: Int
        var column: Int  // in the lane's matrices
    }

    /// Buffers of one learned optimizer ("lane"). The BPTT history keeps, per step t, the LSTM
    /// inputs x_t, the activated gates i, f, g, o and tanh(c_t) of both layers, and c_t (cell slot
    /// t holds c_{t-1}, slot t+1 holds c_t). The layers' full inputs X1 = [x_t; h1_{t-1}] and
    /// X2 = [h1_t; h2_{t-1}] live only in two working slots (this step's and the next); the
    /// backward pass rebuilds them from h = o ⊙ tanh(c), bit for bit, which saves a quarter of the
    /// history's memory traffic.
    struct Lane {
        var block: ParameterLayout.Block
        var columns: Int
        var segments: [Segment]
        /// Column tiles, and the segments clipped to each (columns relative to the lane).
        var tiles: [Range<Int>]
        var tileSegments: [[Segment]]
        /// 4H × tileWidth: a tile's gate pre-activations (forward) or dL/dz (backward), kept in
        /// cache between the matrix product and the elementwise kernel.
        var scratch: MatrixView<S>
        /// Working X1, X2: slot t % 2 is step t's.
        var x1: [TiledMatrix<S>], x2: [TiledMatrix<S>]
        /// History: x_t (inputs rows) per step, and [h1; h2] at the start of the truncation.
        var inputHistory: [TiledMatrix<S>]
        var initialHidden: TiledMatrix<S>
        /// Backward: X1 and X2 of the step being processed, rebuilt for one tile.
        var rebuilt1: MatrixView<S>, rebuilt2: MatrixView<S>
        var cell1: [TiledMatrix<S>], cell2: [TiledMatrix<S>]
        var gates1: [TiledMatrix<S>], gates2: [TiledMatrix<S>]
        var tanh1: [TiledMatrix<S>], tanh2: [TiledMatrix<S>]
        /// The output u (one row).
        var update: TiledMatrix<S>
        /// Backward: dL/dx of both layers (the recurrent dL/dh parts carried to the previous step),
        /// dL/dc of both layers, dL/du.
        var dX1: TiledMatrix<S>, dX2: TiledMatrix<S>
        var dCell1: TiledMatrix<S>, dCell2: TiledMatrix<S>, dUpdate: TiledMatrix<S>
        /// Float path: per-lane partial sums of dW1 (K1 × 4H outputs) and dW2 (2H × 4H outputs),
        /// see `FloatWeightGradient`; nil where BLAS accumulates into the gradient directly.
        var weightSums1: UnsafeMutablePointer<Float>?, weightSums2: UnsafeMutablePointer<Float>?
    }

    /// The vector kernels the Float path runs (the Double path runs scalar loops).
    public let kernelPath: KernelPath
    let kernels: FloatKernels
    let weightGradient: FloatWeightGradient
    let workspace = Workspace<S>()
    var lanes: [Lane] = []
    let hidden: Int
    let inputs: Int
    let slots: Int
    let tileWidth: Int
    /// ∇f at every step of the truncation (slot t = step t), flat over all tasks.
    var gradients: [MatrixView<S>]
    var theta: MatrixView<S>
    /// θ_t of every step of the truncation; kept only for the second-order mode's Hessians
    /// (allocated on its first use).
    var thetaHistory: [MatrixView<S>]
    var adjoint: MatrixView<S>
    var scratchCoordinates: MatrixView<S>

    /// Columns per tile. 256 (1 KiB rows for Float) keeps a tile's operands of one step, about
    /// 300 KiB, in a 1 MiB L2 cache, and is where OpenBLAS's sgemm runs fastest on these shapes
    /// (docs/performance.md). A multiple of 16.
    public static var defaultTileWidth: Int { 256 }

    /// Memory ranges to prefetch (filled per backward step; at most 12).
    let prefetchBuffer = UnsafeMutablePointer<metaopt_memory_range>.allocate(capacity: 12)

    deinit { prefetchBuffer.deallocate() }

    /// Collects the memory of some matrices into `prefetchBuffer`.
    struct PrefetchList {
        let buffer: UnsafeMutablePointer<metaopt_memory_range>
        var count = 0
        mutating func add(_ m: MatrixView<S>) {
            precondition(count < 12)
            buffer[count] = metaopt_memory_range(start: UnsafeRawPointer(m.base), bytes: m.rows * m.stride * MemoryLayout<S>.stride)
            count += 1
        }
        /// Cache lines in all ranges.
        var lines: Int { (0..<count).reduce(0) { $0 + (buffer[$1].bytes + 63) / 64 } }
    }

    /// Per-phase timing; nil (the default) switches it off.
    public var profile: EngineProfile?
    private var phaseStart: UInt64 = 0

    /// Ends the current phase, charging its time to `phase` (when profiling).
    @inline(__always) private func mark(_ phase: EngineProfile.Phase) {
        guard profile != nil else { return }
        let now = Stopwatch.now()
        profile!.seconds[phase.rawValue] += Double(now &- phaseStart) / 1e9
        phaseStart = now
    }
    @inline(__always) private func startPhases() {
        if profile != nil { phaseStart = Stopwatch.now() }
    }

    /// - Parameters:
    ///   - unroll: truncation length T; the engine stores T steps of history for the backward pass.
    ///   - lossWeights: w_1…w_T (default all 1).
    ///   - kernelPath: the vector kernels of the Float path (default: `KernelPath.default`, the
    ///     fastest this CPU has unless `METAOPT_KERNELS` says otherwise).
    public convenience init(layout: ParameterLayout, tasks: [any Optimizee], unroll: Int, lossWeights: [Double]? = nil,
                            kernelPath: KernelPath? = nil) {
        self.init(layout: layout, tasks: tasks, unroll: unroll, lossWeights: lossWeights, tileWidth: nil,
                  kernelPath: kernelPath)
    }

    /// `tileWidth` (a multiple of 16; nil: `defaultTileWidth`) is for experiments: results depend
    /// on it in the last bits.
    public init(layout: ParameterLayout, tasks: [any Optimizee], unroll: Int, lossWeights: [Double]? = nil,
                tileWidth: Int?, kernelPath: KernelPath? = nil) {
        let path = kernelPath ?? .default
        precondition(path.isSupported, "this CPU cannot run the \(path.rawValue) kernels")
        self.kernelPath = path
        kernels = FloatKernels(path)
        weightGradient = FloatWeightGradient(kernels: kernels)
        precondition(unroll >= 1, "unroll must be positive")
        precondition(!tasks.isEmpty, "an engine needs at least one task")
        let width = tileWidth ?? UnrollEngine.defaultTileWidth
        precondition(width >= 16 && width % 16 == 0, "the tile width must be a positive multiple of 16")
        self.tileWidth = width
        self.layout = layout
        self.tasks = tasks
        self.unroll = unroll
        let weights = lossWeights ?? Array(repeating: 1, count: unroll)
        precondition(weights.count == unroll, "need one loss weight per unrolled step")
        self.lossWeights = [0] + weights.map { S($0) }
        var offsets = [0]
        for t in tasks { offsets.append(offsets.last! + t.dimension) }
        taskOffsets = offsets
        hidden = layout.config.hiddenSize
        inputs = layout.config.inputCount
        slots = max(unroll, 2)
        let n = offsets.last!
        let ws = workspace
        gradients = (0...slots).map { _ in ws.vector(n) }
        theta = ws.vector(n)
        thetaHistory = []
        adjoint = ws.vector(n)
        scratchCoordinates = ws.vector(n)

        var segmentsPerLane = Array(repeating: [Segment](), count: layout.config.optimizerCount)
        var columnsPerLane = Array(repeating: 0, count: layout.config.optimizerCount)
        for (b, task) in tasks.enumerated() {
            for group in task.parameterGroups {
                precondition(group.optimizer < layout.config.optimizerCount,
                             "task uses learned optimizer \(group.optimizer), φ has \(layout.config.optimizerCount)")
                guard !group.range.isEmpty else { continue }
                segmentsPerLane[group.optimizer].append(
                    Segment(task: b, start: offsets[b] + group.range.lowerBound, count: group.range.count,
                            column: columnsPerLane[group.optimizer]))
                columnsPerLane[group.optimizer] += group.range.count
            }
        }
        // Adjacent runs that are contiguous both in θ and in the lane's columns are one run (for a
        // single learned optimizer: one run over all coordinates), so the vector loops see long rows.
        for o in segmentsPerLane.indices {
            var merged: [Segment] = []
            for seg in segmentsPerLane[o] {
                if let last = merged.last, last.start + last.count == seg.start, last.column + last.count == seg.column {
                    merged[merged.count - 1].count += seg.count
                } else {
                    merged.append(seg)
                }
            }
            segmentsPerLane[o] = merged
        }
        let h = hidden, k1 = inputs + hidden, gates = 4 * hidden, slots = self.slots
        let vectorWeightGradient = S.self == Float.self && FloatWeightGradient.supports(n: gates)
        func vectorSums(_ count: Int) -> UnsafeMutablePointer<Float>? {
            guard vectorWeightGradient else { return nil }
            return ws.vector(count * FloatWeightGradient.slot).base.reinterpreted()
        }
        for o in 0..<layout.config.optimizerCount {
            let m = columnsPerLane[o]
            let tiles = stride(from: 0, to: m, by: width).map { $0..<min($0 + width, m) }
            let tileSegments = tiles.map { tile in
                segmentsPerLane[o].compactMap { seg -> Segment? in
                    let lo = max(seg.column, tile.lowerBound), hi = min(seg.column + seg.count, tile.upperBound)
                    guard lo < hi else { return nil }
                    return Segment(task: seg.task, start: seg.start + lo - seg.column, count: hi - lo,
                                   column: lo - tile.lowerBound)
                }
            }
            func tiled(_ rows: Int) -> TiledMatrix<S> { ws.tiled(rows, m, tileWidth: width) }
            func block(_ rows: Int) -> MatrixView<S> {
                MatrixView(base: ws.tiled(rows, width, tileWidth: width).base, rows: rows, columns: width, stride: width)
            }
            lanes.append(Lane(
                block: layout.blocks[o], columns: m, segments: segmentsPerLane[o], tiles: tiles,
                tileSegments: tileSegments, scratch: block(gates),
                x1: (0..<2).map { _ in tiled(k1) }, x2: (0..<2).map { _ in tiled(2 * h) },
                inputHistory: (0..<slots).map { _ in tiled(inputs) }, initialHidden: tiled(2 * h),
                rebuilt1: block(k1), rebuilt2: block(2 * h),
                cell1: (0...slots).map { _ in tiled(h) }, cell2: (0...slots).map { _ in tiled(h) },
                gates1: (0..<slots).map { _ in tiled(gates) }, gates2: (0..<slots).map { _ in tiled(gates) },
                tanh1: (0..<slots).map { _ in tiled(h) }, tanh2: (0..<slots).map { _ in tiled(h) },
                update: tiled(1), dX1: tiled(k1), dX2: tiled(2 * h), dCell1: tiled(h), dCell2: tiled(h),
                dUpdate: tiled(1), weightSums1: vectorSums(k1 * gates), weightSums2: vectorSums(2 * h * gates)))
        }
    }

    /// The memory the engine allocates, from its layout: per lane with M columns in ⌈M/W⌉ tiles of
    /// W columns (W = the tile width), in scalars per padded column,
    ///   history   (T'+1)·2H + T'·(8H + 2H + I)   (c1, c2; gates, tanh c of both layers, x)
    ///   working   2·(K1 + 2H) + 2H             (X1, X2 of this and the next step; h at the start)
    ///   backward  K1 + 2H + H + H + 1          (dX1, dX2, dc1, dc2, du)
    ///   output    1                            (u)
    /// plus scratch blocks of (4H + K1 + 2H) × W, the Float path's vector partial sums of dW
    /// ((K1 + 2H)·4H vectors), and (T'+1) + 3 flat vectors of the N coordinates
    /// (∇f per step, θ, adjoint, scratch); T' = max(T, 2), I inputs, K1 = I + H. For H = 20, I = 2
    /// and T = 20 the history is 244 scalars (976 bytes for Float) per coordinate and unrolled step.
    public var statedBytes: Int {
        let h = hidden, k1 = inputs + hidden, t = slots
        var scalars = 0
        for lane in lanes {
            let padded = max(lane.tiles.count, 1) * tileWidth
            let perColumn = (t + 1) * 2 * h + t * (10 * h + inputs) + 2 * (k1 + 2 * h) + 2 * h + (k1 + 4 * h + 1) + 1
            scalars += perColumn * padded + (4 * h + k1 + 2 * h) * tileWidth
            if lane.weightSums1 != nil {
                let lanes = FloatWeightGradient.slot
                scalars += Workspace<S>.stride(for: k1 * 4 * h * lanes) + Workspace<S>.stride(for: 2 * h * 4 * h * lanes)
            }
        }
        let n = Workspace<S>.stride(for: coordinateCount)
        scalars += (t + 1 + 3 + thetaHistory.count) * n
        return scalars * MemoryLayout<S>.stride
    }

    /// The matrix products one unrolled step makes (forward and first-order backward), one entry
    /// per distinct shape with its number of calls.
    public var gemmShapes: [GEMMShape] {
        let h = hidden, g = 4 * hidden, k1 = inputs + hidden
        var shapes: [GEMMShape] = []
        for lane in lanes {
            var widths: [Int: Int] = [:]
            for tile in lane.tiles { widths[tile.count, default: 0] += 1 }
            for (w, calls) in widths.sorted(by: { $0.key > $1.key }) {
                shapes += [
                    GEMMShape(name: "L1 fwd W1ᵀ·X1", transposeA: true, transposeB: false, m: g, n: w, k: k1, callsPerStep: calls),
                    GEMMShape(name: "L2 fwd W2ᵀ·X2", transposeA: true, transposeB: false, m: g, n: w, k: 2 * h, callsPerStep: calls),
                    GEMMShape(name: "L2 bwd dW X2·dZᵀ", transposeA: false, transposeB: true, m: 2 * h, n: g, k: w, callsPerStep: calls),
                    GEMMShape(name: "L2 bwd dX W2·dZ", transposeA: false, transposeB: false, m: 2 * h, n: w, k: g, callsPerStep: calls),
                    GEMMShape(name: "L1 bwd dW X1·dZᵀ", transposeA: false, transposeB: true, m: k1, n: g, k: w, callsPerStep: calls),
                    GEMMShape(name: "L1 bwd dX_h W1h·dZ", transposeA: false, transposeB: false, m: h, n: w, k: g, callsPerStep: calls),
                ]
            }
        }
        return shapes
    }

    /// Swaps in new tasks of the same shapes (same dimensions and parameter groups, in order), so a
    /// new horizon reuses every buffer.
    public func replaceTasks(_ newTasks: [any Optimizee]) {
        precondition(newTasks.count == tasks.count, "replaceTasks needs as many tasks as before")
        for (old, new) in zip(tasks, newTasks) {
            precondition(old.dimension == new.dimension && old.parameterGroups == new.parameterGroups,
                         "replaceTasks needs tasks of the same shape")
        }
        tasks = newTasks
    }

    // MARK: - State

    /// θ₀ of every task, the loss and gradient there (step 0), zero LSTM states.
    public func initialState() -> UnrollState<S> {
        var theta = [S](repeating: 0, count: coordinateCount)
        for (b, task) in tasks.enumerated() {
            let t0 = task.initialParameters()
            precondition(t0.count == task.dimension, "initialParameters() has the wrong length")
            for i in 0..<t0.count { theta[taskOffsets[b] + i] = S(t0[i]) }
        }
        var gradient = [S](repeating: 0, count: coordinateCount)
        var loss = [S](repeating: 0, count: tasks.count)
        theta.withUnsafeBufferPointer { tp in
            gradient.withUnsafeMutableBufferPointer { gp in
                for b in tasks.indices {
                    let r = taskOffsets[b]..<taskOffsets[b + 1]
                    loss[b] = S.evaluate(tasks[b], theta: UnsafeBufferPointer(rebasing: tp[r]), step: 0,
                                         gradient: UnsafeMutableBufferPointer(rebasing: gp[r]))
                }
            }
        }
        let lstm = lanes.map { [S](repeating: 0, count: 4 * hidden * $0.columns) }
        return UnrollState(step: 0, theta: theta, gradient: gradient, loss: loss, lstm: lstm)
    }

    /// Calls `body(block, tile, hidden unit row)` for every state row of `lane` after history slot
    /// `slot`'s step: h1, c1, h2, c2 (the order of `UnrollState.lstm`, each H × M).
    private func forEachStateRow(_ lane: Lane, slot: Int,
                                 _ body: (_ block: Int, _ tile: Range<Int>, _ j: Int, _ row: UnsafeMutablePointer<S>) -> Void) {
        for (ti, tile) in lane.tiles.enumerated() {
            let blocks = [lane.x1[slot % 2].tile(ti).rows(inputs, hidden), lane.cell1[slot].tile(ti),
                          lane.x2[slot % 2].tile(ti).rows(hidden, hidden), lane.cell2[slot].tile(ti)]
            for (b, block) in blocks.enumerated() {
                for j in 0..<hidden { body(b, tile, j, block.row(j)) }
            }
        }
    }

    private func load(_ state: UnrollState<S>) {
        precondition(state.theta.count == coordinateCount && state.lstm.count == lanes.count, "state does not fit")
        state.theta.withUnsafeBufferPointer { theta.base.update(from: $0.baseAddress!, count: coordinateCount) }
        state.gradient.withUnsafeBufferPointer { gradients[0].base.update(from: $0.baseAddress!, count: coordinateCount) }
        for (o, lane) in lanes.enumerated() where lane.columns > 0 {
            let m = lane.columns
            state.lstm[o].withUnsafeBufferPointer { p in
                forEachStateRow(lane, slot: 0) { b, tile, j, row in
                    row.update(from: p.baseAddress! + (b * hidden + j) * m + tile.lowerBound, count: tile.count)
                }
            }
            // h1, h2 at the start, for the backward pass's X1 and X2 of step 0.
            for ti in lane.tiles.indices {
                let initial = lane.initialHidden.tile(ti)
                copyRows(lane.x1[0].tile(ti).rows(inputs, hidden), into: initial.rows(0, hidden))
                copyRows(lane.x2[0].tile(ti).rows(hidden, hidden), into: initial.rows(hidden, hidden))
            }
        }
    }

    private func store(slot: Int, step: Int, losses: [S], into state: inout UnrollState<S>) {
        state.step = step
        state.loss = losses
        state.theta.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: theta.base, count: coordinateCount) }
        state.gradient.withUnsafeMutableBufferPointer {
            $0.baseAddress!.update(from: gradients[slot].base, count: coordinateCount)
        }
        for (o, lane) in lanes.enumerated() where lane.columns > 0 {
            let m = lane.columns
            state.lstm[o].withUnsafeMutableBufferPointer { p in
                forEachStateRow(lane, slot: slot) { b, tile, j, row in
                    (p.baseAddress! + (b * hidden + j) * m + tile.lowerBound).update(from: row, count: tile.count)
                }
            }
        }
    }

    // MARK: - Forward

    /// One step of the learned optimizer from history slot `from` to slot `to`: reads the
    /// gradient in `gradients[gradientSlot]`, adds the update to θ. `inputOverride`, when given,
    /// replaces that gradient as the LSTM input (the frozen-input loss of the finite-difference tests).
    private func forwardStep(phi: UnsafePointer<S>, from s: Int, to d: Int, gradientSlot: Int,
                             inputOverride: UnsafePointer<S>? = nil, keepHistory: Bool = true) {
        let h = hidden, m4 = 4 * hidden, k1 = inputs + hidden
        let scale = S(layout.config.outputScale)
        let input = inputOverride ?? UnsafePointer(gradients[gradientSlot].base)
        for lane in lanes where lane.columns > 0 {
            let block = lane.block, ld = tileWidth, z0 = lane.scratch
            for ti in lane.tiles.indices {
                let x1 = lane.x1[s % 2].tile(ti), x2 = lane.x2[s % 2].tile(ti), u = lane.update.tile(ti).base
                let w = x1.columns, z = MatrixView(base: z0.base, rows: z0.rows, columns: w, stride: ld)
                startPhases()
                for seg in lane.tileSegments[ti] {
                    layout.config.preprocessing.apply(input + seg.start, count: seg.count, into: x1, column: seg.column,
                                                      kernels: kernels)
                }
                copyRows(x1.rows(0, inputs), into: lane.inputHistory[s].tile(ti))
                mark(.preprocessing)
                // Layer 1: z = W1ᵀ [x; h1_prev]
                S.gemm(transposeA: true, transposeB: false, m: m4, n: w, k: k1, alpha: 1,
                       a: phi + block.weight1, lda: m4, b: x1.base, ldb: ld, beta: 0, c: z.base, ldc: ld)
                mark(.forwardGEMM1)
                LSTMKernels.forward(preactivations: z, gates: lane.gates1[s].tile(ti), bias: phi + block.bias1,
                                    cellPrevious: lane.cell1[s].tile(ti), cell: lane.cell1[d].tile(ti),
                                    tanhCell: lane.tanh1[s].tile(ti), hidden: lane.x1[d % 2].tile(ti).rows(inputs, h),
                                    hiddenCopy: x2.rows(0, h), output: nil, keepHistory: keepHistory, kernels: kernels)
                mark(.forwardKernel1)
                // Layer 2: z = W2ᵀ [h1; h2_prev]; then the output u = woᵀ h2 + bo.
                S.gemm(transposeA: true, transposeB: false, m: m4, n: w, k: 2 * h, alpha: 1,
                       a: phi + block.weight2, lda: m4, b: x2.base, ldb: ld, beta: 0, c: z.base, ldc: ld)
                mark(.forwardGEMM2)
                LSTMKernels.forward(preactivations: z, gates: lane.gates2[s].tile(ti), bias: phi + block.bias2,
                                    cellPrevious: lane.cell2[s].tile(ti), cell: lane.cell2[d].tile(ti),
                                    tanhCell: lane.tanh2[s].tile(ti), hidden: lane.x2[d % 2].tile(ti).rows(h, h),
                                    hiddenCopy: nil,
                                    output: .init(weights: phi + block.outputWeight, bias: phi[block.outputBias], update: u),
                                    keepHistory: keepHistory, kernels: kernels)
                mark(.forwardKernel2)
                // θ += scale · u
                for seg in lane.tileSegments[ti] {
                    let th = theta.base + seg.start, uu = u + seg.column
                    if S.self == Float.self {
                        kernels.addScaled(th.reinterpreted(), Float(scale), uu.reinterpreted(), count: seg.count)
                    } else {
                        for k in 0..<seg.count { th[k] += scale * uu[k] }
                    }
                }
                mark(.thetaUpdate)
            }
        }
    }

    /// Evaluates every task at θ (current `theta`) on optimizee step `step`; gradient into `slot`.
    private func evaluateTasks(step: Int, gradientSlot: Int, losses: inout [S]) {
        startPhases()
        defer { mark(.optimizee) }
        let tp = UnsafeBufferPointer(start: theta.base, count: coordinateCount)
        let gp = UnsafeMutableBufferPointer(start: gradients[gradientSlot].base, count: coordinateCount)
        for b in tasks.indices {
            let r = taskOffsets[b]..<taskOffsets[b + 1]
            losses[b] = S.evaluate(tasks[b], theta: UnsafeBufferPointer(rebasing: tp[r]), step: step,
                                   gradient: UnsafeMutableBufferPointer(rebasing: gp[r]))
        }
    }

    /// Runs the learned optimizer forward only, for `steps` steps from `state`, calling `observe`
    /// after each step with the step index, every task's loss there and θ of every task (valid
    /// during the call only). Memory: two history slots.
    public func run(phi: UnsafeBufferPointer<S>, state: inout UnrollState<S>, steps: Int,
                    observe: (_ step: Int, _ losses: [S], _ theta: UnsafeBufferPointer<S>) -> Void = { _, _, _ in }) {
        precondition(phi.count == layout.count, "φ has \(phi.count) values, the layout needs \(layout.count)")
        load(state)
        var losses = state.loss
        var s = 0
        for t in 0..<steps {
            let d = 1 - s
            forwardStep(phi: phi.baseAddress!, from: s, to: d, gradientSlot: s, keepHistory: false)
            evaluateTasks(step: state.step + t + 1, gradientSlot: d, losses: &losses)
            observe(state.step + t + 1, losses, UnsafeBufferPointer(start: theta.base, count: coordinateCount))
            s = d
        }
        store(slot: s, step: state.step + steps, losses: losses, into: &state)
    }

    /// The unrolled loss Σ_{t=1..T} w_t f(θ_t) per task with the LSTM inputs frozen to `inputs`
    /// (T flat gradient vectors), i.e. the function whose exact derivative is the first-order
    /// meta-gradient. For tests (finite differences); does not change `state`.
    public func frozenInputLoss(phi: UnsafeBufferPointer<S>, state: UnrollState<S>, inputs frozen: [[S]]) -> [S] {
        precondition(frozen.count == unroll)
        load(state)
        var losses = state.loss
        var total = [S](repeating: 0, count: tasks.count)
        for t in 0..<unroll {
            frozen[t].withUnsafeBufferPointer { fp in
                forwardStep(phi: phi.baseAddress!, from: t, to: t + 1, gradientSlot: t, inputOverride: fp.baseAddress!)
            }
            evaluateTasks(step: state.step + t + 1, gradientSlot: t + 1, losses: &losses)
            for b in tasks.indices { total[b] += lossWeights[t + 1] * losses[b] }
        }
        return total
    }

    /// The LSTM inputs (optimizee gradients) seen over the last truncation, for `frozenInputLoss`.
    public func recordedInputs() -> [[S]] {
        (0..<unroll).map { Array(UnsafeBufferPointer(start: gradients[$0].base, count: coordinateCount)) }
    }

    // MARK: - Truncation with meta-gradient

    /// One truncation of T steps from `state`, then the backward pass.
    ///
    /// - Parameters:
    ///   - gradient: receives d(Σ_b Σ_t w_t f_b(θ_t))/dφ, summed over this engine's tasks (overwritten).
    /// - Returns: each task's unrolled loss Σ_{t=1..T} w_t f_b(θ_t). `state` advances by T steps.
    @discardableResult
    public func truncation(phi: UnsafeBufferPointer<S>, state: inout UnrollState<S>, mode: MetaGradientMode = .firstOrder,
                           gradient: UnsafeMutableBufferPointer<S>) -> [S] {
        precondition(phi.count == layout.count, "φ has \(phi.count) values, the layout needs \(layout.count)")
        precondition(gradient.count == layout.count, "the gradient must have |φ| values")
        let p = phi.baseAddress!
        let T = unroll
        if mode == .secondOrder && thetaHistory.isEmpty {
            thetaHistory = (0..<unroll).map { _ in workspace.vector(coordinateCount) }
        }
        load(state)
        var losses = state.loss
        var unrolledLoss = [S](repeating: 0, count: tasks.count)
        for t in 0..<T {
            if mode == .secondOrder { thetaHistory[t].base.update(from: theta.base, count: coordinateCount) }
            forwardStep(phi: p, from: t, to: t + 1, gradientSlot: t)
            evaluateTasks(step: state.step + t + 1, gradientSlot: t + 1, losses: &losses)
            for b in tasks.indices { unrolledLoss[b] += lossWeights[t + 1] * losses[b] }
        }
        let startStep = state.step
        store(slot: T, step: state.step + T, losses: losses, into: &state)

        gradient.update(repeating: 0)
        backward(phi: p, startStep: startStep, mode: mode, gradient: gradient.baseAddress!)
        return unrolledLoss
    }

    /// The backward pass. First order: coordinates are independent, so each column tile runs
    /// through all T steps on its own (its recurrent dL/dh, dL/dc and adjoint stay in cache, its
    /// history is read as contiguous blocks). Second order: the Hessian couples a task's
    /// coordinates, so the steps are the outer loop.
    private func backward(phi: UnsafePointer<S>, startStep: Int, mode: MetaGradientMode,
                          gradient g: UnsafeMutablePointer<S>) {
        let T = unroll
        let a = adjoint.base
        let wT = lossWeights[T], gT = gradients[T].base
        if mode == .firstOrder {
            for lane in lanes where lane.columns > 0 {
                for ti in lane.tiles.indices {
                    startPhases()
                    clearRecurrentGradients(lane, tile: ti)
                    // Adjoint of θ_T: w_T ∇f(θ_T).
                    for seg in lane.tileSegments[ti] {
                        for k in seg.start..<(seg.start + seg.count) { a[k] = wT * gT[k] }
                    }
                    mark(.adjoint)
                    for t in stride(from: T - 1, through: 0, by: -1) {
                        backwardStep(lane, tile: ti, step: t, phi: phi, mode: mode, gradient: g)
                        // a_t = a_{t+1} + w_t ∇f(θ_t).
                        let wt = lossWeights[t], gt = gradients[t].base
                        if wt != 0 {
                            for seg in lane.tileSegments[ti] {
                                for k in seg.start..<(seg.start + seg.count) { a[k] += wt * gt[k] }
                            }
                        }
                        mark(.adjoint)
                    }
                }
            }
            reduceWeightGradients(g)
            return
        }
        let n = coordinateCount
        for i in 0..<n { a[i] = wT * gT[i] }
        for lane in lanes where lane.columns > 0 {
            for ti in lane.tiles.indices { clearRecurrentGradients(lane, tile: ti) }
        }
        for t in stride(from: T - 1, through: 0, by: -1) {
            for lane in lanes where lane.columns > 0 {
                for ti in lane.tiles.indices {
                    startPhases()
                    backwardStep(lane, tile: ti, step: t, phi: phi, mode: mode, gradient: g)
                }
            }
            // a_t = a_{t+1} + w_t ∇f(θ_t) + H_t Jᵀ dL/dx_t.
            let wt = lossWeights[t], gt = gradients[t].base
            if wt != 0 { for i in 0..<n { a[i] += wt * gt[i] } }
            addSecondOrderTerm(step: startStep + t, slot: t)
        }
        reduceWeightGradients(g)
    }

    /// Zeroes dL/dc and the recurrent dL/dh buffers of a tile (padding included).
    private func clearRecurrentGradients(_ lane: Lane, tile ti: Int) {
        for buffer in [lane.dCell1, lane.dCell2, lane.dX1, lane.dX2] {
            buffer.tile(ti).base.update(repeating: 0, count: buffer.tileSpan)
        }
    }

    /// Step t of the backward pass for one column tile: dL/du from the adjoint a_{t+1}, both
    /// layers' elementwise backward and their dW, db and dX products.
    private func backwardStep(_ lane: Lane, tile ti: Int, step t: Int, phi: UnsafePointer<S>, mode: MetaGradientMode,
                              gradient g: UnsafeMutablePointer<S>) {
        let h = hidden, m4 = 4 * hidden, k1 = inputs + hidden
        let scale = S(layout.config.outputScale)
        let a = adjoint.base
        let block = lane.block, ld = tileWidth
        let dX1 = lane.dX1.tile(ti), dX2 = lane.dX2.tile(ti), w = dX1.columns
        let dz = MatrixView(base: lane.scratch.base, rows: lane.scratch.rows, columns: w, stride: ld)
        // dL/du_t = scale · a_{t+1} (u is the network output before scaling).
        let du = lane.dUpdate.tile(ti).base
        for seg in lane.tileSegments[ti] {
            let src = a + seg.start, dst = du + seg.column
            for k in 0..<seg.count { dst[k] = scale * src[k] }
        }
        mark(.adjoint)
        // Layer 2 with the output layer: dh2_t = wo du + the recurrent part from step t+1
        // (dX2 rows H..<2H).
        LSTMKernels.backward(gates: lane.gates2[t].tile(ti), cellPrevious: lane.cell2[t].tile(ti),
                             tanhCell: lane.tanh2[t].tile(ti), dHidden: dX2.rows(h, h), dHiddenExtra: nil,
                             output: .init(weights: phi + block.outputWeight, du: du,
                                           weightGradient: g + block.outputWeight, biasGradient: g + block.outputBias),
                             dCell: lane.dCell2.tile(ti), dGates: dz, biasGradient: g + block.bias2, kernels: kernels)
        mark(.backwardKernel2)
        // X2 = [h1_t; h2_{t-1}] and X1 = [x_t; h1_{t-1}], h = o ⊙ tanh(c) from the history.
        let x2 = lane.rebuilt2, x1 = lane.rebuilt1
        rebuildHidden(lane, layer: 1, step: t, tile: ti, into: x2.rows(0, h))
        rebuildHidden(lane, layer: 2, step: t - 1, tile: ti, into: x2.rows(h, h))
        copyRows(lane.inputHistory[t].tile(ti), into: x1.rows(0, inputs))
        rebuildHidden(lane, layer: 1, step: t - 1, tile: ti, into: x1.rows(inputs, h))
        // The next step's BPTT history (layer 1's kernel now, layer 2's kernel and the rebuild at
        // step t-1) is prefetched while the two dW products run: they are compute-bound, the
        // elementwise kernels wait on memory.
        var prefetch = PrefetchList(buffer: prefetchBuffer)
        prefetch.add(lane.gates1[t].tile(ti).rows(0, 3 * h))
        prefetch.add(lane.cell1[t].tile(ti))
        if t >= 1 {
            prefetch.add(lane.gates2[t - 1].tile(ti).rows(0, 3 * h))
            prefetch.add(lane.cell2[t - 1].tile(ti))
            prefetch.add(lane.inputHistory[t - 1].tile(ti))
        }
        if t >= 2 {
            prefetch.add(lane.gates2[t - 2].tile(ti).rows(3 * h, h))
            prefetch.add(lane.tanh2[t - 2].tile(ti))
            prefetch.add(lane.gates1[t - 2].tile(ti).rows(3 * h, h))
            prefetch.add(lane.tanh1[t - 2].tile(ti))
        }
        if t == 0 && mode == .firstOrder && ti + 1 < lane.tiles.count && unroll >= 2 {
            // The next tile's last step comes next (tile-major backward).
            let T = unroll, next = ti + 1
            prefetch.add(lane.gates2[T - 1].tile(next))
            prefetch.add(lane.cell2[T - 1].tile(next))
            prefetch.add(lane.tanh2[T - 1].tile(next))
            prefetch.add(lane.inputHistory[T - 1].tile(next))
            prefetch.add(lane.gates1[T - 1].tile(next).rows(3 * h, h))
            prefetch.add(lane.tanh1[T - 1].tile(next))
            prefetch.add(lane.gates2[T - 2].tile(next).rows(3 * h, h))
            prefetch.add(lane.tanh2[T - 2].tile(next))
            prefetch.add(lane.gates1[T - 2].tile(next).rows(3 * h, h))
            prefetch.add(lane.tanh1[T - 2].tile(next))
        }
        var ranges = metaopt_prefetch(ranges: prefetchBuffer, count: Int32(prefetch.count), range: 0, offset: 0)
        let blocks = weightGradient.blocks(m: 2 * h, n: m4) + weightGradient.blocks(m: k1, n: m4)
        let perBlock = (prefetch.lines + blocks - 1) / blocks
        accumulateWeightGradient(lane.weightSums2, x: MatrixView(base: x2.base, rows: x2.rows, columns: w, stride: ld),
                                 dz: dz, into: g + block.weight2, prefetching: &ranges, linesPerBlock: perBlock)
        mark(.weightGEMM2)
        // dX2 = W2 dZ2: rows 0..<H are dL/dh1_t, rows H..<2H dL/dh2_{t-1}, which the first step
        // does not need (the state at the start of the truncation is a constant).
        S.gemm(transposeA: false, transposeB: false, m: t == 0 ? h : 2 * h, n: w, k: m4, alpha: 1,
               a: phi + block.weight2, lda: m4, b: dz.base, ldb: ld, beta: 0, c: dX2.base, ldc: ld)
        mark(.inputGEMM2)
        // Layer 1: dh1_t = (dX2 rows 0..<H) + recurrent part from step t+1 (dX1 rows inputs..<inputs+H).
        LSTMKernels.backward(gates: lane.gates1[t].tile(ti), cellPrevious: lane.cell1[t].tile(ti),
                             tanhCell: lane.tanh1[t].tile(ti), dHidden: dX2.rows(0, h),
                             dHiddenExtra: dX1.rows(inputs, h), output: nil,
                             dCell: lane.dCell1.tile(ti), dGates: dz, biasGradient: g + block.bias1, kernels: kernels)
        mark(.backwardKernel1)
        accumulateWeightGradient(lane.weightSums1, x: MatrixView(base: x1.base, rows: x1.rows, columns: w, stride: ld),
                                 dz: dz, into: g + block.weight1, prefetching: &ranges, linesPerBlock: perBlock)
        mark(.weightGEMM1)
        if mode == .secondOrder {
            S.gemm(transposeA: false, transposeB: false, m: k1, n: w, k: m4, alpha: 1,
                   a: phi + block.weight1, lda: m4, b: dz.base, ldb: ld, beta: 0, c: dX1.base, ldc: ld)
        } else if t > 0 {
            // The input rows are constants; only dh1_{t-1} is needed (and not before the first step).
            S.gemm(transposeA: false, transposeB: false, m: h, n: w, k: m4, alpha: 1,
                   a: phi + block.weight1 + inputs * m4, lda: m4, b: dz.base, ldb: ld, beta: 0,
                   c: dX1.row(inputs), ldc: ld)
        }
        mark(.inputGEMM1)
    }

    /// h_t = o_t ⊙ tanh(c_t) of `layer` (1 or 2) at `step` for one tile, from the stored gates and
    /// tanh(c) (the same product the forward pass computed, so the same bits); step −1 is the
    /// state at the start of the truncation.
    private func rebuildHidden(_ lane: Lane, layer: Int, step t: Int, tile ti: Int, into out: MatrixView<S>) {
        let h = hidden
        guard t >= 0 else {
            copyRows(lane.initialHidden.tile(ti).rows(layer == 1 ? 0 : h, h), into: out)
            return
        }
        let o = (layer == 1 ? lane.gates1[t] : lane.gates2[t]).tile(ti).rows(3 * h, h)
        let c = (layer == 1 ? lane.tanh1[t] : lane.tanh2[t]).tile(ti)
        let n = (o.columns + 15) / 16 * 16
        for j in 0..<h {
            let a = o.row(j), b = c.row(j), r = out.row(j)
            if S.self == Float.self {
                kernels.multiply(a.reinterpreted(), b.reinterpreted(), into: r.reinterpreted(), count: n)
            } else {
                for k in 0..<n { r[k] = a[k] * b[k] }
            }
        }
    }

    /// Copies `source` into `destination` row by row, over the padded width (the same row count
    /// and column count; strides may differ).
    private func copyRows(_ source: MatrixView<S>, into destination: MatrixView<S>) {
        let n = min((source.columns + 15) / 16 * 16, source.stride, destination.stride)
        for j in 0..<source.rows { destination.row(j).update(from: source.row(j), count: n) }
    }

    /// dW += X · dZᵀ over the tile's columns: into the lane's vector partial sums (Float), or by
    /// BLAS straight into the gradient.
    @inline(__always)
    private func accumulateWeightGradient(_ sums: UnsafeMutablePointer<Float>?, x: MatrixView<S>,
                                          dz: MatrixView<S>, into g: UnsafeMutablePointer<S>,
                                          prefetching ranges: inout metaopt_prefetch, linesPerBlock: Int) {
        let m4 = dz.rows
        if let sums {
            weightGradient.accumulate(sums, a: x.base.reinterpreted(), lda: x.stride, m: x.rows,
                                           b: dz.base.reinterpreted(), ldb: dz.stride, n: m4, columns: dz.columns,
                                           prefetching: &ranges, linesPerBlock: linesPerBlock)
        } else {
            S.gemm(transposeA: false, transposeB: true, m: x.rows, n: m4, k: dz.columns, alpha: 1,
                   a: x.base, lda: x.stride, b: dz.base, ldb: dz.stride, beta: 1, c: g, ldc: m4)
        }
    }

    /// Adds the vector partial sums of dW (if any) to the gradient, and clears them.
    private func reduceWeightGradients(_ g: UnsafeMutablePointer<S>) {
        let m4 = 4 * hidden, k1 = inputs + hidden
        for lane in lanes {
            if let sums = lane.weightSums1 {
                weightGradient.reduce(sums, m: k1, n: m4, into: (g + lane.block.weight1).reinterpreted(), ldg: m4)
            }
            if let sums = lane.weightSums2 {
                weightGradient.reduce(sums, m: 2 * hidden, n: m4, into: (g + lane.block.weight2).reinterpreted(), ldg: m4)
            }
        }
    }

    /// Adds H(θ_t) · (dL/d∇_t) to the adjoint: the path through the optimizee gradient that the
    /// first-order approximation drops.
    private func addSecondOrderTerm(step: Int, slot t: Int) {
        let n = coordinateCount
        let dg = scratchCoordinates.base
        dg.update(repeating: 0, count: n)
        for lane in lanes where lane.columns > 0 {
            for ti in lane.tiles.indices {
                for seg in lane.tileSegments[ti] {
                    layout.config.preprocessing.backward(gradients[t].base + seg.start, count: seg.count,
                                                         dInput: lane.dX1.tile(ti), column: seg.column,
                                                         into: dg + seg.start)
                }
            }
        }
        for (b, task) in tasks.enumerated() {
            guard let second = task as? any SecondOrderOptimizee else {
                preconditionFailure("second-order meta-gradients need an optimizee with a Hessian")
            }
            let r = taskOffsets[b]..<taskOffsets[b + 1]
            var v = [Double](repeating: 0, count: r.count), hv = [Double](repeating: 0, count: r.count)
            for i in 0..<r.count { v[i] = Double(dg[r.lowerBound + i]) }
            let thetaT = (0..<r.count).map { Float(thetaHistory[t].base[r.lowerBound + $0]) }
            thetaT.withUnsafeBufferPointer { tp in
                v.withUnsafeBufferPointer { vp in
                    hv.withUnsafeMutableBufferPointer { second.hessianVectorProduct(at: tp, step: step, vector: vp, result: $0) }
                }
            }
            for i in 0..<r.count { adjoint.base[r.lowerBound + i] += S(hv[i]) }
        }
    }
}
