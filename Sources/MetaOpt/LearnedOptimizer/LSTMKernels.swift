/// The elementwise parts of one coordinatewise LSTM layer in the feature-major layout: every
/// matrix has one row per feature and one column per coordinate, so each gate of each hidden unit
/// is one contiguous row and the loops below run over contiguous memory.
///
/// Pre-activations `z = Wᵀ [x; h_prev]` (4H × M, rows i, f, g, o) come from one GEMM; these
/// kernels add the bias, turn them into the new state and, backwards, turn dL/dh and dL/dc into
/// dL/dz, summing the bias gradient (and the output layer's, for the last layer) on the way.
///
/// `Float` runs the vector kernels of the given kernel path (`FloatKernels`, with `FastMath`'s
/// sigmoid and tanh); every other type (the `Double` of the finite-difference tests) runs the
/// scalar reference loops below with libm.
enum LSTMKernels {
    /// The output layer u = b + Σⱼ wⱼ hⱼ over the last layer's h, fused into that layer's forward
    /// kernel (`OutputHead`).
    struct OutputForward<S> {
        var weights: UnsafePointer<S>
        var bias: S
        /// u (one row of M).
        var update: UnsafeMutablePointer<S>
    }

    /// The output layer's backward, fused into the last layer's backward kernel: dL/dhⱼ gets
    /// wⱼ·du, and dL/dwⱼ += Σ hⱼ du, dL/db += Σ du.
    struct OutputBackward<S> {
        var weights: UnsafePointer<S>
        /// dL/du (one row of M).
        var du: UnsafePointer<S>
        var weightGradient: UnsafeMutablePointer<S>
        var biasGradient: UnsafeMutablePointer<S>
    }

    /// Forward: `preactivations` holds Wᵀ[x; h_prev] without bias; writes the activated gates
    /// i = σ(zᵢ), f = σ(z_f), g = tanh(z_g), o = σ(z_o) into `gates` (which may be the same
    /// memory), c = f ⊙ c_prev + i ⊙ g, tanh(c) (into `tanhCell` if given), and h = o ⊙ tanh(c)
    /// into `hidden` (and `hiddenCopy` if given), and the output layer's u if `output` is given.
    /// Without `keepHistory` (forward-only runs) the Float path skips storing the gates, which only
    /// the backward pass reads.
    @inline(__always)
    static func forward<S: MetaScalar>(preactivations z: MatrixView<S>, gates: MatrixView<S>, bias: UnsafePointer<S>,
                                       cellPrevious: MatrixView<S>, cell: MatrixView<S>,
                                       tanhCell: MatrixView<S>?, hidden: MatrixView<S>,
                                       hiddenCopy: MatrixView<S>?, output: OutputForward<S>?, keepHistory: Bool = true,
                                       kernels: FloatKernels) {
        if S.self == Float.self {
            kernels.forward(preactivations: z.reinterpreted(), gates: gates.reinterpreted(), bias: bias.reinterpreted(),
                                     cellPrevious: cellPrevious.reinterpreted(), cell: cell.reinterpreted(),
                                     tanhCell: tanhCell?.reinterpreted(), hidden: hidden.reinterpreted(),
                                     hiddenCopy: hiddenCopy?.reinterpreted(),
                                     output: output.map { .init(weights: $0.weights.reinterpreted(), bias: Float($0.bias),
                                                                update: $0.update.reinterpreted()) },
                                     keepHistory: keepHistory)
            return
        }
        let h = cell.rows, m = cell.columns
        for j in 0..<h {
            let zi = z.row(j), zf = z.row(h + j), zg = z.row(2 * h + j), zo = z.row(3 * h + j)
            let gi = gates.row(j), gf = gates.row(h + j), gg = gates.row(2 * h + j), go = gates.row(3 * h + j)
            let bi = bias[j], bf = bias[h + j], bg = bias[2 * h + j], bo = bias[3 * h + j]
            let cp = cellPrevious.row(j), c = cell.row(j), tc = tanhCell?.row(j), out = hidden.row(j)
            for k in 0..<m {
                let i = S.sigmoid(zi[k] + bi)
                let f = S.sigmoid(zf[k] + bf)
                let g = S.tanh(zg[k] + bg)
                let o = S.sigmoid(zo[k] + bo)
                let cv = f * cp[k] + i * g
                let t = S.tanh(cv)
                gi[k] = i; gf[k] = f; gg[k] = g; go[k] = o
                c[k] = cv
                tc?[k] = t
                out[k] = o * t
            }
            if let copy = hiddenCopy { copy.row(j).update(from: out, count: m) }
            if let o = output {
                let w = o.weights[j], u = o.update
                if j == 0 {
                    for k in 0..<m { u[k] = o.bias + w * out[k] }
                } else {
                    for k in 0..<m { u[k] += w * out[k] }
                }
            }
        }
    }

