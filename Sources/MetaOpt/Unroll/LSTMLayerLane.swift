internal import CMetaOptKernels

/// The buffers and steps of one LSTM layer of one learned optimizer ("lane") in `UnrollEngine`.
///
/// The layer's full input X = [in_t; h_{t-1}] (in: the preprocessed gradient for the first
/// layer, the previous layer's h_t otherwise) lives only in two working slots (this step's and
/// the next). The BPTT history keeps, per step t, the activated gates i, f, g, o and c_t (cell
/// slot t holds c_{t-1}, slot t+1 holds c_t); the backward pass recomputes tanh(c_t) from c_t
/// with the forward kernel's function (the same bits) into two working slots, and rebuilds X from
/// h = o ⊙ tanh(c), bit for bit. Not keeping X saves a quarter of the history's memory traffic;
/// not keeping tanh(c) another H floats per coordinate and step (51.6 MB of the MLP's 334 MB).
///
/// A forward-only engine's layer (`history` false) has only the two X slots and one cell slot,
/// updated in place (c_t overwrites c_{t-1} element by element); its history and backward
/// buffers are absent (zero rows, nothing allocated).
///
/// A struct of buffer views: the engine keeps the layers in an array and calls these methods on
/// the elements in place, so the per-tile calls copy nothing and touch no reference counts.
struct LSTMLayerLane<S: MetaScalar> {
    /// Sizes and where the layer's weight and bias lie in φ.
    let layer: ParameterLayout.Layer
    /// Working X, rows [in; h]: slot t % 2 is step t's.
    let input: [TiledMatrix<S>]
    /// h at the start of the truncation (the backward pass's h_{-1}).
    let initialHidden: TiledMatrix<S>
    /// Backward: X of the step being processed, rebuilt for one tile.
    let rebuiltBlock: MatrixView<S>
    /// History: c (T'+1 slots; forward-only: 1) and the activated gates (T' slots; forward-only:
    /// none).
    let cell: [TiledMatrix<S>]
    let gates: [TiledMatrix<S>]
    /// Backward: tanh(c_t) of the step being processed, recomputed from c by `recomputeHidden`
    /// and `recomputeTanhCell` (forward-only: no rows). One slot: at step t the backward kernel
    /// and the layer above's rebuild of h_t read tanh(c_t) before this layer's rebuild of h_{t-1}
    /// overwrites it with tanh(c_{t-1}).
    let tanhCell: TiledMatrix<S>
    /// Backward: dL/dX (rows [in; h]: the input part goes to the layer below or the
    /// preprocessing, the recurrent part is carried to the previous step), and dL/dc.
    let dInput: TiledMatrix<S>
    let dCell: TiledMatrix<S>
    /// Float path: partial sums of dW ((in + H) × 4H outputs), see `FloatWeightGradient`; nil
    /// where BLAS accumulates into the gradient directly.
    let weightSums: UnsafeMutablePointer<Float>?

    var inputs: Int { layer.inputs }
    var hidden: Int { layer.hidden }

    /// Allocates the layer's buffers for `columns` columns in tiles of `tileWidth`, with `slots`
    /// steps of history, or (`history` false) only what a forward step needs.
    init(layer: ParameterLayout.Layer, columns: Int, slots: Int, history: Bool = true, tileWidth: Int,
         vectorWeightGradient: Bool, workspace ws: Workspace<S>) {
        self.layer = layer
        let rows = layer.weightRows, h = layer.hidden
        let backwardRows = history ? 1 : 0  // a factor: the backward buffers' rows, or none
        func tiled(_ r: Int) -> TiledMatrix<S> { ws.tiled(r, columns, tileWidth: tileWidth) }
        input = (0..<2).map { _ in tiled(rows) }
        initialHidden = tiled(h * backwardRows)
        rebuiltBlock = ws.tileBlock(rows * backwardRows, tileWidth: tileWidth)
        cell = ws.tiledSeries(history ? slots + 1 : 1, rows: h, columns, tileWidth: tileWidth)
        gates = ws.tiledSeries(history ? slots : 0, rows: layer.gates, columns, tileWidth: tileWidth)
        tanhCell = tiled(h * backwardRows)
        dInput = tiled(rows * backwardRows)
        dCell = tiled(h * backwardRows)
        weightSums = vectorWeightGradient && history
            ? ws.vector(rows * layer.gates * FloatWeightGradient.slot).base.reinterpreted() : nil
    }

