import Foundation

extension InputPreprocessing {
    /// Writes the LSTM input rows for gradient values `g` (count m) into `rows` (inputCount × …),
    /// columns `column..<column+m`.
    @inline(__always)
    func apply<S: MetaScalar>(_ g: UnsafePointer<S>, count m: Int, into rows: MatrixView<S>, column: Int) {
        switch self {
        case .raw:
            (rows.row(0) + column).update(from: g, count: m)
        case .logAndSign(let p):
            if S.self == Float.self {
                FloatPreprocessing.logAndSign(g.reinterpreted(), count: m, p: p, into: rows.row(0).reinterpreted() + column,
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

/// The Appendix-A preprocessing on a vector of coordinates at a time, with `FastMath.log`.
enum FloatPreprocessing {
    typealias V = FastMath.Vector

    static func logAndSign(_ g: UnsafePointer<Float>, count m: Int, p: Double,
                           into r0: UnsafeMutablePointer<Float>, _ r1: UnsafeMutablePointer<Float>) {
        let sp = V(repeating: Float(p)), threshold = V(repeating: Float(Foundation.exp(-p)))
        let scale = V(repeating: Float(Foundation.exp(p)))
        @inline(__always) func compute(_ v: V) -> (V, V) {
            let a = FastMath.abs(v)
            let big = a .>= threshold
            let sign = V(repeating: 0).replacing(with: 1, where: v .> 0).replacing(with: -1, where: v .< 0)
            let x0 = V(repeating: -1).replacing(with: FastMath.log(a) / sp, where: big)
            let x1 = (scale * v).replacing(with: sign, where: big)
            return (x0, x1)
        }
        var k = 0
        while k + V.scalarCount <= m {
            let (x0, x1) = compute(UnsafeRawPointer(g + k).loadUnaligned(as: V.self))
            UnsafeMutableRawPointer(r0 + k).storeBytes(of: x0, as: V.self)
            UnsafeMutableRawPointer(r1 + k).storeBytes(of: x1, as: V.self)
            k += V.scalarCount
        }
        if k < m {
            var v = V(repeating: 0)
            for l in 0..<(m - k) { v[l] = g[k + l] }
            let (x0, x1) = compute(v)
            for l in 0..<(m - k) {
                r0[k + l] = x0[l]
                r1[k + l] = x1[l]
            }
        }
    }
}