    /// tanh(c) into `tanhCell` and, if `hidden` is given, h = o ⊙ tanh(c) into it (o: `outputGate`):
    /// what `forward` computes from the same c, with the same function and product, so the same
    /// bits. The backward pass recomputes tanh(c) with it instead of keeping it in the history.
    @inline(__always)
    static func tanhCell<S: MetaScalar>(of cell: MatrixView<S>, outputGate: MatrixView<S>?, into tanhCell: MatrixView<S>,
                                        hidden: MatrixView<S>?, kernels: FloatKernels) {
        if S.self == Float.self {
            kernels.tanhCell(of: cell.reinterpreted(), outputGate: outputGate?.reinterpreted(),
                             into: tanhCell.reinterpreted(), hidden: hidden?.reinterpreted())
            return
        }
        for j in 0..<cell.rows {
            let c = cell.row(j), tc = tanhCell.row(j), o = outputGate?.row(j), out = hidden?.row(j)
            for k in 0..<cell.columns {
                let t = S.tanh(c[k])
                tc[k] = t
                if let o, let out { out[k] = o[k] * t }
            }
        }
    }

    /// Backward through the elementwise part. dL/dh_t = `dHidden` + (`dHiddenExtra`, or the
    /// output layer's wⱼ·du when `output` is given). `dCell` holds dL/dc_t coming from step t+1 on
    /// entry and dL/dc_{t-1} on exit. Writes dL/dz into `dGates` (4H × M, rows i, f, g, o) and
    /// adds its row sums to `biasGradient` (4H).
    @inline(__always)
    static func backward<S: MetaScalar>(gates: MatrixView<S>, cellPrevious: MatrixView<S>,
                                        tanhCell: MatrixView<S>, dHidden: MatrixView<S>,
                                        dHiddenExtra: MatrixView<S>?, output: OutputBackward<S>?,
                                        dCell: MatrixView<S>, dGates: MatrixView<S>,
                                        biasGradient: UnsafeMutablePointer<S>, kernels: FloatKernels) {
        if S.self == Float.self {
            kernels.backward(gates: gates.reinterpreted(), cellPrevious: cellPrevious.reinterpreted(),
                                      tanhCell: tanhCell.reinterpreted(), dHidden: dHidden.reinterpreted(),
                                      dHiddenExtra: dHiddenExtra?.reinterpreted(),
                                      output: output.map { .init(weights: $0.weights.reinterpreted(), du: $0.du.reinterpreted(),
                                                                 weightGradient: $0.weightGradient.reinterpreted(),
                                                                 biasGradient: $0.biasGradient.reinterpreted()) },
                                      dCell: dCell.reinterpreted(), dGates: dGates.reinterpreted(),
                                      biasGradient: biasGradient.reinterpreted())
            return
        }
        let h = tanhCell.rows, m = tanhCell.columns
        if let o = output {
            var s: S = 0
            for k in 0..<m { s += o.du[k] }
            o.biasGradient.pointee += s
        }
        for j in 0..<h {
            let gi = gates.row(j), gf = gates.row(h + j), gg = gates.row(2 * h + j), go = gates.row(3 * h + j)
            let di = dGates.row(j), df = dGates.row(h + j), dg = dGates.row(2 * h + j), dout = dGates.row(3 * h + j)
            let cp = cellPrevious.row(j), tc = tanhCell.row(j), dh = dHidden.row(j), dc = dCell.row(j)
            let extra = dHiddenExtra?.row(j)
            let w = output?.weights[j] ?? 0, du = output?.du
            var si: S = 0, sf: S = 0, sg: S = 0, so: S = 0, sw: S = 0
            for k in 0..<m {
                let i = gi[k], f = gf[k], g = gg[k], o = go[k], t = tc[k]
                var dhv = dh[k]
                if let extra { dhv += extra[k] }
                if let du {
                    dhv += w * du[k]
                    sw += o * t * du[k]
                }
                let dcv = dc[k] + dhv * o * (1 - t * t)
                dc[k] = dcv * f
                let vi = dcv * g * i * (1 - i), vf = dcv * cp[k] * f * (1 - f)
                let vg = dcv * i * (1 - g * g), vo = dhv * t * o * (1 - o)
                di[k] = vi; df[k] = vf; dg[k] = vg; dout[k] = vo
                si += vi; sf += vf; sg += vg; so += vo
            }
            biasGradient[j] += si
            biasGradient[h + j] += sf
            biasGradient[2 * h + j] += sg
            biasGradient[3 * h + j] += so
            if let o = output { o.weightGradient[j] += sw }
        }
    }
}

extension UnsafePointer {
    @inline(__always) func reinterpreted<T>(as: T.Type = T.self) -> UnsafePointer<T> {
        UnsafeRawPointer(self).assumingMemoryBound(to: T.self)
    }
}

extension UnsafeMutablePointer {
    @inline(__always) func reinterpreted<T>(as: T.Type = T.self) -> UnsafeMutablePointer<T> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: T.self)
    }
}