    /// c after history slot `slot`'s step (forward-only: the one slot, updated in place).
    @inline(__always) func cell(slot: Int) -> TiledMatrix<S> { cell[cell.count == 1 ? 0 : slot] }

    // MARK: - Memory and products

    /// Scalars the layer allocates per padded column, with T' = `slots` steps of history:
    ///   history   (T'+1)·H + T'·4H         (c; gates)
    ///   working   2·(I + H) + H            (X of this and the next step; h at the start)
    ///   backward  (I + H) + H + H          (dX, dc; tanh c)
    /// where I is the layer's input rows. For H = 20, I = 2 and T' = 20 the history is 100
    /// scalars per coordinate and unrolled step.
    /// Forward-only: 2·(I + H) + H (X of this and the next step; c).
    static func scalarsPerColumn(_ layer: ParameterLayout.Layer, slots t: Int, history: Bool = true) -> Int {
        let h = layer.hidden, rows = layer.weightRows
        guard history else { return 2 * rows + h }
        return (t + 1) * h + t * 4 * h + 2 * rows + h + rows + h + h
    }

    /// Scalars allocated once per lane whatever its columns: the rebuilt X block (tileWidth
    /// columns, rows `TiledMatrix.rowStride` apart) and the Float path's vector partial sums of dW.
    static func fixedScalars(_ layer: ParameterLayout.Layer, tileWidth: Int, vectorWeightGradient: Bool,
                             history: Bool = true) -> Int {
        guard history else { return 0 }
        let sums = vectorWeightGradient
            ? Workspace<S>.stride(for: layer.weightRows * layer.gates * FloatWeightGradient.slot) : 0
        return layer.weightRows * TiledMatrix<S>.rowStride(tileWidth) + sums
    }

    /// The layer's matrix products in one unrolled step over a tile of `width` columns (forward,
    /// then first-order backward), named by the layer's 1-based `number`.
    static func gemmShapes(_ layer: ParameterLayout.Layer, number k: Int, width w: Int, calls: Int) -> (forward: GEMMShape, backward: [GEMMShape]) {
        let g = layer.gates, rows = layer.weightRows
        let forward = GEMMShape(name: "L\(k) fwd W\(k)ᵀ·X\(k)", transposeA: true, transposeB: false, m: g, n: w, k: rows,
                                callsPerStep: calls)
        let weight = GEMMShape(name: "L\(k) bwd dW X\(k)·dZᵀ", transposeA: false, transposeB: true, m: rows, n: g, k: w,
                               callsPerStep: calls)
        // The first layer's input rows are constants: only its recurrent dX_h is computed.
        let input = k == 1
            ? GEMMShape(name: "L1 bwd dX_h W1h·dZ", transposeA: false, transposeB: false, m: layer.hidden, n: w, k: g,
                        callsPerStep: calls)
            : GEMMShape(name: "L\(k) bwd dX W\(k)·dZ", transposeA: false, transposeB: false, m: rows, n: w, k: g,
                        callsPerStep: calls)
        return (forward, [weight, input])
    }

    // MARK: - State

    /// The working X = [in; h_prev] that step `s` reads, for one tile (slot s % 2).
    func workingInput(step s: Int, tile ti: Int) -> MatrixView<S> { input[s % 2].tile(ti) }

    /// The input rows of step `s`'s X, for one tile: where the preprocessing or the layer below
    /// writes that step's in.
    func inputRows(step s: Int, tile ti: Int) -> MatrixView<S> { workingInput(step: s, tile: ti).rows(0, inputs) }

