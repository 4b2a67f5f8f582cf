import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes result files so that a reader never sees a half-written file (as
/// `FileIO.replaceDurably` writes a checkpoint: a temporary file in the target's directory,
/// flushed to disk and renamed over the target, then the directory flushed, best effort).
/// Missing parent directories are created. A failed write leaves the old file untouched and no
/// temporary file behind; a successful one removes those that killed writes of the same files left.
package enum ResultFile {
    package static func writeAtomically(_ data: Data, to url: URL) throws {
        try writeAllAtomically([(data, url)])
    }

    /// Writes every file or none of them (an evaluation's report, table and plot belong
    /// together): each into a temporary file beside it, and only when all are written, each
    /// renamed over its target. A failure while writing (a full disk) removes the temporary
    /// files and leaves the targets as they were; only a failing rename, once every byte is on
    /// disk, could leave new files beside old ones.
    package static func writeAllAtomically(_ files: [(data: Data, url: URL)]) throws {
        try writeAllAtomically(files.map { file in (url: file.url, make: { file.data }) })
    }

    /// `writeAllAtomically`, each file's bytes made by its `make` only when its turn comes and
    /// let go once they are on disk: an evaluation's report and table of a million steps are
    /// hundreds of megabytes each, which the process held all at once.
    package static func writeAllAtomically(_ files: [(url: URL, make: () throws -> Data)]) throws {
        var staged: [(temporary: String, target: String)] = []
        do {
            for file in files {
                let path = try FileIO.filePath(file.url)
                try createDirectory(of: file.url)
                // A link's target is replaced, not the link (FileIO.writeTarget).
                let target: String
                do { target = try FileIO.writeTarget(path) } catch let error as CheckpointError {
                    throw resultError(error, target: path)
                }
                let temporary = temporaryURL(for: FilePaths.url(target)).path
                let data = try file.make()
                do { try data.withUnsafeBytes { try FileIO.writeNewFileDurably(temporary, $0, replacing: target) } } catch let error as CheckpointError {
                    throw resultError(error, target: target)  // the file removed
                }
                staged.append((temporary, target))
            }
        } catch {
            for file in staged { try? FileIO.remove(file.temporary) }
            throw error
        }
        for (index, file) in staged.enumerated() {
            do { try FileIO.move(file.temporary, file.target) } catch let error as CheckpointError {
                for rest in staged[index...] { try? FileIO.remove(rest.temporary) }
                throw resultError(error, target: file.target)
            }
        }
        for directory in Set(staged.map { FileIO.parent(of: $0.target) }) { try? FileIO.syncDirectory(directory) }
        // What a killed earlier write of these files left beside them (an evaluation's --out,
        // an export's --output): nothing else removes it. Only after a while: a writer on
        // another host (plot RUN_DIR on a login node, while the run redraws plot.svg) may be
        // writing one now, and no write takes that long.
        for (directory, targets) in Dictionary(grouping: staged.map(\.target), by: FileIO.parent(of:)) {
            _ = FileIO.removeStaleTemporaries(in: directory, of: targets.map(FileIO.baseName), olderThan: staleTemporaryAge)
        }
    }

    /// Seconds after its last change that a temporary file of a dead process is taken for left
    /// over (`writeAllAtomically`).
    static let staleTemporaryAge: Double = 600

    private static func createDirectory(of url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            // Foundation says "a file with the same name already exists" without naming it; the
            // start-up check names the file in the way (or the permission missing).
            try FileIO.checkWritable(url.path)
            throw error
        }
    }

    private static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(FileIO.temporaryName(
            for: url.lastPathComponent, suffix: FileIO.temporarySuffix()))
    }

    /// An I/O failure while writing `target`'s temporary file or renaming it over `target`, named
    /// for the user by `target`: the temporary file is removed by then.
    private static func resultError(_ error: CheckpointError, target: String) -> any Error {
        guard case let .io(operation, code) = error.problem else { return error }
        let what: String
        switch operation {
        case "create", "write", "fsync", "close": what = "cannot write \(target)"
        case _ where operation.hasPrefix("rename"): what = "cannot write \(target) (renaming the new file over it failed)"
        default: what = "cannot \(operation) \(error.file)"
        }
        return ResultFileError.system(what, code)
    }

    /// Checks, before the work that produces the file, that `writeAtomically(_:to:)` will be able
    /// to write `url` (`FileIO.checkWritable`: a regular file or missing, in a writable
    /// directory, with a name that fits); creates nothing.
    package static func checkWritable(_ url: URL) throws {
        try FileIO.checkWritable(FileIO.filePath(url))
    }

    package static func writeAtomically(_ text: String, to url: URL) throws {
        try writeAtomically(Data(text.utf8), to: url)
    }

    /// Removes `url` when it is a regular file: an output that an earlier run wrote into the same
    /// directory and this run does not (it would be read as this run's). Anything else there (a
    /// link, a directory) is left alone. Returns whether a file was removed.
    package static func removeLeftover(_ url: URL) throws -> Bool {
        var st = stat()
        guard lstat(url.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        guard unlink(url.path) == 0 else { throw ResultFileError.system("cannot remove \(url.path)", errno) }
        return true
    }
}

package enum ResultFileError: Error, CustomStringConvertible {
    case system(String, Int32)
    package var description: String {
        switch self {
        case let .system(what, code): return "\(what): \(String(cString: strerror(code)))"
        }
    }
}
