internal import CMetaOptKernels

/// dW += X · dZᵀ for the Float path, without BLAS: both operands are feature-major (one row per
/// feature, the tile's columns contiguous), so every output is a dot product along contiguous
/// memory, summed in a register block as a vector — lane l sums the columns ≡ l (mod lane count).
/// Most paths keep that vector of partial sums per output across every tile and step of the
/// backward pass and reduce it once at the end (`reduce`); the AVX2 path sums the lanes of four
/// outputs at a time at the end of each call into one float per output (a few more instructions
/// per block than loading and storing the vectors, but an eighth of the memory, which pays on CPUs
/// with a 512 kB L2). OpenBLAS reaches about 60 GFLOP/s on these
/// products (m = 22 or 40, n = 80, k = 256: small outputs, everything packed per call); this
/// kernel needs no packing and runs at the FMA rate. The order of every sum is fixed, so results
/// are reproducible bit for bit on one kernel path.
struct FloatWeightGradient {
    let kernels: FloatKernels

    /// Floats allocated per output for its partial sums: 16, the widest path's lane count, so the
    /// buffers do not depend on the path (an 8-lane path packs its sums into the first half, the
    /// AVX2 path's one float per output into the first sixteenth).
    static let slot = 16

    /// Whether `accumulate` handles n outputs per row (else the caller uses BLAS).
    static func supports(n: Int) -> Bool { n % 8 == 0 }

    /// Blocks `accumulate` runs for m × n outputs (the path's block rows × block columns each,
    /// the last rows one smaller block).
    func blocks(m: Int, n: Int) -> Int {
        let rows = Int(kernels.table.pointee.block_rows), columns = Int(kernels.table.pointee.block_columns)
        return (n / columns) * ((m + rows - 1) / rows)
    }

    /// acc's output (i, j) += Σ_columns a[i][·] ⊙ b[j][·] (lane-wise; on the AVX2 path its lanes
    /// summed), for i < m, j < n, over `columns` columns of row-major a (m rows, stride lda) and b
    /// (n rows, stride ldb).
    ///
    /// `prefetch` lists memory the caller will read next; `perBlock` of its lines are prefetched
    /// after each block of this compute-bound loop, so that the memory-bound kernels after it
    /// find their BPTT history in L2 instead of waiting for DRAM.
    func accumulate(_ acc: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, lda: Int, m: Int,
                    b: UnsafePointer<Float>, ldb: Int, n: Int, columns: Int,
                    prefetching prefetch: inout metaopt_prefetch, linesPerBlock perBlock: Int) {
        precondition(Self.supports(n: n))
        kernels.table.pointee.weight_gradient_accumulate(acc, a, lda, m, b, ldb, n, columns, &prefetch, perBlock)
    }

    /// g[i·ldg + j] += Σ lanes of output (i, j); then clears acc.
    func reduce(_ acc: UnsafeMutablePointer<Float>, m: Int, n: Int, into g: UnsafeMutablePointer<Float>, ldg: Int) {
        kernels.table.pointee.weight_gradient_reduce(acc, m, n, g, ldg)
    }
}