    /// h after history slot `slot`'s step, for one tile (rows of the working X).
    func hiddenState(slot: Int, tile ti: Int) -> MatrixView<S> { workingInput(step: slot, tile: ti).rows(inputs, hidden) }

    /// Keeps h of slot 0 as the state at the start of the truncation (for the backward pass).
    func recordInitialHidden(tile ti: Int) {
        copyRows(hiddenState(slot: 0, tile: ti), into: initialHidden.tile(ti))
    }

    // MARK: - Forward

    /// z = Wᵀ X for one tile of step `s` (X's input rows already written), into `z` (4H × width):
    /// by the kernel path's `product` when `own` is given (Float only), else by BLAS.
    @inline(__always)
    func forwardProduct(phi: UnsafePointer<S>, step s: Int, tile ti: Int, into z: MatrixView<S>, own: FloatKernels?) {
        let x = workingInput(step: s, tile: ti)
        if let own {
            own.product(m: layer.gates, columns: x.columns, k: layer.weightRows,
                        a: (phi + layer.weight).reinterpreted(), rowStride: 1, innerStride: layer.gates,
                        b: x.base.reinterpreted(), ldb: x.stride, c: z.base.reinterpreted(), ldc: z.stride)
            return
        }
        S.gemm(transposeA: true, transposeB: false, m: layer.gates, n: x.columns, k: layer.weightRows, alpha: 1,
               a: phi + layer.weight, lda: layer.gates, b: x.base, ldb: x.stride, beta: 0, c: z.base, ldc: z.stride)
    }

    /// The elementwise step from slot `s` to slot `d`: gates and c into the history, h into the
    /// next step's X and into `nextInput` (the layer above's input rows, if any), and the output
    /// head's u when `head` is given (fused into the last layer's kernel). Without `keepHistory`
    /// (Float only) the gates are not stored: a forward-only layer has no slots for them and
    /// passes z, which the kernel then leaves alone. tanh(c) is never stored (the backward pass
    /// recomputes it).
    @inline(__always)
    func forwardKernel(preactivations z: MatrixView<S>, phi: UnsafePointer<S>, from s: Int, to d: Int, tile ti: Int,
                       nextInput: MatrixView<S>?, head: LSTMKernels.OutputForward<S>?, keepHistory: Bool,
                       kernels: FloatKernels) {
        LSTMKernels.forward(preactivations: z, gates: keepHistory ? gates[s].tile(ti) : z, bias: phi + layer.bias,
                            cellPrevious: cell(slot: s).tile(ti), cell: cell(slot: d).tile(ti),
                            tanhCell: nil,
                            hidden: hiddenState(slot: d, tile: ti), hiddenCopy: nextInput, output: head,
                            keepHistory: keepHistory, kernels: kernels)
    }

    /// The product and the elementwise step in one kernel (Float only): z = Wᵀ X block by block
    /// of columns in registers, never stored; otherwise as `forwardProduct` then `forwardKernel`.
    @inline(__always)
    func fusedForward(phi: UnsafePointer<S>, from s: Int, to d: Int, tile ti: Int, scratch: MatrixView<S>,
                      nextInput: MatrixView<S>?, head: LSTMKernels.OutputForward<S>?, keepHistory: Bool,
                      kernels: FloatKernels) {
        kernels.fusedForward(input: workingInput(step: s, tile: ti).reinterpreted(), weight: (phi + layer.weight).reinterpreted(),
                             bias: (phi + layer.bias).reinterpreted(), scratch: scratch.reinterpreted(),
                             gates: keepHistory ? gates[s].tile(ti).reinterpreted() : nil,
                             cellPrevious: cell(slot: s).tile(ti).reinterpreted(),
                             cell: cell(slot: d).tile(ti).reinterpreted(),
                             tanhCell: nil,
                             hidden: hiddenState(slot: d, tile: ti).reinterpreted(), hiddenCopy: nextInput?.reinterpreted(),
                             output: head.map { .init(weights: $0.weights.reinterpreted(), bias: Float($0.bias),
                                                      update: $0.update.reinterpreted()) },
                             keepHistory: keepHistory)
    }

