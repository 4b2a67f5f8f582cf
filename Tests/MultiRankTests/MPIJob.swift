import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a finished (or killed) job left behind.
struct MPIJobResult: CustomStringConvertible {
    /// Exit status of mpirun (or of the binary for a singleton); 128 + signal number when a
    /// signal ended it.
    var status: Int32
    /// Everything written to standard output (mpirun merges all ranks).
    var stdout: String
    /// Everything written to standard error.
    var stderr: String
    /// Wall-clock seconds from start to exit (or to the kill, on a timeout).
    var seconds: Double
    /// Whether the time limit was reached and the job was killed.
    var timedOut: Bool
    /// Per-rank standard output and error, filled when the job ran with `perRankOutput: true`.
    var rankStdout: [Int: String] = [:]
    var rankStderr: [Int: String] = [:]

    /// The lines of standard output that start with `prefix`.
    func lines(withPrefix prefix: String) -> [String] {
        stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }

    var description: String {
        """
        status \(status)\(timedOut ? " (timed out)" : "") after \(String(format: "%.2f", seconds)) s
        --- stdout ---
        \(stdout)
        --- stderr ---
        \(stderr)
        """
    }
}

/// Errors of the harness itself (not of the job).
struct MPIJobError: Error, CustomStringConvertible {
    var description: String
}

/// Starts `metaopt-dist` under mpirun (or alone, as an MPI singleton) with a time limit.
///
/// Every job gets `OMPI_ALLOW_RUN_AS_ROOT=1`, `OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1` and
/// `OPENBLAS_NUM_THREADS=1` (overridable through `environment`), standard input from /dev/null,
/// and `--oversubscribe` when it asks for more ranks than this machine has cores. On a timeout the
/// whole process tree (mpirun and every rank, which Open MPI puts in process groups of their own)
/// gets SIGTERM, then SIGKILL, and the result says `timedOut`.
enum MPIJob {
    /// `mpirun` on the PATH, or nil.
    static var mpirunPath: String? { findOnPath("mpirun") }

