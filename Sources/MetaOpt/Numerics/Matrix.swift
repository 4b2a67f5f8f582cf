/// A row-major matrix in memory owned by its `Workspace`; allocated once, reused every step.
///
/// Rows are `stride` scalars apart, `stride` ≥ `columns` rounded up so that every row starts on a
/// 64-byte boundary (the vector kernels read whole 16-lane vectors, padding included). Matrix
/// products use `columns` and the stride as leading dimension, so the padding never enters one.
struct MatrixView<S> {
    let base: UnsafeMutablePointer<S>
    let rows: Int
    let columns: Int
    let stride: Int

    init(base: UnsafeMutablePointer<S>, rows: Int, columns: Int, stride: Int) {
        self.base = base
        self.rows = rows
        self.columns = columns
        self.stride = stride
    }

    @inline(__always) func row(_ r: Int) -> UnsafeMutablePointer<S> { base + r * stride }
    /// Scalars from the first to one past the last row, padding included.
    var span: Int { rows * stride }
    /// Rows `start..<start+count` as a matrix of their own.
    @inline(__always) func rows(_ start: Int, _ count: Int) -> MatrixView {
        MatrixView(base: base + start * stride, rows: count, columns: columns, stride: stride)
    }
    /// The same memory seen as another scalar type of the same size (the Float fast path).
    @inline(__always) func reinterpreted<T>(as: T.Type = T.self) -> MatrixView<T> {
        precondition(MemoryLayout<T>.stride == MemoryLayout<S>.stride)
        return MatrixView<T>(base: UnsafeMutableRawPointer(base).assumingMemoryBound(to: T.self), rows: rows,
                             columns: columns, stride: stride)
    }
}

extension MatrixView where S: BinaryFloatingPoint {
    /// Sets every scalar, padding included, to zero.
    func zero() { base.update(repeating: 0, count: span) }
}

/// Owns every buffer of one engine; freed together when the engine goes away.
final class Workspace<S: MetaScalar> {
    private var allocations: [UnsafeMutableRawPointer] = []
    private(set) var allocatedScalars = 0

    init() {}

    /// Row stride for `columns` columns: a multiple of 16 scalars (64 bytes for Float), plus 16 when
    /// that would be a multiple of 1,024 (4 KiB for Float: rows at such strides share cache sets).
    static func stride(for columns: Int) -> Int {
        var s = (max(columns, 1) + 15) / 16 * 16
        if s % 1024 == 0 { s += 16 }
        return s
    }

    func matrix(_ rows: Int, _ columns: Int) -> MatrixView<S> {
        let stride = Workspace.stride(for: columns)
        let count = max(rows, 1) * stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<S>.stride, alignment: 64)
        let p = raw.bindMemory(to: S.self, capacity: count)
        p.initialize(repeating: 0, count: count)
        allocations.append(raw)
        allocatedScalars += count
        return MatrixView(base: p, rows: rows, columns: columns, stride: stride)
    }

    func vector(_ count: Int) -> MatrixView<S> { matrix(1, count) }

    deinit {
        for p in allocations { p.deallocate() }
    }
}
