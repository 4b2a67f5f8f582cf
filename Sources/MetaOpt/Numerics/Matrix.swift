/// A row-major matrix in memory owned by its `Workspace`; allocated once, reused every step.
struct MatrixView<S: MetaScalar> {
    let base: UnsafeMutablePointer<S>
    let rows: Int
    let columns: Int

    func row(_ r: Int) -> UnsafeMutablePointer<S> { base + r * columns }
    var count: Int { rows * columns }
    func zero() { base.update(repeating: 0, count: count) }
    /// Rows `start..<start+count` as a matrix of their own.
    func rows(_ start: Int, _ count: Int) -> MatrixView {
        MatrixView(base: base + start * columns, rows: count, columns: columns)
    }
}

/// Owns every buffer of one engine; freed together when the engine goes away.
final class Workspace<S: MetaScalar> {
    private var allocations: [UnsafeMutablePointer<S>] = []
    private(set) var allocatedScalars = 0

    init() {}

    func matrix(_ rows: Int, _ columns: Int) -> MatrixView<S> {
        let count = max(rows * columns, 1)
        let p = UnsafeMutablePointer<S>.allocate(capacity: count)
        p.initialize(repeating: 0, count: count)
        allocations.append(p)
        allocatedScalars += count
        return MatrixView(base: p, rows: rows, columns: columns)
    }

    func vector(_ count: Int) -> MatrixView<S> { matrix(1, count) }

    deinit {
        for p in allocations { p.deallocate() }
    }
}
