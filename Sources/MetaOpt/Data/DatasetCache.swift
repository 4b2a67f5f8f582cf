import Foundation

/// Loaded data sets, kept once per process: every task of a rank (and every family built from the
/// same files) shares one copy of the pixels. Keyed by loader, resolved file paths and split.
final class DatasetCache: @unchecked Sendable {
    static let shared = DatasetCache()

    private let lock = NSLock()
    private var entries: [String: ImageDataset] = [:]

    /// The cached data set for `key`, loading it with `load` on first use. The lock is held while
    /// loading, so concurrent first requests load the files once.
    func dataset(forKey key: String, load: () throws(DataError) -> ImageDataset) throws(DataError) -> ImageDataset {
        lock.lock()
        defer { lock.unlock() }
        if let cached = entries[key] { return cached }
        let loaded = try load()
        entries[key] = loaded
        return loaded
    }

    /// The data set cached under `key`, without loading it.
    func cached(forKey key: String) -> ImageDataset? {
        lock.lock()
        defer { lock.unlock() }
        return entries[key]
    }

    /// Number of cached data sets.
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }

    /// Drops every cached data set (the arrays stay alive while tasks still hold them).
    func removeAll() {
        lock.lock()
        entries.removeAll()
        lock.unlock()
    }
}
