import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shared by the fault, restart and resume tests: one small quadratic configuration, run
/// directories, the uninterrupted reference run, reading φ and metrics, corrupting checkpoints,
/// and jobs that keep running while the test signals them.
enum FaultTest {
    /// Meta-steps of the standard job.
    static let iterations = 12
    /// `--checkpoint-every`: with 2 truncations per horizon, checkpoints at meta-steps 4, 8 and 12.
    static let checkpointEvery = 4
    /// Longest any single job may take before the harness kills it.
    static let jobTimeout: TimeInterval = 60
    /// How fast a job with a failing rank must end.
    static let failureDeadline: TimeInterval = 10

    /// `train` with the standard configuration: 8 quadratics in 4 blocks of 2, unroll 5, horizon 10
    /// (2 truncations per horizon), checkpoints every 4 meta-steps, the consistency check every 4.
    static func trainArguments(runDirectory: URL, iterations: Int = iterations, extra: [String] = []) -> [String] {
        ["train", "--meta-batch", "8", "--block-size", "2", "--unroll", "5", "--horizon", "10",
         "--iterations", String(iterations), "--checkpoint-every", String(checkpointEvery),
         "--consistency-every", "4", "--progress-every", "1", "--run-dir", runDirectory.path] + extra
    }

    /// A fresh, empty directory; the caller removes it (`addTeardownBlock`).
    static func makeTemporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("metaopt-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The repository root (for launch/ scripts).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    // MARK: Reading results

    /// φ from `RUN/optimizer.json`, as Float bit patterns (so the comparison is bit for bit).
    static func phiBits(runDirectory: URL) throws -> [UInt32] {
        struct File: Decodable { var phi: [Float]; var iteration: Int }
        let url = runDirectory.appendingPathComponent("optimizer.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw MPIJobError(description: "\(url.path) was not written")
        }
        return try JSONDecoder().decode(File.self, from: data).phi.map(\.bitPattern)
    }

    /// The JSON objects of `RUN/metrics.jsonl`, in file order.
    static func metrics(runDirectory: URL) throws -> [[String: Any]] {
        let url = runDirectory.appendingPathComponent("metrics.jsonl")
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw MPIJobError(description: "metrics line is not an object: \(line)")
            }
            return object
        }
    }

    /// The `iteration` of every metrics line, in file order.
    static func metricIterations(runDirectory: URL) throws -> [Int] {
        try metrics(runDirectory: runDirectory).map { ($0["iteration"] as? NSNumber)?.intValue ?? -1 }
    }

    static func checkpointDirectory(_ runDirectory: URL) -> URL {
        runDirectory.appendingPathComponent("checkpoints")
    }

    /// Checkpoint steps present in `RUN/checkpoints`, ascending (from the file names).
    static func checkpointSteps(runDirectory: URL) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointDirectory(runDirectory).path)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("ckpt-"), name.hasSuffix(".mopt") else { return nil }
            return Int(name.dropFirst(5).dropLast(5))
        }.sorted()
    }

    static func checkpointURL(runDirectory: URL, step: Int) -> URL {
        let digits = String(step)
        return checkpointDirectory(runDirectory)
            .appendingPathComponent("ckpt-" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits + ".mopt")
    }

    /// A counter from a checkpoint's metadata JSON (plain text inside the file).
    static func checkpointCounter(_ url: URL, _ key: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let range = text.range(of: "\"\(key)\"\\s*:\\s*[0-9]+", options: .regularExpression) else { return nil }
        return Int(text[range].split(separator: ":").last!.trimmingCharacters(in: .whitespaces))
    }

    /// The iteration of the log line `resuming from PATH at iteration N`, and PATH.
    static func resumePoint(_ result: MPIJobResult) -> (file: String, iteration: Int)? {
        for line in result.stderr.split(separator: "\n") {
            guard let r = line.range(of: "resuming from ") else { continue }
            let rest = line[r.upperBound...]
            guard let at = rest.range(of: " at iteration ", options: .backwards),
                  let n = Int(rest[at.upperBound...].prefix { $0.isNumber }) else { continue }
            return (String(rest[..<at.lowerBound]), n)
        }
        return nil
    }

    // MARK: The uninterrupted reference

    /// φ and checkpoint files of one uninterrupted 2-rank run of the standard job, computed once
    /// per test process.
    struct Reference: Sendable {
        var phi: [UInt32]
        /// ckpt-4, ckpt-8, ckpt-12: step → file bytes.
        var checkpoints: [Int: Data]
        var seconds: Double
    }

    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var reference: Reference?
    }
    private static let cache = Cache()

    static func reference() throws -> Reference {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let reference = cache.reference { return reference }
        let dir = try makeTemporaryDirectory("reference")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try MPIJob.run(np: 2, args: trainArguments(runDirectory: dir), timeout: jobTimeout)
        guard result.status == 0, !result.timedOut else {
            throw MPIJobError(description: "the uninterrupted reference run failed:\n\(result)")
        }
        var files: [Int: Data] = [:]
        for step in checkpointSteps(runDirectory: dir) {
            files[step] = FileManager.default.contents(atPath: checkpointURL(runDirectory: dir, step: step).path)
        }
        guard files.keys.sorted() == [4, 8, 12] else {
            throw MPIJobError(description: "reference run left checkpoints \(files.keys.sorted()), expected [4, 8, 12]")
        }
        let reference = Reference(phi: try phiBits(runDirectory: dir), checkpoints: files, seconds: result.seconds)
        cache.reference = reference
        return reference
    }

    /// Puts the reference run's checkpoints `steps` into `RUN/checkpoints`.
    static func installReferenceCheckpoints(_ steps: [Int], runDirectory: URL) throws {
        let reference = try reference()
        try FileManager.default.createDirectory(at: checkpointDirectory(runDirectory), withIntermediateDirectories: true)
        for step in steps {
            try reference.checkpoints[step]!.write(to: checkpointURL(runDirectory: runDirectory, step: step))
        }
    }

    // MARK: Processes

    /// The command line of `pid` (empty if it is gone).
    static func commandLine(_ pid: pid_t) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// A job started in the background, for tests that signal it while it runs.
