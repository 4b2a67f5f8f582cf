/// dW += X · dZᵀ for the Float path, without BLAS: both operands are feature-major (one row per
/// feature, the tile's columns contiguous), so every output is a dot product along contiguous
/// memory. Instead of reducing each dot product at once (a horizontal sum per output, as costly as
/// the products for a 256-column tile), the engine keeps one vector of partial sums per output —
/// lane l sums the columns ≡ l (mod lane count) — across every tile and step of the backward pass,
/// and reduces them once at the end (`reduce`). OpenBLAS reaches about 60 GFLOP/s on these
/// products (m = 22 or 40, n = 80, k = 256: small outputs, everything packed per call); this
/// kernel needs no packing and runs at the FMA rate. The order of every sum is fixed, so results
/// are reproducible bit for bit.
enum FloatWeightGradient {
    typealias V = FastMath.Vector
    static let width = V.scalarCount

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }

    /// Whether `accumulate` handles n outputs per row (else the caller uses BLAS).
    static func supports(n: Int) -> Bool { n % 8 == 0 }

    /// Blocks `accumulate` runs for m × n outputs.
    static func blocks(m: Int, n: Int) -> Int { (n / 8) * ((m + 1) / 2) }

    /// acc[i·n + j] += Σ_columns a[i][·] ⊙ b[j][·] (lane-wise), for i < m, j < n, over `columns`
    /// columns of row-major a (m rows, stride lda) and b (n rows, stride ldb). Lanes past `columns`
    /// in the last vector are masked out.
    ///
    /// `prefetching` lists memory the caller will read next; `perBlock` of its lines are prefetched
    /// after each 2 × 8 block of this compute-bound loop, so that the memory-bound kernels after it
    /// find their BPTT history in L2 instead of waiting for DRAM.
    static func accumulate(_ acc: UnsafeMutablePointer<V>, a: UnsafePointer<Float>, lda: Int, m: Int,
                           b: UnsafePointer<Float>, ldb: Int, n: Int, columns: Int,
                           prefetching prefetch: inout Prefetch.Ranges, linesPerBlock perBlock: Int) {
        precondition(supports(n: n))
        let full = columns / width, rest = columns - full * width
        var mask = V(repeating: 0)
        for l in 0..<rest { mask[l] = 1 }
        // j outer: the 8 rows of b (8 KiB for a 256-column tile) stay in the L1 cache while the
        // rows of a stream past them from L2.
        var j = 0
        while j < n {
            var i = 0
            while i < m {
                let rows = min(2, m - i)
                if rows == 2 {
                    block2x8(acc + i * n + j, n: n, a: a + i * lda, lda: lda, b: b + j * ldb, ldb: ldb, full: full,
                             rest: rest, mask: mask)
                } else {
                    block1x8(acc + i * n + j, a: a + i * lda, b: b + j * ldb, ldb: ldb, full: full, rest: rest, mask: mask)
                }
                prefetch.next(perBlock)
                i += rows
            }
            j += 8
        }
    }

    @inline(__always)
    static func block2x8(_ c: UnsafeMutablePointer<V>, n: Int, a: UnsafePointer<Float>, lda: Int,
                         b: UnsafePointer<Float>, ldb: Int, full: Int, rest: Int, mask: V) {
        let a0 = a, a1 = a + lda
        let b0 = b, b1 = b + ldb, b2 = b + 2 * ldb, b3 = b + 3 * ldb
        let b4 = b + 4 * ldb, b5 = b + 5 * ldb, b6 = b + 6 * ldb, b7 = b + 7 * ldb
        let c0 = c, c1 = c + n
        var s00 = c0[0], s01 = c0[1], s02 = c0[2], s03 = c0[3], s04 = c0[4], s05 = c0[5], s06 = c0[6], s07 = c0[7]
        var s10 = c1[0], s11 = c1[1], s12 = c1[2], s13 = c1[3], s14 = c1[4], s15 = c1[5], s16 = c1[6], s17 = c1[7]
        @inline(__always) func step(_ k: Int, _ m: V?) {
            var x0 = load(a0, k), x1 = load(a1, k)
            if let m {
                x0 *= m
                x1 *= m
            }
            let y0 = load(b0, k), y1 = load(b1, k), y2 = load(b2, k), y3 = load(b3, k)
            s00 = s00.addingProduct(x0, y0); s10 = s10.addingProduct(x1, y0)
            s01 = s01.addingProduct(x0, y1); s11 = s11.addingProduct(x1, y1)
            s02 = s02.addingProduct(x0, y2); s12 = s12.addingProduct(x1, y2)
            s03 = s03.addingProduct(x0, y3); s13 = s13.addingProduct(x1, y3)
            let y4 = load(b4, k), y5 = load(b5, k), y6 = load(b6, k), y7 = load(b7, k)
            s04 = s04.addingProduct(x0, y4); s14 = s14.addingProduct(x1, y4)
            s05 = s05.addingProduct(x0, y5); s15 = s15.addingProduct(x1, y5)
            s06 = s06.addingProduct(x0, y6); s16 = s16.addingProduct(x1, y6)
            s07 = s07.addingProduct(x0, y7); s17 = s17.addingProduct(x1, y7)
        }
        for v in 0..<full { step(v * width, nil) }
        if rest > 0 { step(full * width, mask) }
        c0[0] = s00; c0[1] = s01; c0[2] = s02; c0[3] = s03; c0[4] = s04; c0[5] = s05; c0[6] = s06; c0[7] = s07
        c1[0] = s10; c1[1] = s11; c1[2] = s12; c1[3] = s13; c1[4] = s14; c1[5] = s15; c1[6] = s16; c1[7] = s17
    }

    @inline(__always)
    static func block1x8(_ c: UnsafeMutablePointer<V>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                         full: Int, rest: Int, mask: V) {
        var s = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7])
        @inline(__always) func step(_ k: Int, _ m: V?) {
            var x = load(a, k)
            if let m { x *= m }
            s.0 = s.0.addingProduct(x, load(b, k))
            s.1 = s.1.addingProduct(x, load(b + ldb, k))
            s.2 = s.2.addingProduct(x, load(b + 2 * ldb, k))
            s.3 = s.3.addingProduct(x, load(b + 3 * ldb, k))
            s.4 = s.4.addingProduct(x, load(b + 4 * ldb, k))
            s.5 = s.5.addingProduct(x, load(b + 5 * ldb, k))
            s.6 = s.6.addingProduct(x, load(b + 6 * ldb, k))
            s.7 = s.7.addingProduct(x, load(b + 7 * ldb, k))
        }
        for v in 0..<full { step(v * width, nil) }
        if rest > 0 { step(full * width, mask) }
        c[0] = s.0; c[1] = s.1; c[2] = s.2; c[3] = s.3; c[4] = s.4; c[5] = s.5; c[6] = s.6; c[7] = s.7
    }

    /// g[i·ldg + j] += Σ lanes of acc[i·n + j]; then clears acc.
    static func reduce(_ acc: UnsafeMutablePointer<V>, m: Int, n: Int, into g: UnsafeMutablePointer<Float>, ldg: Int) {
        for i in 0..<m {
            for j in 0..<n {
                g[i * ldg + j] += acc[i * n + j].sum()
                acc[i * n + j] = V(repeating: 0)
            }
        }
    }
}
