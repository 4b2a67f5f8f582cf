import Foundation

extension InputPreprocessing {
    /// Writes the LSTM input rows for gradient values `g` (count m) into `rows` (inputCount × …),
    /// columns `column..<column+m`.
    @inline(__always)
    func apply<S: MetaScalar>(_ g: UnsafePointer<S>, count m: Int, into rows: MatrixView<S>, column: Int,
                              kernels: FloatKernels) {
        switch self {
        case .raw:
            (rows.row(0) + column).update(from: g, count: m)
        case .logAndSign(let p):
            if S.self == Float.self {
                kernels.logAndSign(g.reinterpreted(), count: m, p: Float(p), threshold: Float(Foundation.exp(-p)),
                                   scale: Float(Foundation.exp(p)), into: rows.row(0).reinterpreted() + column,
                                   rows.row(1).reinterpreted() + column)
                return
            }
            let sp = S(p), threshold = S(Foundation.exp(-p)), scale = S(Foundation.exp(p))
            let r0 = rows.row(0) + column, r1 = rows.row(1) + column
            for k in 0..<m {
                let v = g[k], a = abs(v)
                if a >= threshold {
                    r0[k] = S.log(a) / sp
                    r1[k] = v > 0 ? 1 : (v < 0 ? -1 : 0)
                } else {
                    r0[k] = -1
                    r1[k] = scale * v
                }
            }
        }
    }

    /// dL/dg given dL/dx (the rows of `dInput` for the same columns): the transpose of the
    /// preprocessing Jacobian. Used by the exact second-order meta-gradient only.
    /// The sign input is piecewise constant, so it contributes nothing.
    @inline(__always)
    func backward<S: MetaScalar>(_ g: UnsafePointer<S>, count m: Int, dInput: MatrixView<S>, column: Int,
                                 into dg: UnsafeMutablePointer<S>) {
        switch self {
        case .raw:
            dg.update(from: dInput.row(0) + column, count: m)
        case .logAndSign(let p):
            let sp = S(p), threshold = S(Foundation.exp(-p)), scale = S(Foundation.exp(p))
            let r0 = dInput.row(0) + column, r1 = dInput.row(1) + column
            for k in 0..<m {
                let v = g[k]
                dg[k] = abs(v) >= threshold ? r0[k] / (sp * v) : scale * r1[k]
            }
        }
    }
}
