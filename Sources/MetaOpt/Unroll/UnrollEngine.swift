/// Runs the learned optimizer on a fixed set of tasks: forward over a truncation of T steps and the
/// hand-written backward pass that yields each task's meta-gradient (DESIGN.md §1).
///
/// All coordinates of all tasks that one learned optimizer acts on are the columns of one
/// feature-major matrix, so every LSTM layer is one GEMM per step over all of them.
///
/// An engine's result is a pure function of its tasks and φ: the same tasks in the same order give
/// bit-identical results in any process. (It is not true across different groupings: OpenBLAS's
/// edge kernels round a column differently depending on where it falls in the matrix, so the
/// distributed trainer always runs the same fixed blocks of tasks, whatever the number of ranks.)
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
    /// The same, from the layout's formula (see docs/performance.md).
    public var statedBytes: Int { allocatedBytes }

    /// The matrix products one unrolled step makes (forward and first-order backward).
    public var gemmShapes: [GEMMShape] {
        let h = hidden, g = 4 * hidden, k1 = inputs + hidden
        return lanes.filter { $0.columns > 0 }.flatMap { lane -> [GEMMShape] in
            let m = lane.columns
            return [GEMMShape(name: "L1 fwd W1ᵀ·X1", transposeA: true, transposeB: false, m: g, n: m, k: k1),
                    GEMMShape(name: "L2 fwd W2ᵀ·X2", transposeA: true, transposeB: false, m: g, n: m, k: 2 * h),
                    GEMMShape(name: "L2 bwd dW X2·dZᵀ", transposeA: false, transposeB: true, m: 2 * h, n: g, k: m),
                    GEMMShape(name: "L2 bwd dX W2·dZ", transposeA: false, transposeB: false, m: 2 * h, n: m, k: g),
                    GEMMShape(name: "L1 bwd dW X1·dZᵀ", transposeA: false, transposeB: true, m: k1, n: g, k: m),
                    GEMMShape(name: "L1 bwd dX_h W1h·dZ", transposeA: false, transposeB: false, m: h, n: m, k: g)]
        }
    }

    /// A contiguous run of coordinates of one task that one learned optimizer updates.
    struct Segment {
        var task: Int
        var start: Int  // in the flat coordinate vector
        var count: Int
        var column: Int  // in the lane's matrices
    }

    /// Buffers of one learned optimizer ("lane"): slot t of X1 holds [x_t; h1_{t-1}], of X2
    /// [h1_t; h2_{t-1}]; cell slot t holds c_{t-1}, slot t+1 holds c_t.
    struct Lane {
        var block: ParameterLayout.Block
        var columns: Int
        var segments: [Segment]
        var x1: [MatrixView<S>], x2: [MatrixView<S>]
        var cell1: [MatrixView<S>], cell2: [MatrixView<S>]
        var gates1: [MatrixView<S>], gates2: [MatrixView<S>]
        var tanh1: [MatrixView<S>], tanh2: [MatrixView<S>]
        var update: MatrixView<S>
        var dGates: MatrixView<S>, dX1: MatrixView<S>, dX2: MatrixView<S>
        var dCell1: MatrixView<S>, dCell2: MatrixView<S>, dUpdate: MatrixView<S>
    }

    let workspace = Workspace<S>()
    var lanes: [Lane] = []
    let hidden: Int
    let inputs: Int
    let slots: Int
    /// ∇f at every step of the truncation (slot t = step t), flat over all tasks.
    var gradients: [MatrixView<S>]
    var theta: MatrixView<S>
    /// θ_t of every step of the truncation; kept only for the second-order mode's Hessians
    /// (allocated on its first use).
    var thetaHistory: [MatrixView<S>]
    var adjoint: MatrixView<S>
    var scratchCoordinates: MatrixView<S>

    /// - Parameters:
    ///   - unroll: truncation length T; the engine stores T steps of history for the backward pass.
    ///   - lossWeights: w_1…w_T (default all 1).
    public init(layout: ParameterLayout, tasks: [any Optimizee], unroll: Int, lossWeights: [Double]? = nil) {
        precondition(unroll >= 1, "unroll must be positive")
        precondition(!tasks.isEmpty, "an engine needs at least one task")
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
        for o in 0..<layout.config.optimizerCount {
            let m = columnsPerLane[o]
            lanes.append(Lane(
                block: layout.blocks[o], columns: m, segments: segmentsPerLane[o],
                x1: (0...slots).map { _ in ws.matrix(k1, m) }, x2: (0...slots).map { _ in ws.matrix(2 * h, m) },
                cell1: (0...slots).map { _ in ws.matrix(h, m) }, cell2: (0...slots).map { _ in ws.matrix(h, m) },
                gates1: (0..<slots).map { _ in ws.matrix(gates, m) }, gates2: (0..<slots).map { _ in ws.matrix(gates, m) },
                tanh1: (0..<slots).map { _ in ws.matrix(h, m) }, tanh2: (0..<slots).map { _ in ws.matrix(h, m) },
                update: ws.vector(m),
                dGates: ws.matrix(gates, m), dX1: ws.matrix(k1, m), dX2: ws.matrix(2 * h, m),
                dCell1: ws.matrix(h, m), dCell2: ws.matrix(h, m), dUpdate: ws.vector(m)))
        }
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

    /// The LSTM state blocks (h1, c1, h2, c2) of `lane` in history slot `slot`, in the order of
    /// `UnrollState.lstm`.
    private func stateBlocks(_ lane: Lane, slot: Int) -> [MatrixView<S>] {
        [lane.x1[slot].rows(inputs, hidden), lane.cell1[slot], lane.x2[slot].rows(hidden, hidden), lane.cell2[slot]]
    }

    private func load(_ state: UnrollState<S>) {
        precondition(state.theta.count == coordinateCount && state.lstm.count == lanes.count, "state does not fit")
        state.theta.withUnsafeBufferPointer { theta.base.update(from: $0.baseAddress!, count: coordinateCount) }
        state.gradient.withUnsafeBufferPointer { gradients[0].base.update(from: $0.baseAddress!, count: coordinateCount) }
        for (o, lane) in lanes.enumerated() where lane.columns > 0 {
            let m = lane.columns
            state.lstm[o].withUnsafeBufferPointer { p in
                for (b, block) in stateBlocks(lane, slot: 0).enumerated() {
                    for j in 0..<hidden { block.row(j).update(from: p.baseAddress! + (b * hidden + j) * m, count: m) }
                }
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
                for (b, block) in stateBlocks(lane, slot: slot).enumerated() {
                    for j in 0..<hidden { (p.baseAddress! + (b * hidden + j) * m).update(from: block.row(j), count: m) }
                }
            }
        }
    }

    // MARK: - Forward

    /// One step of the learned optimizer from history slot `from` to slot `to`: reads the
    /// gradient in `gradients[gradientSlot]`, adds the update to θ. `inputOverride`, when given,
    /// replaces that gradient as the LSTM input (the frozen-input loss of the finite-difference tests).
    private func forwardStep(phi: UnsafePointer<S>, from s: Int, to d: Int, gradientSlot: Int,
                             inputOverride: UnsafePointer<S>? = nil) {
        let h = hidden, m4 = 4 * hidden, k1 = inputs + hidden
        let scale = S(layout.config.outputScale)
        let input = inputOverride ?? UnsafePointer(gradients[gradientSlot].base)
        for lane in lanes where lane.columns > 0 {
            let m = lane.columns, block = lane.block, ld = lane.x1[s].stride
            for seg in lane.segments {
                layout.config.preprocessing.apply(input + seg.start, count: seg.count, into: lane.x1[s], column: seg.column)
            }
            // Layer 1: z = W1ᵀ [x; h1_prev]
            S.gemm(transposeA: true, transposeB: false, m: m4, n: m, k: k1, alpha: 1,
                   a: phi + block.weight1, lda: m4, b: lane.x1[s].base, ldb: ld, beta: 0, c: lane.gates1[s].base, ldc: ld)
            LSTMKernels.forward(gates: lane.gates1[s], bias: phi + block.bias1, cellPrevious: lane.cell1[s],
                                cell: lane.cell1[d], tanhCell: lane.tanh1[s],
                                hidden: lane.x1[d].rows(inputs, h), hiddenCopy: lane.x2[s].rows(0, h), output: nil)
            // Layer 2: z = W2ᵀ [h1; h2_prev]; then the output u = woᵀ h2 + bo.
            S.gemm(transposeA: true, transposeB: false, m: m4, n: m, k: 2 * h, alpha: 1,
                   a: phi + block.weight2, lda: m4, b: lane.x2[s].base, ldb: ld, beta: 0, c: lane.gates2[s].base, ldc: ld)
            let u = lane.update.base
            LSTMKernels.forward(gates: lane.gates2[s], bias: phi + block.bias2, cellPrevious: lane.cell2[s],
                                cell: lane.cell2[d], tanhCell: lane.tanh2[s],
                                hidden: lane.x2[d].rows(h, h), hiddenCopy: nil,
                                output: .init(weights: phi + block.outputWeight, bias: phi[block.outputBias], update: u))
            // θ += scale · u
            for seg in lane.segments {
                let th = theta.base + seg.start, uu = u + seg.column
                for k in 0..<seg.count { th[k] += scale * uu[k] }
            }
        }
    }

    /// Evaluates every task at θ (current `theta`) on optimizee step `step`; gradient into `slot`.
    private func evaluateTasks(step: Int, gradientSlot: Int, losses: inout [S]) {
        let tp = UnsafeBufferPointer(start: theta.base, count: coordinateCount)
        let gp = UnsafeMutableBufferPointer(start: gradients[gradientSlot].base, count: coordinateCount)
        for b in tasks.indices {
            let r = taskOffsets[b]..<taskOffsets[b + 1]
            losses[b] = S.evaluate(tasks[b], theta: UnsafeBufferPointer(rebasing: tp[r]), step: step,
                                   gradient: UnsafeMutableBufferPointer(rebasing: gp[r]))
        }
    }

    /// Runs the learned optimizer forward only, for `steps` steps from `state`, calling `observe`
    /// after each step with the step index and every task's loss there. Memory: two history slots.
    public func run(phi: UnsafeBufferPointer<S>, state: inout UnrollState<S>, steps: Int,
                    observe: (_ step: Int, _ losses: [S]) -> Void = { _, _ in }) {
        precondition(phi.count == layout.count, "φ has \(phi.count) values, the layout needs \(layout.count)")
        load(state)
        var losses = state.loss
        var s = 0
        for t in 0..<steps {
            let d = 1 - s
            forwardStep(phi: phi.baseAddress!, from: s, to: d, gradientSlot: s)
            evaluateTasks(step: state.step + t + 1, gradientSlot: d, losses: &losses)
            observe(state.step + t + 1, losses)
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

    private func backward(phi: UnsafePointer<S>, startStep: Int, mode: MetaGradientMode,
                          gradient g: UnsafeMutablePointer<S>) {
        let T = unroll, n = coordinateCount, h = hidden, m4 = 4 * hidden, k1 = inputs + hidden
        let scale = S(layout.config.outputScale)
        let a = adjoint.base
        // Adjoint of θ_T: w_T ∇f(θ_T).
        let wT = lossWeights[T], gT = gradients[T].base
        for i in 0..<n { a[i] = wT * gT[i] }
        // The recurrent parts of dL/dh (in dX1's hidden rows and dX2's h2 rows) and dL/dc start at
        // zero after the last step.
        for lane in lanes {
            lane.dCell1.zero()
            lane.dCell2.zero()
            lane.dX1.zero()
            lane.dX2.zero()
        }
        for t in stride(from: T - 1, through: 0, by: -1) {
            for lane in lanes where lane.columns > 0 {
                let m = lane.columns, block = lane.block, ld = lane.dGates.stride
                // dL/du_t = scale · a_{t+1} (u is the network output before scaling).
                let du = lane.dUpdate.base
                for seg in lane.segments {
                    let src = a + seg.start, dst = du + seg.column
                    for k in 0..<seg.count { dst[k] = scale * src[k] }
                }
                // Layer 2 with the output layer: dh2_t = wo du + the recurrent part from step t+1
                // (dX2 rows H..<2H).
                LSTMKernels.backward(gates: lane.gates2[t], cellPrevious: lane.cell2[t], tanhCell: lane.tanh2[t],
                                     dHidden: lane.dX2.rows(h, h), dHiddenExtra: nil,
                                     output: .init(weights: phi + block.outputWeight, du: du,
                                                   weightGradient: g + block.outputWeight,
                                                   biasGradient: g + block.outputBias),
                                     dCell: lane.dCell2, dGates: lane.dGates, biasGradient: g + block.bias2)
                S.gemm(transposeA: false, transposeB: true, m: 2 * h, n: m4, k: m, alpha: 1,
                       a: lane.x2[t].base, lda: ld, b: lane.dGates.base, ldb: ld, beta: 1, c: g + block.weight2, ldc: m4)
                S.gemm(transposeA: false, transposeB: false, m: 2 * h, n: m, k: m4, alpha: 1,
                       a: phi + block.weight2, lda: m4, b: lane.dGates.base, ldb: ld, beta: 0, c: lane.dX2.base, ldc: ld)
                // Layer 1: dh1_t = (dX2 rows 0..<H) + recurrent part from step t+1 (dX1 rows inputs..<inputs+H).
                LSTMKernels.backward(gates: lane.gates1[t], cellPrevious: lane.cell1[t], tanhCell: lane.tanh1[t],
                                     dHidden: lane.dX2.rows(0, h), dHiddenExtra: lane.dX1.rows(inputs, h), output: nil,
                                     dCell: lane.dCell1, dGates: lane.dGates, biasGradient: g + block.bias1)
                S.gemm(transposeA: false, transposeB: true, m: k1, n: m4, k: m, alpha: 1,
                       a: lane.x1[t].base, lda: ld, b: lane.dGates.base, ldb: ld, beta: 1, c: g + block.weight1, ldc: m4)
                if mode == .secondOrder {
                    S.gemm(transposeA: false, transposeB: false, m: k1, n: m, k: m4, alpha: 1,
                           a: phi + block.weight1, lda: m4, b: lane.dGates.base, ldb: ld, beta: 0, c: lane.dX1.base, ldc: ld)
                } else {
                    // The input rows are constants; only dh1_{t-1} is needed.
                    S.gemm(transposeA: false, transposeB: false, m: h, n: m, k: m4, alpha: 1,
                           a: phi + block.weight1 + inputs * m4, lda: m4, b: lane.dGates.base, ldb: ld, beta: 0,
                           c: lane.dX1.row(inputs), ldc: ld)
                }
            }
            // a_t = a_{t+1} + w_t ∇f(θ_t) [+ H_t Jᵀ dL/dx_t in second-order mode].
            let wt = lossWeights[t], gt = gradients[t].base
            if wt != 0 { for i in 0..<n { a[i] += wt * gt[i] } }
            if mode == .secondOrder { addSecondOrderTerm(step: startStep + t, slot: t) }
        }
    }

    /// Adds H(θ_t) · (dL/d∇_t) to the adjoint: the path through the optimizee gradient that the
    /// first-order approximation drops.
    private func addSecondOrderTerm(step: Int, slot t: Int) {
        let n = coordinateCount
        let dg = scratchCoordinates.base
        dg.update(repeating: 0, count: n)
        for lane in lanes where lane.columns > 0 {
            for seg in lane.segments {
                layout.config.preprocessing.backward(gradients[t].base + seg.start, count: seg.count,
                                                     dInput: lane.dX1, column: seg.column, into: dg + seg.start)
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
