import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A directory of checkpoint files `ckpt-<step, 10 digits>.mopt`, written atomically and durably,
/// keeping the newest `keep`. One writer per directory (rank 0 of one run); the caller decides who
/// writes. See docs/checkpoints.md for the protocol and its guarantees.
package struct CheckpointStore: Sendable {
    package static let filePrefix = "ckpt-"
    package static let fileExtension = "mopt"
    package static let stepDigits = 10
    /// The most digits a step in a file name may have (every step below 10^18 fits in an Int).
    package static let maximumStepDigits = 18

    package let directory: URL
    /// How many checkpoints `write` keeps (the one it wrote and the newest older ones). At least 1.
    package let keep: Int

    package init(directory: URL, keep: Int = 3) {
        precondition(keep >= 1, "a checkpoint store must keep at least one checkpoint")
        self.directory = directory
        self.keep = keep
    }

    /// What `write` did.
    package struct WriteResult: Sendable {
        /// The checkpoint file written.
        package var url: URL
        /// Older checkpoints pruned and leftover temporary files removed.
        package var removed: [URL]
        /// Problems after the checkpoint was durable (a file that could not be removed, a
        /// directory named like a checkpoint left alone); the checkpoint itself is fine. Pruning
        /// repeats them at every write: a caller that writes many checkpoints reports each once.
        package var warnings: [String]
    }

    /// "ckpt-0000000042.mopt".
    package static func fileName(step: Int) -> String {
        precondition(step >= 0)
        let digits = String(step)
        return filePrefix + String(repeating: "0", count: max(0, stepDigits - digits.count)) + digits
            + "." + fileExtension
    }

    /// The step of a checkpoint file name ("ckpt-" digits ".mopt", 1 to `maximumStepDigits`
    /// digits), else nil.
    package static func step(fromFileName name: String) -> Int? {
        guard let digits = stepDigits(ofFileName: name), digits.count <= maximumStepDigits else { return nil }
        return Int(digits)
    }

    /// The digits of a name "ckpt-" digits ".mopt", however many; nil for any other name.
    static func stepDigits(ofFileName name: String) -> Substring? {
        guard name.hasPrefix(filePrefix), name.hasSuffix("." + fileExtension) else { return nil }
        let digits = name.dropFirst(filePrefix.count).dropLast(fileExtension.count + 1)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return digits
    }

    /// Temporary files are named ".ckpt-<step>.mopt.<pid>-<random>.tmp": hidden, never a checkpoint name.
    package static func isTemporaryFileName(_ name: String) -> Bool {
        name.hasPrefix("." + filePrefix) && name.hasSuffix(".tmp")
    }

    package func url(step: Int) -> URL { directory.appendingPathComponent(Self.fileName(step: step)) }

    /// Checkpoint files by ascending step (ties by name); empty if the directory does not exist.
    /// Only names are looked at, not contents.
    package func checkpointFiles() throws -> [(step: Int, url: URL)] {
        let names = try FileIO.listDirectory(directory.path) ?? []
        return names.compactMap { name in Self.step(fromFileName: name).map { (step: $0, name: name) } }
            .sorted { ($0.step, $0.name) < ($1.step, $1.name) }
            .map { (step: $0.step, url: directory.appendingPathComponent($0.name)) }
    }

    /// Temporary files left by interrupted writes (never loaded).
    package func temporaryFiles() throws -> [URL] {
        let names = try FileIO.listDirectory(directory.path) ?? []
        return names.filter(Self.isTemporaryFileName).sorted().map { directory.appendingPathComponent($0) }
    }

    /// Names of checkpoints whose step has more than `maximumStepDigits` digits (and may not fit
    /// in an Int): never loaded, never pruned, so that a user's file is not silently taken for
    /// no checkpoint at all (`ignoredFileWarnings`).
    package func unusableCheckpointNames() throws -> [URL] {
        let names = try FileIO.listDirectory(directory.path) ?? []
        return names.filter { Self.stepDigits(ofFileName: $0) != nil && Self.step(fromFileName: $0) == nil }
            .sorted().map { directory.appendingPathComponent($0) }
    }

    /// A warning for each file of the directory that `loadLatest` passes over: leftover temporary
    /// files and checkpoint names with an unusable step (`unusableCheckpointNames`). `loadLatest`
    /// returns them with a checkpoint; a caller that gets nil (no checkpoint) may report them.
    package func ignoredFileWarnings() throws -> [String] {
        let temporary = try temporaryFiles().map {
            "ignored leftover temporary file \($0.path) (from an interrupted write; the next write removes it)"
        }
        let unusable = try unusableCheckpointNames().map { url in
            let digits = Self.stepDigits(ofFileName: url.lastPathComponent)?.count ?? 0
            return "ignored \(url.path): not a usable checkpoint name (its step has \(digits) digits; a step has at most \(Self.maximumStepDigits)); it is neither loaded nor pruned"
        }
        return temporary + unusable
    }

    /// The entries among `urls` that pruning may remove: regular files and symbolic links
    /// (unlinking a link leaves its target alone). A directory, FIFO, socket or device with a
    /// checkpoint's name was made by hand and is no checkpoint: it is never removed, nor counted
    /// towards `keep`, and adds a warning, as does an entry that cannot be examined.
    private func removableFiles(_ urls: [URL], warnings: inout [String]) -> [URL] {
        urls.filter { url in
            var info = stat()
            guard lstat(url.path, &info) == 0 else {
                if errno == ENOENT { return false }  // removed meanwhile: nothing to prune
                warnings.append("could not examine \(FileIO.error(url.path, "lstat")); left it alone")
                return false
            }
            switch info.st_mode & S_IFMT {
            case S_IFREG, S_IFLNK: return true
            default:
                warnings.append("\(url.path) \(FileIO.kind(info.st_mode)), not a checkpoint file: pruning leaves it alone (move it away to silence this)")
                return false
            }
        }
    }

    /// Writes `checkpoint` as `ckpt-<step>.mopt`: encode, write a temporary file in the same
    /// directory, fsync it, rename it over the final name, fsync the directory; then remove older
    /// checkpoints beyond the newest `keep` that load and leftover temporary files (files only:
    /// `removableFiles`; a file among the kept ones that does not load is neither counted nor
    /// removed, one below them is removed unread). Creates the directory if needed. `step` must equal
    /// `checkpoint.metadata.metaStep`. Checkpoints with a higher step than `step` are left alone.
    /// When this returns, the checkpoint is durable.
    @discardableResult
    package func write<Configuration>(_ checkpoint: Checkpoint<Configuration>, step: Int) throws -> WriteResult {
        let dir = directory.path
        guard step >= 0 else {
            throw CheckpointError(file: dir, problem: .invalidArgument("negative step \(step)"))
        }
        guard step == checkpoint.metadata.metaStep else {
            throw CheckpointError(file: url(step: step).path, problem: .stepMismatch(
                "write(step: \(step)) of a checkpoint whose metadata says step \(checkpoint.metadata.metaStep)"))
        }
        let bytes = try checkpoint.encode()
        try FileIO.makeDirectory(dir)

        let final = url(step: step)
        let temporary = directory.appendingPathComponent(
            "." + Self.fileName(step: step) + ".\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp")
        // A link in this step's place is replaced, not followed: a checkpoint of this run is a
        // file of its own, and a link to another run's checkpoint (which loading refused as
        // another step) would otherwise overwrite that run's file.
        try FileIO.replaceDurably(final.path, with: bytes, temporary: temporary.path, replacingLinks: true)

        var result = WriteResult(url: final, removed: [], warnings: [])
        do {
            // Only checkpoints that load count towards `keep` (a damaged file with a newer name
            // kept the usable ones out): from the newest down, files are loaded until keep - 1
            // load; a damaged one among them stays, with a warning, and every file below the last
            // kept one goes unread, damaged or not.
            let older = removableFiles(try checkpointFiles().filter { $0.step < step }.map(\.url), warnings: &result.warnings)
            var kept = 0, cut = 0
            for (index, url) in older.enumerated().reversed() {
                guard kept < keep - 1 else { cut = index + 1; break }
                do {
                    _ = try Self.load(url, as: Configuration.self)
                    kept += 1
                } catch {
                    result.warnings.append("\(url.path) does not load (\(error)): pruning neither counts nor removes it")
                }
            }
            let doomed = older.prefix(cut) + removableFiles(try temporaryFiles(), warnings: &result.warnings)
            for url in doomed {
                do {
                    try FileIO.remove(url.path)
                    result.removed.append(url)
                } catch {
                    result.warnings.append("could not remove \(error)")
                }
            }
        } catch {
            result.warnings.append("could not prune old checkpoints: \(error)")
        }
        return result
    }

    /// The newest checkpoint that loads. Tries files from the highest step down; each rejected newer
    /// file (truncated, corrupt, not a checkpoint, unsupported version, undecodable metadata, file
    /// name and contents disagreeing on the step) adds a warning naming it and the reason, and so
    /// does each file it passes over (`ignoredFileWarnings`: leftover temporary files, which are
    /// never loaded, and checkpoint names whose step has too many digits). Returns nil when there
    /// is no checkpoint file at all (or no directory); throws `noUsableCheckpoint`, listing every
    /// file and why it was rejected, when there are files but none loads.
    package func loadLatest<Configuration>(_ configuration: Configuration.Type = Configuration.self) throws
        -> (checkpoint: Checkpoint<Configuration>, url: URL, warnings: [String])?
    {
        var warnings = try ignoredFileWarnings()
        let files = try checkpointFiles()
        guard !files.isEmpty else { return nil }
        var rejected: [CheckpointError] = []
        for (_, url) in files.reversed() {
            do {
                let checkpoint = try Self.load(url, as: Configuration.self)
                warnings += rejected.map { "skipped \($0.file): \($0.reason); fell back to \(url.path)" }
                return (checkpoint, url, warnings)
            } catch let e as CheckpointError {
                rejected.append(e)
            } catch {
                rejected.append(CheckpointError(file: url.path, problem: .invalidArgument("\(error)")))
            }
        }
        throw CheckpointError(file: directory.path, problem: .noUsableCheckpoint(rejected))
    }

    /// Loads one explicit file. If its name is a checkpoint name ("ckpt-<step>.mopt"), the step in
    /// the name must match the contents.
    package static func load<Configuration>(_ url: URL, as configuration: Configuration.Type = Configuration.self) throws
        -> Checkpoint<Configuration>
    {
        let path = url.path
        let checkpoint = try Checkpoint<Configuration>.decode(try FileIO.readAll(path), source: path)
        if let step = step(fromFileName: url.lastPathComponent), step != checkpoint.metadata.metaStep {
            throw CheckpointError(file: path, problem: .stepMismatch(
                "file name says step \(step), contents say step \(checkpoint.metadata.metaStep)"))
        }
        return checkpoint
    }
}
