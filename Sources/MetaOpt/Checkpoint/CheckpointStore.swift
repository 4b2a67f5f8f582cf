import Foundation

/// A directory of checkpoint files `ckpt-<step, 10 digits>.mopt`, written atomically and durably,
/// keeping the newest `keep`. One writer per directory (rank 0 of one run); the caller decides who
/// writes. See docs/checkpoints.md for the protocol and its guarantees.
package struct CheckpointStore: Sendable {
    package static let filePrefix = "ckpt-"
    package static let fileExtension = "mopt"
    package static let stepDigits = 10

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
        /// Problems after the checkpoint was durable (a file that could not be removed); the
        /// checkpoint itself is fine.
        package var warnings: [String]
    }

    /// "ckpt-0000000042.mopt".
    package static func fileName(step: Int) -> String {
        precondition(step >= 0)
        let digits = String(step)
        return filePrefix + String(repeating: "0", count: max(0, stepDigits - digits.count)) + digits
            + "." + fileExtension
    }

    /// The step of a checkpoint file name ("ckpt-" digits ".mopt", any number of digits), else nil.
    package static func step(fromFileName name: String) -> Int? {
        guard name.hasPrefix(filePrefix), name.hasSuffix("." + fileExtension) else { return nil }
        let digits = name.dropFirst(filePrefix.count).dropLast(fileExtension.count + 1)
        guard (1...18).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
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

    /// Writes `checkpoint` as `ckpt-<step>.mopt`: encode, write a temporary file in the same
    /// directory, fsync it, rename it over the final name, fsync the directory; then remove older
    /// checkpoints beyond the newest `keep` and leftover temporary files. Creates the directory if
    /// needed. `step` must equal `checkpoint.metadata.metaStep`. Checkpoints with a higher step than
    /// `step` are left alone. When this returns, the checkpoint is durable.
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
        try FileIO.replaceDurably(final.path, with: bytes, temporary: temporary.path)

        var result = WriteResult(url: final, removed: [], warnings: [])
        do {
            let older = try checkpointFiles().filter { $0.step < step }
            let doomed = older.dropLast(keep - 1).map(\.url) + (try temporaryFiles())
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
    /// does each leftover temporary file (which is never loaded). Returns nil when there is no
    /// checkpoint file at all (or no directory); throws `noUsableCheckpoint`, listing every file
    /// and why it was rejected, when there are files but none loads.
    package func loadLatest<Configuration>(_ configuration: Configuration.Type = Configuration.self) throws
        -> (checkpoint: Checkpoint<Configuration>, url: URL, warnings: [String])?
    {
        var warnings = try temporaryFiles().map {
            "ignored leftover temporary file \($0.path) (from an interrupted write; the next write removes it)"
        }
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