    // MARK: - Backward

    /// Zeroes dL/dc and dL/dX of a tile (padding included), before its last step.
    func clearGradients(tile ti: Int) {
        for buffer in [dCell, dInput] { buffer.tile(ti).base.update(repeating: 0, count: buffer.tileSpan) }
    }

    /// The recurrent part of dL/dX of a tile: dL/dh_{t-1}, carried to the previous step.
    func recurrentGradient(tile ti: Int) -> MatrixView<S> { dInput.tile(ti).rows(inputs, hidden) }

    /// The input part of dL/dX of a tile: dL/d(the layer's input) at the step being processed.
    func inputGradient(tile ti: Int) -> MatrixView<S> { dInput.tile(ti).rows(0, inputs) }

    /// Backward through the elementwise part at step t: dL/dh_t = `dHidden` + `dHiddenExtra`
    /// (or + the head's wⱼ·du when `head` is given); writes dL/dz into `dz`, sums db. tanh(c_t)
    /// must be in its slot (`recomputeTanhCell` or `recomputeHidden` of step t).
    @inline(__always)
    func backwardKernel(step t: Int, tile ti: Int, dHidden: MatrixView<S>, dHiddenExtra: MatrixView<S>?,
                        head: LSTMKernels.OutputBackward<S>?, dz: MatrixView<S>, gradient g: UnsafeMutablePointer<S>,
                        kernels: FloatKernels) {
        LSTMKernels.backward(gates: gates[t].tile(ti), cellPrevious: cell[t].tile(ti), tanhCell: tanhCell(tile: ti),
                             dHidden: dHidden, dHiddenExtra: dHiddenExtra, output: head, dCell: dCell.tile(ti),
                             dGates: dz, biasGradient: g + layer.bias, kernels: kernels)
    }

    /// The output gate o of `step` for one tile (what `rebuildHidden` reads with tanh c).
    @inline(__always)
    func outputGate(step t: Int, tile ti: Int) -> MatrixView<S> { gates[t].tile(ti).rows(3 * hidden, hidden) }

    /// The slot of tanh(c) for one tile: tanh(c_t) while step t ≥ 0 is processed.
    @inline(__always)
    func tanhCell(tile ti: Int) -> MatrixView<S> { tanhCell.tile(ti) }

    /// tanh(c_t) of `step` for one tile into its slot, from the stored c_t: the backward pass's
    /// first step, whose tanh(c) no later step has recomputed.
    func recomputeTanhCell(step t: Int, tile ti: Int, kernels: FloatKernels) {
        LSTMKernels.tanhCell(of: cell[t + 1].tile(ti), outputGate: nil, into: tanhCell(tile: ti), hidden: nil,
                             kernels: kernels)
    }

    /// h_t = o_t ⊙ tanh(c_t) at `step` for one tile, tanh(c_t) recomputed from the stored c_t into
    /// its slot (where the backward kernel of step t reads it next); the same function and
    /// product as the forward pass, so the same bits. Step −1 is the state at the start of the
    /// truncation.
    func recomputeHidden(step t: Int, tile ti: Int, into out: MatrixView<S>, kernels: FloatKernels) {
        guard t >= 0 else {
            copyRows(initialHidden.tile(ti), into: out)
            return
        }
        LSTMKernels.tanhCell(of: cell[t + 1].tile(ti), outputGate: outputGate(step: t, tile: ti),
                             into: tanhCell(tile: ti), hidden: out, kernels: kernels)
    }

