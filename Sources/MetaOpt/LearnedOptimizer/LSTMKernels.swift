#if METAOPT_AVX512
import _Builtin_intrinsics.intel
#endif

/// The elementwise parts of one coordinatewise LSTM layer in the feature-major layout: every
/// matrix has one row per feature and one column per coordinate, so each gate of each hidden unit
/// is one contiguous row and the loops below run over contiguous memory.
///
/// Pre-activations `z = Wᵀ [x; h_prev]` (4H × M, rows i, f, g, o) come from one GEMM; these
/// kernels add the bias, turn them into the new state and, backwards, turn dL/dh and dL/dc into
/// dL/dz, summing the bias gradient (and the output layer's, for layer 2) on the way.
///
/// `Float` runs the vector kernels of `FloatLSTMKernels` with `FastMath`'s sigmoid and tanh;
/// every other type (the `Double` of the finite-difference tests) runs the scalar reference loops
/// below with libm.
enum LSTMKernels {
    /// The output layer u = b + Σⱼ wⱼ h2ⱼ, fused into layer 2's forward kernel.
    struct OutputForward<S> {
        var weights: UnsafePointer<S>
        var bias: S
        /// u (one row of M).
        var update: UnsafeMutablePointer<S>
    }

    /// The output layer's backward, fused into layer 2's backward kernel: dL/dh2ⱼ gets wⱼ·du, and
    /// dL/dwⱼ += Σ h2ⱼ du, dL/db += Σ du.
    struct OutputBackward<S> {
        var weights: UnsafePointer<S>
        /// dL/du (one row of M).
        var du: UnsafePointer<S>
        var weightGradient: UnsafeMutablePointer<S>
        var biasGradient: UnsafeMutablePointer<S>
    }

