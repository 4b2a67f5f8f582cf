import Foundation
import XCTest

/// Starts the built `metaopt-dist` under mpirun with several ranks (and as a singleton) and checks
/// that collectives give the right results on every rank and that errors end the whole job
/// quickly instead of hanging. See `MPIJob` for how the binary is found and jobs are run.
final class MultiRankTests: XCTestCase {
    /// Longest time any of these jobs may take before the harness kills it.
    let jobTimeout: TimeInterval = 60
    /// How fast a job with a failing rank must end (the brief's "~10 s", with slack for a loaded CI).
    let failureDeadline: TimeInterval = 12

    /// Skips the test when mpirun is missing (a failure in CI; see `DistributedTrain.requireMPIRun`).
    private func requireMPIRun() throws { try DistributedTrain.requireMPIRun() }

    /// Parses `COMMCHECK key=value ...` lines into dictionaries.
    private func commCheckLines(_ result: MPIJobResult) -> [[String: String]] {
        result.lines(withPrefix: "COMMCHECK ").map { line in
            var fields: [String: String] = [:]
            for token in line.split(separator: " ").dropFirst() {
                let parts = token.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            return fields
        }
    }

    private func assertCommCheckPassed(_ result: MPIJobResult, size: Int,
                                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.timedOut, "job timed out:\n\(result)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "job failed:\n\(result)", file: file, line: line)
        let lines = commCheckLines(result)
        XCTAssertEqual(lines.count, size, "expected one COMMCHECK line per rank:\n\(result)", file: file, line: line)
        XCTAssertEqual(Set(lines.compactMap { $0["rank"].flatMap(Int.init) }), Set(0..<size),
                       "ranks missing:\n\(result)", file: file, line: line)
        for fields in lines {
            XCTAssertEqual(fields["ok"], "1", "rank \(fields["rank"] ?? "?") failed: \(fields["failed"] ?? "?")",
                           file: file, line: line)
            XCTAssertEqual(fields["size"], String(size), file: file, line: line)
        }
    }

    // MARK: Collectives

    func testCommCheckOneRank() throws {
        try requireMPIRun()
        print("MultiRankTests: metaopt-dist binary: \(try MPIJob.binaryURL().path)")
        let result = try MPIJob.run(np: 1, args: ["comm-check"], timeout: jobTimeout)
        assertCommCheckPassed(result, size: 1)
        XCTAssertEqual(commCheckLines(result).first?["launcher"], "openMPI")
    }

    func testCommCheckTwoRanks() throws {
        try requireMPIRun()
        assertCommCheckPassed(try MPIJob.run(np: 2, args: ["comm-check"], timeout: jobTimeout), size: 2)
    }

    func testCommCheckFourRanksOversubscribed() throws {
        try requireMPIRun()
        let result = try MPIJob.run(np: 4, args: ["comm-check", "--verbose"], timeout: jobTimeout,
                                    extraMPIArgs: ["--oversubscribe"])
        assertCommCheckPassed(result, size: 4)
        // --verbose: every rank logs at debug with its rank prefix.
        for rank in 0..<4 {
            XCTAssertTrue(result.stderr.contains("[rank \(rank)] debug metaopt-dist: MPI started"), "\(result)")
        }
    }

    /// Buffers longer than the per-call limit are split into several collectives; an odd rank
    /// count and a limit that does not divide the count exercise the remainders.
    func testCommCheckSplitsLargeBuffers() throws {
        try requireMPIRun()
        let result = try MPIJob.run(np: 3, args: ["comm-check", "--count", "100", "--max-count", "7"],
                                    timeout: jobTimeout)
        assertCommCheckPassed(result, size: 3)
        XCTAssertTrue(commCheckLines(result).allSatisfy { $0["max-count"] == "7" && $0["count"] == "100" })
    }

    /// Started directly, the binary is an MPI singleton of one rank.
    func testCommCheckSingletonWithoutMPIRun() throws {
        let result = try MPIJob.runSingleton(args: ["comm-check"], timeout: jobTimeout)
        assertCommCheckPassed(result, size: 1)
        XCTAssertEqual(commCheckLines(result).first?["launcher"], "singleton")
    }

    // MARK: Errors end the job

    /// A singleton whose body throws prints the error and exits with status 1.
    func testSingletonErrorExitsNonZero() throws {
        let result = try MPIJob.runSingleton(args: ["comm-check", "--fail-on-rank", "0"], timeout: jobTimeout)
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertLessThan(result.seconds, failureDeadline, "\(result)")
        XCTAssertTrue(result.stderr.contains("metaopt-dist: rank 0: comm-check: failing on purpose on rank 0"), "\(result)")
        XCTAssertFalse(result.stderr.contains("ORTE_ERROR_LOG"), "\(result)")
    }

    /// A bad flag is rejected by argument parsing on every rank, before MPI starts: the same
    /// message on every rank that prints before mpirun stops it, exit status 64 (EX_USAGE), no hang.
    func testBadArgumentFailsIdenticallyOnEveryRank() throws {
        try requireMPIRun()
        for (args, message) in [(["comm-check", "--bogus"], "Error: Unknown option '--bogus'"),
                                (["comm-check", "--count", "0"], "Error: --count must be at least 1, got 0")] {
            let result = try MPIJob.run(np: 2, args: args, timeout: jobTimeout, perRankOutput: true)
            XCTAssertFalse(result.timedOut, "\(result)")
            XCTAssertEqual(result.status, 64, "\(result)")
            XCTAssertLessThan(result.seconds, failureDeadline, "\(result)")
            // mpirun stops the other rank once one exits, possibly before it prints: at least one says why.
            let spoken = result.rankStderr.filter { !$0.value.isEmpty }
            XCTAssertFalse(spoken.isEmpty, "per-rank output missing:\n\(result)")
            XCTAssertTrue(Set(spoken.keys).isSubset(of: [0, 1]), "\(result)")
            let firstLines = spoken.values.map { $0.split(separator: "\n").first.map(String.init) ?? "" }
            for line in firstLines { XCTAssertEqual(line, message, "\(result)") }
            XCTAssertTrue(result.lines(withPrefix: "COMMCHECK").isEmpty)
        }
    }

    private func assertJobEndsQuickly(np: Int, mode: String, expectedStderr: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try MPIJob.run(np: np, args: ["comm-check", "--fail-on-rank", "1", "--fail-mode", mode],
                                    timeout: jobTimeout)
        XCTAssertFalse(result.timedOut, "job hung:\n\(result)", file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "\(result)", file: file, line: line)
        XCTAssertLessThan(result.seconds, failureDeadline, "job took too long to end:\n\(result)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(expectedStderr), "missing '\(expectedStderr)':\n\(result)",
                      file: file, line: line)
        XCTAssertTrue(result.lines(withPrefix: "COMMCHECK").isEmpty, "no rank may finish:\n\(result)",
                      file: file, line: line)
    }

    /// A rank that throws after the first collective aborts the whole job (MPI_Abort).
    func testThrowingRankAbortsTwoRankJob() throws {
        try requireMPIRun()
        try assertJobEndsQuickly(np: 2, mode: "throw",
                                 expectedStderr: "metaopt-dist: rank 1: comm-check: failing on purpose on rank 1")
    }

    func testThrowingRankAbortsFourRankJob() throws {
        try requireMPIRun()
        try assertJobEndsQuickly(np: 4, mode: "throw",
                                 expectedStderr: "metaopt-dist: rank 1: comm-check: failing on purpose on rank 1")
    }

    /// A rank that exits on its own (no MPI_Abort, no MPI_Finalize) or dies of a signal also
    /// brings the job down.
    func testExitingOrCrashingRankEndsJob() throws {
        try requireMPIRun()
        try assertJobEndsQuickly(np: 2, mode: "exit", expectedStderr: "metaopt-dist: rank 1: exiting on purpose")
        try assertJobEndsQuickly(np: 2, mode: "crash", expectedStderr: "crashing on purpose on rank 1")
    }

    /// A rank that stops calling collectives leaves the others waiting; the --hang-check watchdog
    /// turns that into a prompt failure.
    func testHangCheckWatchdogEndsHungJob() throws {
        try requireMPIRun()
        let result = try MPIJob.run(np: 2, args: ["comm-check", "--fail-on-rank", "1", "--fail-mode", "hang",
                                                  "--hang-check", "2"], timeout: jobTimeout)
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertEqual(result.status, 2, "\(result)")
        XCTAssertLessThan(result.seconds, failureDeadline, "\(result)")
        XCTAssertTrue(result.stderr.contains("still running after 2.0 s (hang)"), "\(result)")
    }

    /// The harness's own time limit kills mpirun and every rank of a hung job.
    func testHarnessTimeoutKillsWholeJob() throws {
        try requireMPIRun()
        let binary = try MPIJob.binaryURL().path
        let result = try MPIJob.run(np: 2, args: ["comm-check", "--fail-on-rank", "1", "--fail-mode", "hang"],
                                    timeout: 3)
        XCTAssertTrue(result.timedOut, "\(result)")
        XCTAssertLessThan(result.seconds, 3 + 8, "\(result)")
        // No rank of that job may survive (they would keep a core busy for the rest of the run).
        var survivors: [String] = []
        for _ in 0..<50 {
            survivors = runningProcesses(commandContaining: binary, argument: "hang")
            if survivors.isEmpty { break }
            usleep(100_000)
        }
        XCTAssertEqual(survivors, [], "ranks left running after the timeout")
    }

    /// pids of processes whose command line contains `command` and `argument`.
    private func runningProcesses(commandContaining command: String, argument: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { entry in
            guard Int(entry) != nil,
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
            let args = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let state = (try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)) ?? ""
            let zombie = state.split(separator: ")").last?.split(separator: " ").first == "Z"
            return !zombie && args.first == command && args.contains(argument)
        }
    }
}