    /// h_t = o_t ⊙ tanh(c_t) at `step` ≥ 0 for one tile, from tanh(c_t) in its slot (recomputed
    /// earlier in the backward pass): the same product as the forward pass, so the same bits.
    func rebuildHidden(step t: Int, tile ti: Int, into out: MatrixView<S>, kernels: FloatKernels) {
        let h = hidden
        let o = outputGate(step: t, tile: ti)
        let c = tanhCell(tile: ti)
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

    /// The rebuilt X of the tile being processed, `width` columns wide.
    func rebuiltInput(width w: Int) -> MatrixView<S> {
        MatrixView(base: rebuiltBlock.base, rows: rebuiltBlock.rows, columns: w, stride: rebuiltBlock.stride)
    }

    /// dW += X · dZᵀ over the tile's columns (X rebuilt beforehand): into the partial sums (Float),
    /// or by BLAS straight into the gradient.
    @inline(__always)
    func accumulateWeightGradient(dz: MatrixView<S>, gradient g: UnsafeMutablePointer<S>,
                                  using weightGradient: FloatWeightGradient,
                                  prefetching ranges: inout metaopt_prefetch, linesPerBlock: Int) {
        let x = rebuiltInput(width: dz.columns), m4 = dz.rows
        if let weightSums {
            weightGradient.accumulate(weightSums, a: x.base.reinterpreted(), lda: x.stride, m: x.rows,
                                      b: dz.base.reinterpreted(), ldb: dz.stride, n: m4, columns: dz.columns,
                                      prefetching: &ranges, linesPerBlock: linesPerBlock)
        } else {
            S.gemm(transposeA: false, transposeB: true, m: x.rows, n: m4, k: dz.columns, alpha: 1,
                   a: x.base, lda: x.stride, b: dz.base, ldb: dz.stride, beta: 1, c: g + layer.weight, ldc: m4)
        }
    }

    /// dX = W dZ for rows `rows` of X (the input rows, the recurrent rows, or both): by the
    /// kernel path's `product` when `own` is given (Float only), else by BLAS.
    @inline(__always)
    func inputProduct(phi: UnsafePointer<S>, dz: MatrixView<S>, tile ti: Int, rows: Range<Int>, own: FloatKernels?) {
        let dX = dInput.tile(ti), m4 = layer.gates
        if let own {
            own.product(m: rows.count, columns: dz.columns, k: m4,
                        a: (phi + layer.weight + rows.lowerBound * m4).reinterpreted(), rowStride: m4, innerStride: 1,
                        b: dz.base.reinterpreted(), ldb: dz.stride, c: dX.row(rows.lowerBound).reinterpreted(),
                        ldc: dX.stride)
            return
        }
        S.gemm(transposeA: false, transposeB: false, m: rows.count, n: dz.columns, k: m4, alpha: 1,
               a: phi + layer.weight + rows.lowerBound * m4, lda: m4, b: dz.base, ldb: dz.stride, beta: 0,
               c: dX.row(rows.lowerBound), ldc: dX.stride)
    }

    /// Adds the partial sums of dW (if any) to the gradient, and clears them.
    func reduceWeightGradient(into g: UnsafeMutablePointer<S>, using weightGradient: FloatWeightGradient) {
        guard let weightSums else { return }
        weightGradient.reduce(weightSums, m: layer.weightRows, n: layer.gates, into: (g + layer.weight).reinterpreted(),
                              ldg: layer.gates)
    }

    /// Blocks of the dW kernel per tile (to spread the prefetches over); 0 where BLAS computes the
    /// layer's dW.
    func weightGradientBlocks(_ weightGradient: FloatWeightGradient) -> Int {
        weightSums == nil ? 0 : weightGradient.blocks(m: layer.weightRows, n: layer.gates)
    }
}

/// Copies `source` into `destination` row by row, over the padded width (the same row count
/// and column count; strides may differ).
@inline(__always)
func copyRows<S>(_ source: MatrixView<S>, into destination: MatrixView<S>) {
    let n = min((source.columns + 15) / 16 * 16, source.stride, destination.stride)
    for j in 0..<source.rows { destination.row(j).update(from: source.row(j), count: n) }
}

extension Workspace {
    /// A rows × tileWidth block of one tile (scratch that stays in cache), laid out as a tile is.
    func tileBlock(_ rows: Int, tileWidth: Int) -> MatrixView<S> {
        tiled(rows, tileWidth, tileWidth: tileWidth).tile(0)
    }
}