    /// The built `metaopt-dist` binary. Looked for, in order: `$METAOPT_DIST_BINARY`; next to the
    /// running test bundle (the build products folder of the same configuration); in the
    /// package's `.build/debug` and `.build/release` (found from this source file's path).
    static func binaryURL() throws -> URL {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let explicit = ProcessInfo.processInfo.environment["METAOPT_DIST_BINARY"], !explicit.isEmpty {
            candidates.append(URL(fileURLWithPath: explicit))
        }
        // Linux: the test bundle is an executable `<products>/metaopt-distPackageTests.xctest`.
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("metaopt-dist"))
        }
        // macOS: `<products>/metaopt-distPackageTests.xctest/Contents/MacOS/...`; the bundle's parent.
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("metaopt-dist"))
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("metaopt-dist"))
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        for configuration in ["debug", "release"] {
            candidates.append(packageRoot.appendingPathComponent(".build/\(configuration)/metaopt-dist"))
        }
        for candidate in candidates where fm.isExecutableFile(atPath: candidate.path) {
            return candidate.standardizedFileURL
        }
        throw MPIJobError(description: """
            metaopt-dist binary not found (run `swift build` first, or set METAOPT_DIST_BINARY); looked at:
            \(candidates.map(\.path).joined(separator: "\n"))
            """)
    }

    /// Runs `mpirun -np <np> [extraMPIArgs] metaopt-dist <args>`.
    ///
    /// - Parameters:
    ///   - np: number of ranks.
    ///   - args: arguments of metaopt-dist (subcommand first).
    ///   - timeout: seconds before the job is killed (`timedOut` is then true).
    ///   - extraMPIArgs: more mpirun options, placed before the binary.
    ///   - environment: variables added to (or replacing) this process's environment.
    ///   - perRankOutput: also capture each rank's stdout/stderr separately (mpirun's
    ///     `--output-filename`) into `rankStdout`/`rankStderr`.
    ///   - program: what mpirun starts instead of the binary (a wrapper script that execs it).
    static func run(np: Int, args: [String], timeout: TimeInterval = 60, extraMPIArgs: [String] = [],
                    environment: [String: String] = [:], perRankOutput: Bool = false,
                    program: URL? = nil) throws -> MPIJobResult {
        guard let mpirun = mpirunPath else { throw MPIJobError(description: "mpirun not found on PATH") }
        let binary = try program ?? binaryURL()
        var mpiArgs = ["-np", String(np)]
        if np > ProcessInfo.processInfo.activeProcessorCount, !extraMPIArgs.contains("--oversubscribe") {
            mpiArgs.append("--oversubscribe")
        }
        var outputDir: URL?
        if perRankOutput {
            let dir = FileManager.default.temporaryDirectory
                .appendingPathComponent("metaopt-mpijob-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            outputDir = dir
            mpiArgs += ["--output-filename", dir.path]
        }
        defer { if let outputDir { try? FileManager.default.removeItem(at: outputDir) } }
        var result = try runProcess(executable: URL(fileURLWithPath: mpirun),
                                    arguments: mpiArgs + extraMPIArgs + [binary.path] + args,
                                    timeout: timeout, environment: environment)
        if let outputDir {
            (result.rankStdout, result.rankStderr) = readRankOutput(outputDir)
        }
        return result
    }

    /// Runs `metaopt-dist <args>` directly: a singleton MPI job of one rank.
    static func runSingleton(args: [String], timeout: TimeInterval = 60,
                             environment: [String: String] = [:], in directory: URL? = nil) throws -> MPIJobResult {
        try runProcess(executable: try binaryURL(), arguments: args, timeout: timeout, environment: environment, in: directory)
    }

    /// This process's environment plus what every job needs: mpirun allowed as root, one OpenBLAS
    /// thread per rank, no crash backtraces (Swift's handler symbolicates at length, and a test
    /// that crashes a rank needs none); `extra` wins over all of it.
    static func jobEnvironment(_ extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["SWIFT_BACKTRACE"] = env["SWIFT_BACKTRACE"] ?? "enable=no"
        env.merge(extra) { _, new in new }
        return env
    }

    /// Runs any program with the job environment, output captured to files (so processes that
    /// outlive it cannot block the harness), and a time limit.
    static func runProcess(executable: URL, arguments: [String], timeout: TimeInterval,
                           environment: [String: String] = [:], in directory: URL? = nil) throws -> MPIJobResult {
        let fm = FileManager.default
        let scratch = fm.temporaryDirectory.appendingPathComponent("metaopt-mpijob-\(UUID().uuidString)")
        try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        _ = fm.createFile(atPath: outURL.path, contents: nil)
        _ = fm.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer {
            try? outHandle.close()
            try? errHandle.close()
        }

        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.environment = jobEnvironment(environment)
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = outHandle
        process.standardError = errHandle
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }

        let start = Date()
        try process.run()
        let pid = process.processIdentifier
        var timedOut = false
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            killTree(root: pid)
            if exited.wait(timeout: .now() + 10) == .timedOut {
                throw MPIJobError(description: "process \(pid) survived SIGKILL")
            }
        }
        let seconds = Date().timeIntervalSince(start)
        process.waitUntilExit()
        let status: Int32 = process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
        let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return MPIJobResult(status: status, stdout: stdout, stderr: stderr, seconds: seconds, timedOut: timedOut)
    }

    // MARK: Private

    private static func findOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Reads `<dir>/<job>/rank.N/{stdout,stderr}` as written by mpirun's `--output-filename`.
    private static func readRankOutput(_ dir: URL) -> ([Int: String], [Int: String]) {
        var out: [Int: String] = [:], err: [Int: String] = [:]
        guard let walker = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else {
            return (out, err)
        }
        for case let url as URL in walker {
            let parent = url.deletingLastPathComponent().lastPathComponent
            guard parent.hasPrefix("rank."), let rank = Int(parent.dropFirst(5)) else { continue }
            let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
            switch url.lastPathComponent {
            case "stdout": out[rank] = text
            case "stderr": err[rank] = text
            default: break
            }
        }
        return (out, err)
    }

    /// Every process whose ancestry leads to `root` (found through /proc), `root` excluded.
    static func descendants(of root: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // Fields after "(comm)": state ppid ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let ppid = pid_t(fields[1]) { children[ppid, default: []].append(pid) }
        }
        var result: [pid_t] = []
        var stack = [root]
        while let pid = stack.popLast() {
            for child in children[pid] ?? [] {
                result.append(child)
                stack.append(child)
            }
        }
        return result
    }

    /// SIGTERM to `root` (mpirun then ends its ranks), SIGKILL to whatever of the tree is left.
    private static func killTree(root: pid_t) {
        let tree = descendants(of: root)
        kill(root, SIGTERM)
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline, kill(root, 0) == 0 || tree.contains(where: { kill($0, 0) == 0 }) {
            // A zombie `root` still answers kill(0); the termination handler reaps it.
            usleep(50_000)
            if tree.allSatisfy({ kill($0, 0) != 0 }) { break }
        }
        for pid in tree { kill(pid, SIGKILL) }
        kill(-root, SIGKILL)  // Foundation starts the child in a process group of its own
        kill(root, SIGKILL)
    }
}
