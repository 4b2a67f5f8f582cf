/// The elementwise parts of one coordinatewise LSTM layer in the feature-major layout: every
/// matrix has one row per feature and one column per coordinate, so each gate of each hidden unit
/// is one contiguous row and the loops below run over contiguous memory.
///
/// Pre-activations `z = Wᵀ [x; h_prev] + b` (4H × M, rows i, f, g, o) come from one GEMM; these
/// kernels turn them into the new state and, backwards, turn dL/dh and dL/dc into dL/dz.
enum LSTMKernels {
    /// Forward: on entry `gates` holds Wᵀ[x; h_prev] without bias; on exit the activated gates
    /// i = σ(zᵢ), f = σ(z_f), g = tanh(z_g), o = σ(z_o). Also writes
    /// c = f ⊙ c_prev + i ⊙ g, tanh(c), and h = o ⊙ tanh(c) into `hidden` (and `hiddenCopy` if given).
    @inline(__always)
    static func forward<S: MetaScalar>(gates: MatrixView<S>, bias: UnsafePointer<S>,
                                       cellPrevious: MatrixView<S>, cell: MatrixView<S>,
                                       tanhCell: MatrixView<S>, hidden: MatrixView<S>,
                                       hiddenCopy: MatrixView<S>?) {
        let h = cell.rows, m = cell.columns
        for j in 0..<h {
            let gi = gates.row(j), gf = gates.row(h + j), gg = gates.row(2 * h + j), go = gates.row(3 * h + j)
            let bi = bias[j], bf = bias[h + j], bg = bias[2 * h + j], bo = bias[3 * h + j]
            let cp = cellPrevious.row(j), c = cell.row(j), tc = tanhCell.row(j), out = hidden.row(j)
            for k in 0..<m {
                let i = S.sigmoid(gi[k] + bi)
                let f = S.sigmoid(gf[k] + bf)
                let g = S.tanh(gg[k] + bg)
                let o = S.sigmoid(go[k] + bo)
                let cv = f * cp[k] + i * g
                let t = S.tanh(cv)
                gi[k] = i; gf[k] = f; gg[k] = g; go[k] = o
                c[k] = cv
                tc[k] = t
                out[k] = o * t
            }
            if let copy = hiddenCopy { copy.row(j).update(from: out, count: m) }
        }
    }

    /// Backward through the elementwise part. `dHidden` is dL/dh_t (all contributions summed);
    /// `dCell` holds dL/dc_t coming from step t+1 on entry and dL/dc_{t-1} on exit.
    /// Writes dL/dz into `dGates` (4H × M, rows i, f, g, o).
    @inline(__always)
    static func backward<S: MetaScalar>(gates: MatrixView<S>, cellPrevious: MatrixView<S>,
                                        tanhCell: MatrixView<S>, dHidden: MatrixView<S>,
                                        dCell: MatrixView<S>, dGates: MatrixView<S>) {
        let h = tanhCell.rows, m = tanhCell.columns
        for j in 0..<h {
            let gi = gates.row(j), gf = gates.row(h + j), gg = gates.row(2 * h + j), go = gates.row(3 * h + j)
            let di = dGates.row(j), df = dGates.row(h + j), dg = dGates.row(2 * h + j), dout = dGates.row(3 * h + j)
            let cp = cellPrevious.row(j), tc = tanhCell.row(j), dh = dHidden.row(j), dc = dCell.row(j)
            for k in 0..<m {
                let i = gi[k], f = gf[k], g = gg[k], o = go[k], t = tc[k], dhv = dh[k]
                let dcv = dc[k] + dhv * o * (1 - t * t)
                dc[k] = dcv * f
                di[k] = dcv * g * i * (1 - i)
                df[k] = dcv * cp[k] * f * (1 - f)
                dg[k] = dcv * i * (1 - g * g)
                dout[k] = dhv * t * o * (1 - o)
            }
        }
    }
}