final class BackgroundJob {
    let process = Process()
    private let scratch: URL
    private let outURL: URL, errURL: URL
    private let exited = DispatchSemaphore(value: 0)
    private var finished = false
    let start = Date()

    /// Starts `executable arguments` with the same environment as `MPIJob` jobs.
    init(executable: URL, arguments: [String], environment: [String: String] = [:]) throws {
        let fm = FileManager.default
        scratch = try FaultTest.makeTemporaryDirectory("bgjob")
        outURL = scratch.appendingPathComponent("stdout")
        errURL = scratch.appendingPathComponent("stderr")
        _ = fm.createFile(atPath: outURL.path, contents: nil)
        _ = fm.createFile(atPath: errURL.path, contents: nil)
        process.executableURL = executable
        process.arguments = arguments
        process.environment = MPIJob.jobEnvironment(environment)
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
    }

    /// `mpirun [--oversubscribe] -np N metaopt-dist ARGS`.
    static func mpirun(np: Int, args: [String]) throws -> BackgroundJob {
        guard let mpirun = MPIJob.mpirunPath else { throw MPIJobError(description: "mpirun not found on PATH") }
        var mpiArgs = ["-np", String(np)]
        if np > ProcessInfo.processInfo.activeProcessorCount { mpiArgs.append("--oversubscribe") }
        return try BackgroundJob(executable: URL(fileURLWithPath: mpirun),
                                 arguments: mpiArgs + [try MPIJob.binaryURL().path] + args)
    }

    /// `metaopt-dist ARGS` as a singleton.
    static func singleton(args: [String]) throws -> BackgroundJob {
        try BackgroundJob(executable: try MPIJob.binaryURL(), arguments: args)
    }

    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { !finished && process.isRunning }
    var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    /// Polls `condition` every 10 ms until it holds (true) or `timeout` passes or the job ends (false).
    func waitUntil(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            if !process.isRunning { return condition() }
            usleep(10_000)
        }
        return false
    }

    /// The metaopt-dist processes started by this job (the ranks under mpirun, or itself).
    func ranks(binary: String) -> [pid_t] {
        ([pid] + MPIJob.descendants(of: pid)).filter { FaultTest.commandLine($0).first == binary }
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the job to end (killing it and everything below it after `timeout`) and returns
    /// what it left, like `MPIJob.runProcess`.
    func finish(timeout: TimeInterval) -> MPIJobResult {
        var timedOut = false
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            let tree = MPIJob.descendants(of: pid)
            kill(pid, SIGKILL)
            for p in tree { kill(p, SIGKILL) }
            _ = exited.wait(timeout: .now() + 10)
        }
        process.waitUntilExit()
        finished = true
        let status: Int32 = process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
        let result = MPIJobResult(status: status,
                                  stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                                  stderr: stderr, seconds: Date().timeIntervalSince(start), timedOut: timedOut)
        try? FileManager.default.removeItem(at: scratch)
        return result
    }

    deinit {
        if !finished { _ = finish(timeout: 0) }
    }
}

extension XCTestCase {
    /// Skips when mpirun is missing, except in CI (CI=true) or with METAOPT_REQUIRE_MPI=1.
    func requireMPIRunForFaultTests() throws {
        guard MPIJob.mpirunPath == nil else { return }
        let env = ProcessInfo.processInfo.environment
        let message = "mpirun not found on PATH: install openmpi-bin (bash launch/setup.sh) to run the multi-rank tests"
        if env["CI"] == "true" || env["METAOPT_REQUIRE_MPI"] == "1" { throw MPIJobError(description: message) }
        throw XCTSkip(message)
    }

    /// A fresh run directory removed when the test ends.
    func makeRunDirectory(_ label: String) throws -> URL {
        let url = try FaultTest.makeTemporaryDirectory(label)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// The job ended by itself with status 0.
    func assertSucceeded(_ result: MPIJobResult, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.timedOut, "\(what) timed out:\n\(result)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "\(what) failed:\n\(result)", file: file, line: line)
    }

    /// φ of the run equals the uninterrupted reference bit for bit.
    func assertReferencePhi(runDirectory: URL, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let phi = try FaultTest.phiBits(runDirectory: runDirectory)
        let reference = try FaultTest.reference().phi
        XCTAssertEqual(phi.count, reference.count, "\(what): φ has another size", file: file, line: line)
        let differing = zip(phi, reference).filter { $0 != $1 }.count
        XCTAssertEqual(differing, 0, "\(what): \(differing) of \(phi.count) values of φ differ from the uninterrupted run",
                       file: file, line: line)
    }

    /// metrics.jsonl holds every meta-step 0 ..< n exactly once, in order.
    func assertCompleteMetrics(runDirectory: URL, iterations: Int = FaultTest.iterations,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try FaultTest.metricIterations(runDirectory: runDirectory), Array(0..<iterations),
                       "metrics.jsonl should hold each meta-step once", file: file, line: line)
    }
}
