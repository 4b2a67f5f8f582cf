#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reading with errors that name the file.
enum FileBytes {
    /// The raw bytes of the regular file at `path` (`RegularFile.read`: no FIFO, device or
    /// directory, at most `RegularFile.dataFileLimit` bytes).
    static func read(_ path: String) throws(DataError) -> [UInt8] {
        do {
            return try RegularFile.read(path, limit: RegularFile.dataFileLimit)
        } catch .missing {
            throw missing(path)
        } catch {
            switch error {
            case .isDirectory, .notRegular, .tooLarge: throw .notAFile(path: path, reason: error.reason)
            default: throw .unreadable(path: path, reason: error.reason)
            }
        }
    }

    /// The file's bytes, decompressed when they start with the gzip magic 1f 8b.
    static func readMaybeGzipped(_ path: String) throws(DataError) -> [UInt8] {
        let raw = try read(path)
        if Gzip.hasMagic(raw) { return try Gzip.decompress(raw, path: path) }
        return raw
    }

    /// The error for a file at `path` that is not there: its directory, where that is missing or
    /// exists but is no directory (a --data-dir with a typo, or naming a file: both said "no such
    /// file" of a file in it before), else the file.
    /// A name the system cannot look up (too long, a loop of links, no permission) is named with
    /// the reason instead (a --data-dir of 300 characters said "no such file").
    static func missing(_ path: String) -> DataError {
        if let reason = FileIO.lookupFailure(path) { return .unreadable(path: path, reason: reason) }
        var info = stat()
        let directory = FileIO.parent(of: path)
        if stat(directory, &info) != 0 {
            return errno == ENOENT ? .missingDirectory(path: directory) : .missingFile(path: path)
        }
        if info.st_mode & S_IFMT != S_IFDIR { return .notADirectory(path: directory) }
        return .missingFile(path: path)
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}
