internal import CMetaOptKernels
import Foundation

/// Runs the learned optimizer on a fixed set of tasks: forward over a truncation of T steps and the
/// hand-written backward pass that yields each task's meta-gradient (docs/design.md, "The method").
///
/// All coordinates of all tasks that one learned optimizer acts on are the columns of one
/// feature-major matrix (features × coordinates). The columns are cut into tiles of `tileWidth`
/// columns, stored tile by tile (`TiledMatrix`): per step, each tile runs the first LSTM layer's
/// matrix product into a cache-resident scratch block and its elementwise kernel, then the next
/// layer's, and so on (`LSTMLayerLane`), the output head fused into the last layer's kernel
/// (`OutputHead`), so the gate pre-activations never leave the L2 cache and every block of the
/// BPTT history is one contiguous run of memory. See docs/performance.md.
///
/// An engine's result is a pure function of its tasks and φ: the same tasks in the same order give
/// bit-identical results in any process (one thread, a fixed sequence of BLAS calls and sums). (It
/// is not true across different groupings: OpenBLAS's edge kernels round a column differently
/// depending on where it falls in the matrix, so the distributed trainer always runs the same
/// fixed blocks of tasks, whatever the number of ranks.)
///
/// Buffers are sized once in `init` and reused; nothing is allocated inside the step loop.
package final class UnrollEngine<S: MetaScalar> {
    package let layout: ParameterLayout
    package private(set) var tasks: [any Optimizee] {
        didSet { optimizeeBatch = Self.batch(of: tasks) }
    }
    /// All tasks at once where their type allows it (`BatchEvaluatedOptimizee`; Float engines only).
    private var optimizeeBatch: (any OptimizeeBatch)?
    private static func batch(of tasks: [any Optimizee]) -> (any OptimizeeBatch)? {
        S.self == Float.self ? makeOptimizeeBatch(tasks) : nil
    }
    package let unroll: Int
    /// w_t for t = 0…T (w_0 = 0: the loss counts θ_1…θ_T).
    package let lossWeights: [S]
    /// Start of each task's θ in the flat coordinate vector; the last entry is the total.
    package let taskOffsets: [Int]
    package var coordinateCount: Int { taskOffsets[tasks.count] }
    /// Bytes of every buffer the engine allocated (BPTT history and work buffers).
    package var allocatedBytes: Int { workspace.allocatedScalars * MemoryLayout<S>.stride }

    /// A contiguous run of coordinates of one task that one learned optimizer updates.
    struct Segment {
        var task: Int  // the first task of the run
        var start: Int  // in the flat coordinate vector
        var count: Int
        var column: Int  // in the lane's matrices
    }

    /// Buffers of one learned optimizer ("lane"): its LSTM layers (first to last, each owning its
    /// history and working buffers, `LSTMLayerLane`), the output head, the preprocessed inputs x_t
    /// per step (the first layer's input rows, kept for the backward pass), and one cache-resident
    /// scratch block for a tile's gate pre-activations (forward) or dL/dz (backward), shared by
    /// the layers.
    struct Lane {
        var block: ParameterLayout.Block
        var columns: Int
        var segments: [Segment]
        /// Column tiles, and the segments clipped to each (columns relative to the lane).
        var tiles: [Range<Int>]
        var tileSegments: [[Segment]]
        /// (4 · the largest H) × tileWidth.
        var scratch: MatrixView<S>
        /// x_t (inputs rows) per step.
        var inputHistory: [TiledMatrix<S>]
        var layers: [LSTMLayerLane<S>]
        var head: OutputHead<S>

        /// The scratch block as `rows` × `width` (a layer's 4H gate rows of one tile).
        @inline(__always) func scratch(rows: Int, width: Int) -> MatrixView<S> {
            MatrixView(base: scratch.base, rows: rows, columns: width, stride: scratch.stride)
        }
    }

    /// Whether each layer's forward product runs fused into its elementwise kernel
    /// (`LSTMLayerLane.fusedForward`) instead of an OpenBLAS sgemm into the scratch block and the
    /// kernel after it (Float only; `FloatKernels.fusesForwardProducts`: off unless
    /// `METAOPT_FORWARD_PRODUCTS=fused`). The same for training and forward-only engines, so `run`
    /// computes the same bits on both.
    let fusedForward: Bool
    /// The kernels that run the layers' products z = Wᵀ X and dX = W dZ (`FloatKernels.product`),
    /// or nil where OpenBLAS does (`FloatKernels.ownsMatrixProducts`: the path's default; Float
    /// only). The dW products always run on the vector kernel (`FloatWeightGradient`).
    let productKernels: FloatKernels?
    /// The layers' forward products as Winograd's inner products (`FloatKernels.pairsForwardProducts`:
    /// the AVX-512 path's default where it runs its own products on a CPU with add units of their
    /// own), or nil where `productKernels`
    /// or OpenBLAS compute them plainly. The dX products stay plain: their operands (dZ against W)
    /// differ in scale by orders of magnitude, which the sums of pairs would lose unless each
    /// column were scaled first, and their 80 terms take the packed block and a block of rows'
    /// weights past L1 (0.84–0.90 of `product`'s speed in cache; docs/performance-log.md, "Winograd's inner products").
    let pairedProducts: PairedForwardProducts?
    /// Whether the engine keeps BPTT history (truncations); false for a forward-only engine
    /// (`init(forwardOnlyLayout:tasks:tileWidth:kernelPath:)`).
    package let storesHistory: Bool
    /// The vector kernels the Float path runs (the Double path runs scalar loops).
    package let kernelPath: KernelPath
    let kernels: FloatKernels
    let weightGradient: FloatWeightGradient
    let workspace = Workspace<S>()
    var lanes: [Lane] = []
    /// Every lane's column tiles, lane by lane: the units of work that coordinate sharding hands
    /// out, and in the first-order mode the units of the meta-gradient's partial sums
    /// (`truncation(phi:state:mode:unitGradients:)`). Fixed by the tasks and the tile width, so the
    /// same for any sharding.
    package private(set) var units: [WorkUnit] = []
    /// The units this engine computes: all, unless sharded (`shard(owning:exchange:)`).
    package private(set) var ownedUnits: Range<Int> = 0..<0
    /// Called after every forward step of a sharded engine with θ, whose owned units' coordinates
    /// are up to date: it must fill in the others (an allgather over the shards).
    var thetaExchange: ((UnsafeMutablePointer<S>) -> Void)?
    /// Rows of the preprocessed input per coordinate.
    let inputs: Int
    let layerCount: Int
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
    /// The history slot (0 or 1) that holds the recurrent state for the next step on given
    /// gradients (`step(phi:gradient:theta:)`).
    var givenGradientSlot = 0

    /// Columns per tile. 256 (1 KiB rows for Float) keeps a tile's operands of one step, about
    /// 300 KiB, in a 1 MiB L2 cache, and is where OpenBLAS's sgemm runs fastest on these shapes
    /// (docs/performance.md). A multiple of 16.
    package static var defaultTileWidth: Int { 256 }

    /// Memory ranges to prefetch (filled per backward step; at most `prefetchCapacity`).
    let prefetchBuffer: UnsafeMutablePointer<metaopt_memory_range>
    let prefetchCapacity: Int

    deinit { prefetchBuffer.deallocate() }

    /// Collects the memory of some matrices into `prefetchBuffer`.
    struct PrefetchList {
        let buffer: UnsafeMutablePointer<metaopt_memory_range>
        let capacity: Int
        var count = 0
        mutating func add(_ m: MatrixView<S>) {
            precondition(count < capacity)
            buffer[count] = metaopt_memory_range(start: UnsafeRawPointer(m.base), bytes: m.rows * m.stride * MemoryLayout<S>.stride)
            count += 1
        }
        /// Cache lines in all ranges.
        var lines: Int { (0..<count).reduce(0) { $0 + (buffer[$1].bytes + 63) / 64 } }
    }

    /// Per-phase timing; nil (the default) switches it off.
    package var profile: EngineProfile?
    private var phaseStart: UInt64 = 0

    /// Ends the current phase, charging its time to phase `kind` (of layer `l`, 0-based, for the
    /// per-layer phases) when profiling.
    @inline(__always) func mark(_ kind: EngineProfile.Phase.Kind, layer l: Int = 0) {
        guard profile != nil else { return }
        let now = Stopwatch.now()
        profile!.seconds[profile!.index(kind, layer: l)] += Double(now &- phaseStart) / 1e9
        phaseStart = now
    }

    /// A fresh profile with this engine's phases (one set per LSTM layer).
    package func makeProfile() -> EngineProfile { EngineProfile(layerCount: layerCount) }
    @inline(__always) func startPhases() {
        if profile != nil { phaseStart = Stopwatch.now() }
    }

    /// - Parameters:
    ///   - unroll: truncation length T; the engine stores T steps of history for the backward pass.
    ///   - lossWeights: w_1…w_T (default all 1).
    ///   - kernelPath: the vector kernels of the Float path (default: `KernelPath.default`, the
    ///     fastest this CPU has unless `METAOPT_KERNELS` says otherwise).
    package convenience init(layout: ParameterLayout, tasks: [any Optimizee], unroll: Int, lossWeights: [Double]? = nil,
                            kernelPath: KernelPath? = nil) {
        self.init(layout: layout, tasks: tasks, unroll: unroll, lossWeights: lossWeights, tileWidth: nil,
                  kernelPath: kernelPath)
    }

    /// A forward-only engine (Float): `run` and `step` only, no BPTT history. Per coordinate it
    /// holds each layer's X in two slots (read while the next h is written) and c in one slot,
    /// updated in place, u, θ and ∇f in two slots; no gates, tanh c, x history or backward
    /// buffers (`statedBytes`). The same arithmetic as `run` on a truncation engine, so the same
    /// bits. Its truncations trap.
    package convenience init(forwardOnlyLayout layout: ParameterLayout, tasks: [any Optimizee], tileWidth: Int? = nil,
                             kernelPath: KernelPath? = nil) {
        self.init(layout: layout, tasks: tasks, unroll: 1, lossWeights: nil, tileWidth: tileWidth,
                  kernelPath: kernelPath, history: false)
    }

    /// `tileWidth` (a multiple of 16; nil: `defaultTileWidth`) is for experiments: results depend
    /// on it in the last bits.
    /// `fusedForward`, `ownProducts` and `pairedProducts` nil: the kernel path's choice
    /// (`FloatKernels.fusesForwardProducts`, `FloatKernels.ownsMatrixProducts`,
    /// `FloatKernels.pairsForwardProducts`); the tests force either way (paired products need own
    /// products, a path that has them, and no fused forward kernel).
    package init(layout: ParameterLayout, tasks: [any Optimizee], unroll: Int, lossWeights: [Double]? = nil,
                tileWidth: Int?, kernelPath: KernelPath? = nil, history: Bool = true, fusedForward: Bool? = nil,
                ownProducts: Bool? = nil, pairedProducts: Bool? = nil) {
        precondition(history || S.self == Float.self, "forward-only engines run the Float kernels")
        storesHistory = history
        let path = kernelPath ?? .default
        precondition(path.isSupported, "this CPU cannot run the \(path.rawValue) kernels")
        self.kernelPath = path
        kernels = FloatKernels(path)
        self.fusedForward = S.self == Float.self && (fusedForward ?? kernels.fusesForwardProducts)
        productKernels = S.self == Float.self && (ownProducts ?? kernels.ownsMatrixProducts) ? kernels : nil
        if productKernels != nil && !self.fusedForward && kernels.hasPairedProducts
            && (pairedProducts ?? kernels.pairsForwardProducts), let floats = workspace as? Workspace<Float> {
            self.pairedProducts = PairedForwardProducts(kernels: kernels, layout: layout, workspace: floats)
        } else {
            self.pairedProducts = nil
        }
        weightGradient = FloatWeightGradient(kernels: kernels)
        precondition(unroll >= 1, "unroll must be positive")
        precondition(!tasks.isEmpty, "an engine needs at least one task")
        let width = tileWidth ?? UnrollEngine.defaultTileWidth
        precondition(width >= 16 && width % 16 == 0, "the tile width must be a positive multiple of 16")
        self.tileWidth = width
        self.layout = layout
        self.tasks = tasks
        optimizeeBatch = Self.batch(of: tasks)
        self.unroll = unroll
        let weights = lossWeights ?? Array(repeating: 1, count: unroll)
        precondition(weights.count == unroll, "need one loss weight per unrolled step")
        self.lossWeights = [0] + weights.map { S($0) }
        var offsets = [0]
        for t in tasks { offsets.append(offsets.last! + t.dimension) }
        taskOffsets = offsets
        inputs = layout.config.inputCount
        layerCount = layout.config.hiddenSizes.count
        slots = max(unroll, 2)
        // Per backward step: 2 per layer below the last, 3 for the next step, 1 per layer two
        // steps back, or 2 + 2·K + (K−1) + K for the next tile (`addPrefetches`).
        prefetchCapacity = 8 * layerCount + 3
        prefetchBuffer = .allocate(capacity: prefetchCapacity)
        let n = offsets.last!
        let ws = workspace
        gradients = (0..<(history ? slots + 1 : 2)).map { _ in ws.vector(n) }
        theta = ws.vector(n)
        thetaHistory = []
        adjoint = ws.matrix(history ? 1 : 0, n)
        scratchCoordinates = ws.matrix(history ? 1 : 0, n)

        var segmentsPerLane = Array(repeating: [Segment](), count: layout.config.optimizerCount)
        var columnsPerLane = Array(repeating: 0, count: layout.config.optimizerCount)
        if let (b, o) = layout.config.firstUnknownOptimizer(in: tasks) {
            preconditionFailure("task \(b) uses learned optimizer \(o), φ has \(layout.config.optimizerCount)")
        }
        for (b, task) in tasks.enumerated() {
            for group in task.parameterGroups {
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
        let slots = self.slots
        let gateRows = 4 * layout.config.hiddenSizes.max()!
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
            let block = layout.blocks[o]
            let scratch = ws.tileBlock(gateRows, tileWidth: width)
            let inputHistory = ws.tiledSeries(history ? slots : 0, rows: inputs, m, tileWidth: width)
            let layers = block.layers.map {
                LSTMLayerLane<S>(layer: $0, columns: m, slots: slots, history: history, tileWidth: width,
                                 vectorWeightGradient: Self.usesVectorWeightGradient($0), workspace: ws)
            }
            lanes.append(Lane(block: block, columns: m, segments: segmentsPerLane[o], tiles: tiles,
                              tileSegments: tileSegments, scratch: scratch, inputHistory: inputHistory, layers: layers,
                              head: OutputHead(block: block, columns: m, tileWidth: width, history: history,
                                               workspace: ws)))
            units += tiles.indices.map { WorkUnit(lane: o, tile: $0) }
        }
        ownedUnits = units.indices
    }

    /// Whether a layer's dW runs on the Float path's vector kernel (else BLAS).
    static func usesVectorWeightGradient(_ layer: ParameterLayout.Layer) -> Bool {
        S.self == Float.self && FloatWeightGradient.supports(n: layer.gates)
    }

    /// The memory the engine allocates, from its layout: per lane with M columns in ⌈M/W⌉ tiles of
    /// W columns (W = the tile width, each tile's rows R = `TiledMatrix.rowStride(W)` apart), per
    /// padded column (R per tile), each layer's buffers
    /// (`LSTMLayerLane.scalarsPerColumn`), the output head's (`OutputHead.scalarsPerColumn`) and
    /// T'·I for the inputs x_t; per lane, the scratch block (4·max H × R) and each layer's rebuilt
    /// X block and dW partial sums (`LSTMLayerLane.fixedScalars`); and (T'+1) + 3 flat vectors of
    /// the N coordinates (∇f per step, θ, adjoint, scratch), plus T more in the second-order mode;
    /// T' = max(T, 2), I inputs. A forward-only engine: per padded column each layer's two X slots
    /// and c, and u; the scratch block; 3 flat vectors (∇f in two slots, θ). Either kind, where it
    /// pairs the forward products: their prepared weights (`PairedForwardProducts.scalars`).
    package var statedBytes: Int {
        Self.statedBytes(layout: layout, laneColumns: lanes.map(\.columns), coordinates: coordinateCount, unroll: unroll,
                         tileWidth: tileWidth, history: storesHistory, pairsProducts: pairedProducts != nil,
                         thetaHistory: thetaHistory.count)!
    }

    /// `statedBytes` of an engine not built yet: lanes of `laneColumns` columns over `coordinates`
    /// flat coordinates, `thetaHistory` vectors of θ_t (the second-order mode's T). The memory
    /// estimates of train and evaluate call it with the sizes a command line gives, so the
    /// products that grow with the columns are checked: nil when they overflow Int (more than any
    /// machine has). The per-column and per-lane counts stay far below Int.max within `SizeLimits`.
    package static func statedBytes(layout: ParameterLayout, laneColumns: [Int], coordinates: Int, unroll: Int,
                                    tileWidth: Int = defaultTileWidth, history: Bool, pairsProducts: Bool,
                                    thetaHistory: Int = 0) -> Int? {
        let t = max(unroll, 2)
        var scalars = pairsProducts ? PairedForwardProducts.scalars(layout) : 0
        for (block, columns) in zip(layout.blocks, laneColumns) {
            let tiles = max((columns + tileWidth - 1) / tileWidth, 1)
            var perColumn = (history ? t * layout.config.inputCount : 0) + OutputHead<S>.scalarsPerColumn(history: history)
            let rowStride = TiledMatrix<S>.rowStride(tileWidth)
            var fixed = 4 * layout.config.hiddenSizes.max()! * rowStride  // the scratch block
            for layer in block.layers {
                perColumn += LSTMLayerLane<S>.scalarsPerColumn(layer, slots: t, history: history)
                fixed += LSTMLayerLane<S>.fixedScalars(layer, tileWidth: tileWidth,
                                                       vectorWeightGradient: usesVectorWeightGradient(layer), history: history)
            }
            guard let lane = SizeLimits.product(perColumn, tiles, rowStride), let sum = SizeLimits.sum(scalars, lane, fixed) else { return nil }
            scalars = sum
        }
        let vectors = history ? t + 1 + 3 + thetaHistory : 3
        guard let flat = SizeLimits.product(vectors, Workspace<S>.stride(for: coordinates)),
              let total = SizeLimits.sum(scalars, flat) else { return nil }
        return SizeLimits.product(total, MemoryLayout<S>.stride)
    }

    /// The matrix products one unrolled step makes (forward and first-order backward), one entry
    /// per distinct shape with its number of calls: the layers' forward products first to last,
    /// then their backward products last to first.
    package var gemmShapes: [GEMMShape] {
        var shapes: [GEMMShape] = []
        for lane in lanes {
            var widths: [Int: Int] = [:]
            for tile in lane.tiles { widths[tile.count, default: 0] += 1 }
            for (w, calls) in widths.sorted(by: { $0.key > $1.key }) {
                let perLayer = lane.block.layers.enumerated().map {
                    LSTMLayerLane<S>.gemmShapes($1, number: $0 + 1, width: w, calls: calls)
                }
                shapes += perLayer.map(\.forward) + perLayer.reversed().flatMap(\.backward)
            }
        }
        return shapes
    }

    /// Swaps in new tasks of the same shapes (same dimensions and parameter groups, in order), so a
    /// new horizon reuses every buffer.
    package func replaceTasks(_ newTasks: [any Optimizee]) {
        precondition(newTasks.count == tasks.count, "replaceTasks needs as many tasks as before")
        for (old, new) in zip(tasks, newTasks) {
            precondition(old.dimension == new.dimension && old.parameterGroups == new.parameterGroups,
                         "replaceTasks needs tasks of the same shape")
        }
        tasks = newTasks
    }

    // MARK: - State

    /// θ₀ of every task, the loss and gradient there (step 0), zero LSTM states.
    package func initialState() -> UnrollState<S> {
        initialState(startingAt: tasks.map { $0.initialParameters() })
    }

    /// The same from each task's θ₀ as its `initialParameters()` returned it, in task order: a
    /// caller that checks θ₀ first passes it on, so that it is drawn once.
    package func initialState(startingAt starts: [[Float]]) -> UnrollState<S> {
        precondition(starts.count == tasks.count, "initialState needs one θ₀ per task")
        var theta = [S](repeating: 0, count: coordinateCount)
        for (b, (task, t0)) in zip(tasks, starts).enumerated() {
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
        let stateRows = 2 * layout.config.hiddenSizes.reduce(0, +)
        let lstm = lanes.map { [S](repeating: 0, count: stateRows * $0.columns) }
        return UnrollState(step: 0, theta: theta, gradient: gradient, loss: loss, lstm: lstm)
    }

    /// The tiles of lane `o` that this engine computes (all, unless sharded).
    private func ownedTiles(ofLane o: Int) -> [Int] {
        units[ownedUnits].filter { $0.lane == o }.map(\.tile)
    }

    /// Calls `body(first row, tile, state rows)` for every state block of lane `o` after history
    /// slot `slot`'s step: h and c of each layer, first to last (the order of
    /// `UnrollState.lstm`, each H × M, rows numbered from the first). Only the owned tiles: a
    /// shard's state holds its own columns (the others' stay as they were, unused).
    private func forEachStateBlock(lane o: Int, slot: Int,
                                   _ body: (_ firstRow: Int, _ tile: Range<Int>, _ rows: MatrixView<S>) -> Void) {
        let lane = lanes[o]
        for ti in ownedTiles(ofLane: o) {
            let tile = lane.tiles[ti]
            var row = 0
            for layer in lane.layers {
                body(row, tile, layer.hiddenState(slot: slot, tile: ti))
                body(row + layer.hidden, tile, layer.cell(slot: slot).tile(ti))
                row += 2 * layer.hidden
            }
        }
    }

    func load(_ state: UnrollState<S>) {
        precondition(state.theta.count == coordinateCount && state.lstm.count == lanes.count, "state does not fit")
        state.theta.withUnsafeBufferPointer { theta.base.update(from: $0.baseAddress!, count: coordinateCount) }
        state.gradient.withUnsafeBufferPointer { gradients[0].base.update(from: $0.baseAddress!, count: coordinateCount) }
        for (o, lane) in lanes.enumerated() where lane.columns > 0 {
            let m = lane.columns
            state.lstm[o].withUnsafeBufferPointer { p in
                forEachStateBlock(lane: o, slot: 0) { first, tile, rows in
                    for j in 0..<rows.rows {
                        rows.row(j).update(from: p.baseAddress! + (first + j) * m + tile.lowerBound, count: tile.count)
                    }
                }
            }
            // h of every layer at the start, for the backward pass's X of step 0.
            for ti in ownedTiles(ofLane: o) where storesHistory {
                for layer in lane.layers { layer.recordInitialHidden(tile: ti) }
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
                forEachStateBlock(lane: o, slot: slot) { first, tile, rows in
                    for j in 0..<rows.rows {
                        (p.baseAddress! + (first + j) * m + tile.lowerBound).update(from: rows.row(j), count: tile.count)
                    }
                }
            }
        }
    }

    // MARK: - Forward

    /// One step of the learned optimizer from history slot `from` to slot `to`: reads the
    /// gradient in `gradients[gradientSlot]`, adds the update to θ. `inputOverride`, when given,
    /// replaces that gradient as the LSTM input (the frozen-input loss of the finite-difference tests).
    func forwardStep(phi: UnsafePointer<S>, from s: Int, to d: Int, gradientSlot: Int,
                             inputOverride: UnsafePointer<S>? = nil, keepHistory: Bool = true) {
        let scale = S(layout.config.outputScale)
        let keepHistory = keepHistory && storesHistory
        let input = inputOverride ?? UnsafePointer(gradients[gradientSlot].base)
        let last = layerCount - 1
        pairedProducts?.prepare(phi: UnsafeRawPointer(phi).assumingMemoryBound(to: Float.self))
        for unit in units[ownedUnits] {
            let lane = lanes[unit.lane], ti = unit.tile
            let x = lane.layers[0].workingInput(step: s, tile: ti), u = lane.head.update.tile(ti).base
            let w = x.columns
            startPhases()
            for seg in lane.tileSegments[ti] {
                layout.config.preprocessing.apply(input + seg.start, count: seg.count, into: x, column: seg.column,
                                                  kernels: kernels)
            }
            if keepHistory { copyRows(x.rows(0, inputs), into: lane.inputHistory[s].tile(ti)) }
            mark(.preprocessing)
            // Layer by layer: z = Wᵀ [in; h_prev], then the elementwise step, whose h is the
            // next layer's input; the output u = woᵀ h + bo is fused into the last layer's.
            for l in 0...last {
                if fusedForward {
                    lane.layers[l].fusedForward(
                        phi: phi, from: s, to: d, tile: ti, scratch: lane.scratch(rows: 4, width: w),
                        nextInput: l < last ? lane.layers[l + 1].inputRows(step: s, tile: ti) : nil,
                        head: l == last ? lane.head.forward(phi: phi, tile: ti) : nil,
                        keepHistory: keepHistory, kernels: kernels)
                    mark(.forwardKernel, layer: l)
                    continue
                }
                let z = lane.scratch(rows: lane.layers[l].layer.gates, width: w)
                if let pairedProducts {
                    pairedProducts.product(lane: unit.lane, layer: l, x: lane.layers[l].workingInput(step: s, tile: ti).reinterpreted(),
                                           into: z.reinterpreted())
                } else {
                    lane.layers[l].forwardProduct(phi: phi, step: s, tile: ti, into: z, own: productKernels)
                }
                mark(.forwardGEMM, layer: l)
                lane.layers[l].forwardKernel(
                    preactivations: z, phi: phi, from: s, to: d, tile: ti,
                    nextInput: l < last ? lane.layers[l + 1].inputRows(step: s, tile: ti) : nil,
                    head: l == last ? lane.head.forward(phi: phi, tile: ti) : nil,
                    keepHistory: keepHistory, kernels: kernels)
                mark(.forwardKernel, layer: l)
            }
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
        if let thetaExchange {
            startPhases()
            thetaExchange(theta.base)
            mark(.thetaUpdate)
        }
    }
    /// Evaluates every task at θ (current `theta`) on optimizee step `step`; gradient into `slot`.
    private func evaluateTasks(step: Int, gradientSlot: Int, losses: inout [S]) {
        startPhases()
        defer { mark(.optimizee) }
        if let optimizeeBatch {
            losses.withUnsafeMutableBufferPointer { lp in
                lp.withMemoryRebound(to: Float.self) { l in
                    optimizeeBatch.lossesAndGradients(
                        theta: UnsafeRawPointer(theta.base).assumingMemoryBound(to: Float.self), step: step,
                        gradient: UnsafeMutableRawPointer(gradients[gradientSlot].base).assumingMemoryBound(to: Float.self),
                        losses: l.baseAddress!)
                }
            }
            return
        }
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
    package func run(phi: UnsafeBufferPointer<S>, state: inout UnrollState<S>, steps: Int,
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
    func frozenInputLoss(phi: UnsafeBufferPointer<S>, state: UnrollState<S>, inputs frozen: [[S]]) -> [S] {
        precondition(frozen.count == unroll)
        precondition(storesHistory, "a forward-only engine has no truncations")
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
    func recordedInputs() -> [[S]] {
        (0..<unroll).map { Array(UnsafeBufferPointer(start: gradients[$0].base, count: coordinateCount)) }
    }

    // MARK: - Truncation with meta-gradient

    /// One truncation of T steps from `state`, then the backward pass.
    ///
    /// - Parameters:
    ///   - gradient: receives d(Σ_b Σ_t w_t f_b(θ_t))/dφ, summed over this engine's tasks (overwritten).
    /// - Returns: each task's unrolled loss Σ_{t=1..T} w_t f_b(θ_t). `state` advances by T steps.
    @discardableResult
    package func truncation(phi: UnsafeBufferPointer<S>, state: inout UnrollState<S>, mode: MetaGradientMode = .firstOrder,
                           gradient: UnsafeMutableBufferPointer<S>) -> [S] {
        precondition(phi.count == layout.count, "φ has \(phi.count) values, the layout needs \(layout.count)")
        precondition(gradient.count == layout.count, "the gradient must have |φ| values")
        let p = phi.baseAddress!
        let startStep = state.step
        let unrolledLoss = forwardTruncation(phi: p, state: &state, mode: mode)
        gradient.update(repeating: 0)
        backward(phi: p, startStep: startStep, mode: mode, gradient: gradient.baseAddress!, perUnit: false)
        return unrolledLoss
    }

    /// The forward part of a truncation: T steps from `state` with their BPTT history; returns
    /// each task's unrolled loss and advances `state` by T steps.
    private func forwardTruncation(phi p: UnsafePointer<S>, state: inout UnrollState<S>, mode: MetaGradientMode) -> [S] {
        precondition(storesHistory, "a forward-only engine has no truncations")
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
        store(slot: T, step: state.step + T, losses: losses, into: &state)
        return unrolledLoss
    }

    /// The number of partial meta-gradients `truncation(phi:state:mode:unitGradients:)` writes: one
    /// per owned unit in the first-order mode, one in all in the second-order mode (whose Hessian
    /// couples the coordinates; it cannot be sharded).
    package func gradientUnitCount(mode: MetaGradientMode) -> Int {
        mode == .firstOrder ? ownedUnits.count : 1
    }

    /// As `truncation(phi:state:mode:gradient:)`, but the meta-gradient comes in parts: the k-th |φ|
    /// values of `unitGradients` receive the part of owned unit `ownedUnits.lowerBound + k` (first
    /// order; the whole in the second-order mode). Each part is a sum over its own tile only, so
    /// a part does not depend on which rank computes it or on the other units: summed exactly
    /// (`FixedPointCodec`), the parts give the same result for any sharding. The total differs
    /// from `truncation(…gradient:)`'s Float sum over the tiles in the last bits.
    @discardableResult
    package func truncation(phi: UnsafeBufferPointer<S>, state: inout UnrollState<S>, mode: MetaGradientMode,
                            unitGradients: UnsafeMutableBufferPointer<S>) -> [S] {
        precondition(unitGradients.count == gradientUnitCount(mode: mode) * layout.count,
                     "need |φ| values per gradient unit")
        precondition(mode == .firstOrder || thetaExchange == nil, "the second-order mode cannot be sharded")
        precondition(phi.count == layout.count, "φ has \(phi.count) values, the layout needs \(layout.count)")
        let losses = forwardTruncation(phi: phi.baseAddress!, state: &state, mode: mode)
        // A shard that owns no unit has no part to compute (and an empty buffer may have no address).
        guard let parts = unitGradients.baseAddress else { return losses }
        parts.update(repeating: 0, count: unitGradients.count)
        backward(phi: phi.baseAddress!, startStep: state.step - unroll, mode: mode, gradient: parts,
                 perUnit: mode == .firstOrder)
        return losses
    }

    /// Restricts the engine to the units `owned` of `units` (forward and backward passes, and the
    /// parts of the meta-gradient); after every forward step `exchange` receives θ with the owned
    /// units' coordinates up to date and must fill in every other coordinate. The optimizee is
    /// still evaluated on the whole θ (∇f needs all of it), so every shard computes the same
    /// losses and gradients.
    package func shard(owning owned: Range<Int>, exchange: @escaping (UnsafeMutablePointer<S>) -> Void) {
        precondition(owned.lowerBound >= 0 && owned.upperBound <= units.count, "owned units out of range")
        ownedUnits = owned
        thetaExchange = exchange
    }

    /// The coordinate ranges (in the flat θ, in order) that unit `u` updates.
    package func coordinates(ofUnit u: Int) -> [Range<Int>] {
        lanes[units[u].lane].tileSegments[units[u].tile].map { $0.start..<($0.start + $0.count) }
    }

}

/// A column tile of one lane (learned optimizer) of an engine.
package struct WorkUnit: Equatable, Sendable {
    package let lane: Int
    package let tile: Int
}

/// The LSTM engine behind the architecture seam. Float only: the conformance's witnesses are then
/// concrete, so a call through `any MetaGradientEngine<Float>` runs the specialised Float code.
extension UnrollEngine: MetaGradientEngine where S == Float {}
