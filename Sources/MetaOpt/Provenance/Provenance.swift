import Foundation
internal import MetaOptBuildInfo

/// Which build of metaopt-dist, started how and on which vector kernels, wrote a file. `train`
/// and `evaluate` put it into everything they write (the optimizer files, the first line each
/// process appends to metrics.jsonl, checkpoint notes, report.json, export's output), so that a
/// result names the program that made it. Encoded as a JSON object with the keys below (sorted).
public struct Provenance: Codable, Equatable, Sendable {
    /// metaopt-dist's version: the VERSION file of the build, e.g. "0.1.0".
    public var version: String
    /// The git commit the build came from (40 hex digits), followed by "+dirty" when the work tree
    /// held changes that commit does not have; nil (the key omitted) when the build did not come
    /// from a git work tree.
    public var commit: String?
    /// The process's command line as its argument array, exactly as started (before `--recipe` or
    /// `--config` are expanded), the program by its file name only: its directory would name a
    /// path of the machine that ran it, which files meant to be shared should not carry.
    public var command: [String]
    /// The vector kernels that ran (`KernelCensus`: "avx512", or "avx512:2,avx2:1" on a mixed job).
    public var kernels: String
    /// OpenBLAS's kernels (the core type it runs, "Cooperlake"; "mixed (rank 0: Cooperlake)" when
    /// ranks differ): the MLP's and the CNN's own products run on them, and their rounding decides
    /// those tasks' φ in its last bits as the kernel path does. nil (the key omitted) in files
    /// written before it was recorded.
    public var blas: String?

    public init(version: String, commit: String?, command: [String], kernels: String, blas: String? = nil) {
        self.version = version
        self.commit = commit
        self.command = command
        self.kernels = kernels
        self.blas = blas
    }

    /// This process: this build's version and commit and its command line (`CommandLine.arguments`,
    /// the program by its file name); `blas` this process's OpenBLAS kernels unless given (a job's
    /// record of every rank's, `MetaTrainer.blasKernels`).
    public static func current(kernels: String, blas: String? = nil, command: [String] = CommandLine.arguments) -> Provenance {
        var command = command
        if let program = command.first { command[0] = URL(fileURLWithPath: program).lastPathComponent }
        return Provenance(version: buildVersion, commit: buildCommit, command: command, kernels: kernels,
                          blas: blas ?? blasCoreName)
    }

    /// The VERSION file this library was built with.
    public static var buildVersion: String { BuildInfo.version }
    /// The git commit this library was built from ("+dirty" when its work tree differed), nil when
    /// it was not built from a git work tree.
    static var buildCommit: String? { BuildInfo.commit }

    /// The command line as one string a POSIX shell reads back as `command`: arguments made only of
    /// safe characters as they are, others in single quotes.
    public var commandLine: String {
        command.map(shellQuoted).joined(separator: " ")
    }

    /// The checkpoint notes form (string values): version, commit (when known), command (as
    /// `commandLine`), kernels and OpenBLAS's kernels (when known).
    public var notes: [String: String] {
        var notes = ["version": version, "command": commandLine, "kernels": kernels]
        notes["commit"] = commit
        notes["blas"] = blas
        return notes
    }

    /// This build as a job's ranks compare it (`Communicator.differingBuilds`): "0.1.0 (commit
    /// <40 digits>)", "+dirty" kept, or "(commit unknown)" for a build from no git work tree.
    package static var buildIdentity: String {
        "\(buildVersion) (commit \(buildCommit ?? "unknown"))"
    }

    /// `metaopt-dist --version`: "0.1.0 (commit 1a2b3c4d5e6f, kernels avx512)", the commit shortened
    /// to 12 digits (its "+dirty" kept), or "commit unknown".
    public static func versionLine(kernels: String) -> String {
        let commit = buildCommit.map { hash in
            let digits = hash.prefix { $0 != "+" }
            return String(digits.prefix(12)) + hash.dropFirst(digits.count)
        } ?? "unknown"
        return "\(buildVersion) (commit \(commit), kernels \(kernels))"
    }
}