    /// Forward: `preactivations` holds Wᵀ[x; h_prev] without bias; writes the activated gates
    /// i = σ(zᵢ), f = σ(z_f), g = tanh(z_g), o = σ(z_o) into `gates` (which may be the same
    /// memory), c = f ⊙ c_prev + i ⊙ g, tanh(c), and h = o ⊙ tanh(c) into `hidden` (and
    /// `hiddenCopy` if given), and the output layer's u if `output` is given. Without `keepHistory`
    /// (forward-only runs) the Float path skips storing the gates and tanh(c), which only the
    /// backward pass reads.
    @inline(__always)
    static func forward<S: MetaScalar>(preactivations z: MatrixView<S>, gates: MatrixView<S>, bias: UnsafePointer<S>,
                                       cellPrevious: MatrixView<S>, cell: MatrixView<S>,
                                       tanhCell: MatrixView<S>, hidden: MatrixView<S>,
                                       hiddenCopy: MatrixView<S>?, output: OutputForward<S>?, keepHistory: Bool = true) {
        if S.self == Float.self {
            FloatLSTMKernels.forward(preactivations: z.reinterpreted(), gates: gates.reinterpreted(), bias: bias.reinterpreted(),
                                     cellPrevious: cellPrevious.reinterpreted(), cell: cell.reinterpreted(),
                                     tanhCell: tanhCell.reinterpreted(), hidden: hidden.reinterpreted(),
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
            let cp = cellPrevious.row(j), c = cell.row(j), tc = tanhCell.row(j), out = hidden.row(j)
            for k in 0..<m {
                let i = S.sigmoid(zi[k] + bi)
                let f = S.sigmoid(zf[k] + bf)
                let g = S.tanh(zg[k] + bg)
                let o = S.sigmoid(zo[k] + bo)
                let cv = f * cp[k] + i * g
                let t = S.tanh(cv)
                gi[k] = i; gf[k] = f; gg[k] = g; go[k] = o
                c[k] = cv
                tc[k] = t
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

    /// Backward through the elementwise part. dL/dh_t = `dHidden` + (`dHiddenExtra`, or the
    /// output layer's wⱼ·du when `output` is given). `dCell` holds dL/dc_t coming from step t+1 on
    /// entry and dL/dc_{t-1} on exit. Writes dL/dz into `dGates` (4H × M, rows i, f, g, o) and
    /// adds its row sums to `biasGradient` (4H).
    @inline(__always)
    static func backward<S: MetaScalar>(gates: MatrixView<S>, cellPrevious: MatrixView<S>,
                                        tanhCell: MatrixView<S>, dHidden: MatrixView<S>,
                                        dHiddenExtra: MatrixView<S>?, output: OutputBackward<S>?,
                                        dCell: MatrixView<S>, dGates: MatrixView<S>,
                                        biasGradient: UnsafeMutablePointer<S>) {
        if S.self == Float.self {
            FloatLSTMKernels.backward(gates: gates.reinterpreted(), cellPrevious: cellPrevious.reinterpreted(),
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

/// The Float kernels: one vector register of coordinates at a time, whole vectors over each row's padded stride
/// (rows are 64-byte aligned; the padding columns are computed but never read by a matrix product,
/// and masked out of every sum).
enum FloatLSTMKernels {
    typealias V = FastMath.Vector
    static let width = V.scalarCount

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }
    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
    }
    /// A store of BPTT history that is not read again until the backward pass: with AVX-512 a
    /// non-temporal store (no read-for-ownership of the line; `p + i` is 64-byte aligned). The
    /// same thread reads it back later (its own streaming stores are visible to it); any hand-over
    /// of the engine to another thread goes through a lock or similar, which orders them too.
    @inline(__always) static func storeHistory(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        #if METAOPT_AVX512
        _mm512_stream_ps(p + i, v)
        #else
        store(v, p, i)
        #endif
    }

    /// 1 in the lanes of the last vector of a row that hold real columns, 0 in the padding.
    @inline(__always) static func tailMask(columns m: Int) -> V {
        let valid = m - (vectorCount(m) - 1) * width
        var mask = V(repeating: 0)
        for l in 0..<valid { mask[l] = 1 }
        return mask
    }

    @inline(__always) static func vectorCount(_ m: Int) -> Int { (m + width - 1) / width }

    static func forward(preactivations z: MatrixView<Float>, gates: MatrixView<Float>, bias: UnsafePointer<Float>,
                        cellPrevious: MatrixView<Float>, cell: MatrixView<Float>,
                        tanhCell: MatrixView<Float>, hidden: MatrixView<Float>,
                        hiddenCopy: MatrixView<Float>?, output: LSTMKernels.OutputForward<Float>?, keepHistory: Bool) {
        let h = cell.rows, n = vectorCount(cell.columns) * width
        for j in 0..<h {
            let zi = z.row(j), zf = z.row(h + j), zg = z.row(2 * h + j), zo = z.row(3 * h + j)
            let gi = gates.row(j), gf = gates.row(h + j), gg = gates.row(2 * h + j), go = gates.row(3 * h + j)
            let bi = V(repeating: bias[j]), bf = V(repeating: bias[h + j])
            let bg = V(repeating: bias[2 * h + j]), bo = V(repeating: bias[3 * h + j])
            let cp = cellPrevious.row(j), c = cell.row(j), tc = tanhCell.row(j), out = hidden.row(j)
            let copy = hiddenCopy?.row(j)
            let u = output?.update
            let w = V(repeating: output?.weights[j] ?? 0)
            let outputBias = V(repeating: output?.bias ?? 0)
            // Two passes over the row, so that each has short independent dependency chains
            // per vector (the out-of-order window then overlaps several vectors): first the four
            // gates and c (o parked in the h row), then tanh(c) and h. Separate functions, so
            // that the compiler inlines every sigmoid and tanh (it stops inlining in big callers).
            gatesPass(n: n, zi: zi, zf: zf, zg: zg, zo: zo, bi: bi, bf: bf, bg: bg, bo: bo, cp: cp,
                      gi: gi, gf: gf, gg: gg, go: go, c: c, o: out, keepHistory: keepHistory)
            if let u {
                hiddenPass(n: n, c: c, o: out, tanhCell: keepHistory ? tc : nil, copy: copy, update: u, weight: w,
                           start: j == 0 ? outputBias : nil)
            } else {
                hiddenPass(n: n, c: c, o: out, tanhCell: keepHistory ? tc : nil, copy: copy, update: nil, weight: w,
                           start: nil)
            }
        }
    }

    /// i, f, g, o and c = f ⊙ c_prev + i ⊙ g over `n` columns; o also into `o`.
    @inline(never)
    static func gatesPass(n: Int, zi: UnsafeMutablePointer<Float>, zf: UnsafeMutablePointer<Float>,
                          zg: UnsafeMutablePointer<Float>, zo: UnsafeMutablePointer<Float>, bi: V, bf: V, bg: V, bo: V,
                          cp: UnsafeMutablePointer<Float>, gi: UnsafeMutablePointer<Float>, gf: UnsafeMutablePointer<Float>,
                          gg: UnsafeMutablePointer<Float>, go: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
                          o out: UnsafeMutablePointer<Float>, keepHistory: Bool) {
        @inline(__always) func run(_ keep: Bool) {
            var k = 0
            while k < n {
                let i = FastMath.sigmoid(load(zi, k) + bi)
                let f = FastMath.sigmoid(load(zf, k) + bf)
                let g = FastMath.tanh(load(zg, k) + bg)
                let o = FastMath.sigmoid(load(zo, k) + bo)
                let cv = FastMath.fma(f, load(cp, k), i * g)
                if keep {
                    storeHistory(i, gi, k); storeHistory(f, gf, k); storeHistory(g, gg, k); storeHistory(o, go, k)
                }
                store(cv, c, k)
                store(o, out, k)
                k += width
            }
        }
        if keepHistory { run(true) } else { run(false) }
    }

    /// tanh(c) and h = o ⊙ tanh(c) (o read from, h written to `o`), its copy, and the output
    /// layer's u += w·h (u = start + w·h when `start` is given).
    @inline(never)
    static func hiddenPass(n: Int, c: UnsafeMutablePointer<Float>, o out: UnsafeMutablePointer<Float>,
                           tanhCell tc: UnsafeMutablePointer<Float>?, copy: UnsafeMutablePointer<Float>?,
                           update u: UnsafeMutablePointer<Float>?, weight w: V, start: V?) {
        var k = 0
        while k < n {
            let t = FastMath.tanh(load(c, k))
            let hv = load(out, k) * t
            if let tc { storeHistory(t, tc, k) }
            store(hv, out, k)
            if let copy { store(hv, copy, k) }
            if let u { store(FastMath.fma(w, hv, start ?? load(u, k)), u, k) }
            k += width
        }
    }

    static func backward(gates: MatrixView<Float>, cellPrevious: MatrixView<Float>,
                         tanhCell: MatrixView<Float>, dHidden: MatrixView<Float>,
                         dHiddenExtra: MatrixView<Float>?, output: LSTMKernels.OutputBackward<Float>?,
                         dCell: MatrixView<Float>, dGates: MatrixView<Float>,
                         biasGradient: UnsafeMutablePointer<Float>) {
        let h = tanhCell.rows, m = tanhCell.columns, vectors = vectorCount(m)
        let mask = tailMask(columns: m)
        if let o = output {
            var s = V(repeating: 0)
            for v in 0..<vectors {
                let d = load(o.du, v * width)
                s += v == vectors - 1 ? d * mask : d
            }
            o.biasGradient.pointee += s.sum()
        }
        for j in 0..<h {
            let gi = gates.row(j), gf = gates.row(h + j), gg = gates.row(2 * h + j), go = gates.row(3 * h + j)
            let di = dGates.row(j), df = dGates.row(h + j), dg = dGates.row(2 * h + j), dout = dGates.row(3 * h + j)
            let cp = cellPrevious.row(j), tc = tanhCell.row(j), dh = dHidden.row(j), dc = dCell.row(j)
            let extra = dHiddenExtra?.row(j)
            let w = V(repeating: output?.weights[j] ?? 0), du = output?.du
            var si = V(repeating: 0), sf = V(repeating: 0), sg = V(repeating: 0), so = V(repeating: 0)
            var sw = V(repeating: 0)
            @inline(__always) func body(_ k: Int, _ mask: V?) {
                let i = load(gi, k), f = load(gf, k), g = load(gg, k), o = load(go, k), t = load(tc, k)
                var dhv = load(dh, k)
                if let extra { dhv += load(extra, k) }
                var hdu = V(repeating: 0)
                if let du {
                    let d = load(du, k)
                    dhv = FastMath.fma(w, d, dhv)
                    hdu = (o * t) * d
                }
                let dcv = FastMath.fma(dhv * o, 1 - t * t, load(dc, k))
                store(dcv * f, dc, k)
                let vi = (dcv * g) * (i * (1 - i))
                let vf = (dcv * load(cp, k)) * (f * (1 - f))
                let vg = (dcv * i) * (1 - g * g)
                let vo = (dhv * t) * (o * (1 - o))
                store(vi, di, k); store(vf, df, k); store(vg, dg, k); store(vo, dout, k)
                if let mask {
                    si += vi * mask; sf += vf * mask; sg += vg * mask; so += vo * mask; sw += hdu * mask
                } else {
                    si += vi; sf += vf; sg += vg; so += vo; sw += hdu
                }
            }
            for v in 0..<(vectors - 1) { body(v * width, nil) }
            body((vectors - 1) * width, mask)
            biasGradient[j] += si.sum()
            biasGradient[h + j] += sf.sum()
            biasGradient[2 * h + j] += sg.sum()
            biasGradient[3 * h + j] += so.sum()
            if let o = output { o.weightGradient[j] += sw.sum() }
        }
    }
}
