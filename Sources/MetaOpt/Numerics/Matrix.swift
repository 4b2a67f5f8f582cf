#if canImport(Glibc)
import Glibc
#endif

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
    /// Columns `range` of every row as a matrix of their own (same stride).
    @inline(__always) func slice(_ range: Range<Int>) -> MatrixView {
        MatrixView(base: base + range.lowerBound, rows: rows, columns: range.count, stride: stride)
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

/// A rows × columns matrix stored tile by tile: tile i holds columns i·W ..< min((i+1)·W, columns)
/// as a rows × W block (row stride `rowStride`: W, padded where rows would share cache sets), the
/// blocks one after the other. A tile's rows then lie in one run of memory (a line of padding
/// between rows at most), which the hardware prefetchers follow, and its matrix products see
/// small operands that stay in cache.
struct TiledMatrix<S> {
    let base: UnsafeMutablePointer<S>
    let rows: Int
    let columns: Int
    let tileWidth: Int

    /// Row stride of a tile block.
    var rowStride: Int { Self.rowStride(tileWidth) }

    /// `tileWidth`, plus 16 scalars where it is a multiple of 64. At the default 256 Floats a row
    /// is 1 KiB, and rows 1 KiB apart fall into 4 of a 32 KiB 8-way L1's 64 sets: the 80 gate rows
    /// a product writes and the rows of X it reads then evict each other. At 272 (17 lines) the
    /// rows of a block spread over every set; the quadratic meta-iteration took 0.96 of its time on
    /// Zen 3, for 6 % more memory (docs/performance-log.md, "Tile rows that do not share cache
    /// sets"). Only the layout changes: every sum keeps its order, so results keep their bits.
    static func rowStride(_ tileWidth: Int) -> Int { tileWidth % 64 == 0 ? tileWidth + 16 : tileWidth }

    /// Scalars per tile block.
    var tileSpan: Int { rows * rowStride }

    @inline(__always) func tile(_ i: Int) -> MatrixView<S> {
        MatrixView(base: base + i * tileSpan, rows: rows, columns: Swift.min(tileWidth, columns - i * tileWidth),
                   stride: rowStride)
    }
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

    /// Where buffers of zero rows point (never read or written): a forward-only engine's
    /// backward buffers, which it does not allocate.
    private static var absentBase: UnsafeMutablePointer<S> { UnsafeMutablePointer(bitPattern: 64)! }

    /// `rows` 0: an absent buffer (nothing allocated).
    func matrix(_ rows: Int, _ columns: Int) -> MatrixView<S> {
        let stride = Workspace.stride(for: columns)
        if rows == 0 { return MatrixView(base: Self.absentBase, rows: 0, columns: columns, stride: stride) }
        let p = allocate(max(rows, 1) * stride)
        return MatrixView(base: p, rows: rows, columns: columns, stride: stride)
    }

    func vector(_ count: Int) -> MatrixView<S> { matrix(1, count) }

    /// `tileWidth` must be a multiple of 16 (every block row then starts on a 64-byte boundary);
    /// `rows` 0: an absent buffer (nothing allocated).
    func tiled(_ rows: Int, _ columns: Int, tileWidth: Int) -> TiledMatrix<S> {
        tiledSeries(1, rows: rows, columns, tileWidth: tileWidth)[0]
    }

    /// `count` tiled matrices of one shape in one buffer, one after the other (a history series:
    /// one per step), so that huge pages cover the series whole rather than each step's first
    /// whole 2 MiB only (a layer's c is 1.3 MB per step for the MLP: alone, it would get none).
    /// `rows` 0: absent buffers (nothing allocated).
    func tiledSeries(_ count: Int, rows: Int, _ columns: Int, tileWidth: Int) -> [TiledMatrix<S>] {
        precondition(tileWidth % 16 == 0)
        guard count > 0 else { return [] }
        guard rows > 0 else {
            return Array(repeating: TiledMatrix(base: Self.absentBase, rows: 0, columns: columns, tileWidth: tileWidth),
                         count: count)
        }
        let span = rows * TiledMatrix<S>.rowStride(tileWidth) * max((columns + tileWidth - 1) / tileWidth, 1)
        let p = allocate(count * span)
        return (0..<count).map { TiledMatrix(base: p + $0 * span, rows: rows, columns: columns, tileWidth: tileWidth) }
    }

    /// Buffers of at least this many bytes start on a 2 MiB boundary and ask Linux for transparent
    /// huge pages (`madvise(MADV_HUGEPAGE)`, which systems whose THP setting is `madvise`, Debian's
    /// default, need): the BPTT history streams through these buffers every step, and with 4 KiB
    /// pages the hardware prefetchers stop at every page boundary and the TLB misses. The MLP
    /// meta-iteration took 0.96 of its time (docs/performance-log.md, "Zen 5"), the same bits and the
    /// same peak RSS. Where the call fails or THP is off, the buffer keeps 4 KiB pages.
    static var hugePageBytes: Int { 1 << 21 }

    /// `count` zeroed scalars, 64-byte aligned (2 MiB and huge pages from `hugePageBytes` up).
    private func allocate(_ count: Int) -> UnsafeMutablePointer<S> {
        let bytes = count * MemoryLayout<S>.stride, huge = bytes >= Self.hugePageBytes
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: huge ? Self.hugePageBytes : 64)
        #if os(Linux)
        if huge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }  // advice only: a failure leaves 4 KiB pages
        #endif
        let p = raw.bindMemory(to: S.self, capacity: count)
        p.initialize(repeating: 0, count: count)
        allocations.append(raw)
        allocatedScalars += count
        return p
    }

    deinit {
        for p in allocations { p.deallocate() }
    }
}
