/// The learned optimizer's output layer in `UnrollEngine`: u = b + Σⱼ wⱼ hⱼ over the last LSTM
/// layer's state, then θ += outputScale · u. Its elementwise work runs fused into the last
/// layer's kernels (one pass over h instead of two); this type owns its buffers and says what to
/// fuse.
struct OutputHead<S: MetaScalar> {
    /// Offsets of the weight (H of the last layer) and the bias in φ.
    let weight: Int
    let bias: Int
    /// u (one row).
    let update: TiledMatrix<S>
    /// Backward: dL/du (one row).
    let dUpdate: TiledMatrix<S>

    /// `history` false (forward-only engines): no du.
    init(block: ParameterLayout.Block, columns: Int, tileWidth: Int, history: Bool = true, workspace ws: Workspace<S>) {
        weight = block.outputWeight
        bias = block.outputBias
        update = ws.tiled(1, columns, tileWidth: tileWidth)
        dUpdate = ws.tiled(history ? 1 : 0, columns, tileWidth: tileWidth)
    }

    /// Scalars per padded column: u and du (forward-only: u).
    static func scalarsPerColumn(history: Bool = true) -> Int { history ? 2 : 1 }

    /// The forward part to fuse into the last layer's kernel for one tile.
    @inline(__always)
    func forward(phi: UnsafePointer<S>, tile ti: Int) -> LSTMKernels.OutputForward<S> {
        .init(weights: phi + weight, bias: phi[bias], update: update.tile(ti).base)
    }

    /// The backward part to fuse into the last layer's backward kernel for one tile (dL/du set
    /// beforehand).
    @inline(__always)
    func backward(phi: UnsafePointer<S>, gradient g: UnsafeMutablePointer<S>, tile ti: Int) -> LSTMKernels.OutputBackward<S> {
        .init(weights: phi + weight, du: dUpdate.tile(ti).base, weightGradient: g + weight, biasGradient: g + bias)
    }

    /// The output layer's multiply-adds per coordinate and step (forward u; backward dh, dw).
    static func flops(lastHidden h: Int) -> (forward: Int, backward: Int) { (2 * h, 4 * h) }
}
