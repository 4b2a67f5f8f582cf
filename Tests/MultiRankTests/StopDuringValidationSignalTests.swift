import Foundation
import XCTest

/// A stop signal during a long validation ends the job within seconds (issue 20: Ctrl-C during
/// the start-up validation used to wait for its end, 25 s and more), through the normal stop path:
/// the ranks agree, log the stop, exit, and leave a run directory that a rerun continues. The
/// start-up validation here (20000 functions of 1000 steps on 2 ranks) takes 20 s or more.
final class StopDuringValidationSignalTests: XCTestCase {
    private func arguments(_ dir: URL, validationFunctions: Int = 20_000) -> [String] {
        ["train", "--meta-batch", "8", "--block-size", "2", "--unroll", "5", "--horizon", "1000", "--iterations", "4",
         "--validate-every", "2", "--validation-functions", String(validationFunctions), "--progress-every", "1",
         "--run-dir", dir.path]
    }

    /// Starts the long job and returns once rank 0 is inside the start-up validation (the stop
    /// handler is installed before config.json is written, and the validation follows).
    private func startValidating(_ dir: URL) throws -> BackgroundJob {
        let job = try BackgroundJob.mpirun(np: 2, args: arguments(dir))
        XCTAssertTrue(job.waitUntil(timeout: 30) { job.stderr.contains("wrote the run's settings") }, "never started:\n\(job.stderr)")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertTrue(job.isRunning, "the validation ended too soon to be interrupted:\n\(job.stderr)")
        return job
    }

    /// What the stopped job must have left: the stop in the log, no score, no checkpoint (nothing
    /// was trained), and a directory whose lock is free: the same command with a short validation
    /// runs there to the end.
    private func assertStoppedDuringStartUpValidation(_ result: MPIJobResult, _ dir: URL, signalled: Date,
                                                      file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertFalse(result.timedOut, "the job ignored the signal:\n\(result)", file: file, line: line)
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 8, "the job took too long to stop:\n\(result)", file: file, line: line)
        for expected in ["abandoned the validation at meta-step 0", "stopped at meta-step 0 after a signal; run again to resume"] {
            XCTAssertTrue(result.stderr.contains(expected), "missing '\(expected)':\n\(result)", file: file, line: line)
        }
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: dir), [], file: file, line: line)
        let log = FileManager.default.contents(atPath: dir.appendingPathComponent("validation.jsonl").path) ?? Data()
        XCTAssertTrue(log.isEmpty, "a score was logged: \(String(decoding: log, as: UTF8.self))", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("best-optimizer.json").path),
                       file: file, line: line)

        let rerun = try MPIJob.run(np: 2, args: arguments(dir, validationFunctions: 4), timeout: FaultTest.jobTimeout)
        assertSucceeded(rerun, "the rerun", file: file, line: line)
        XCTAssertEqual(try FaultTest.metricIterations(runDirectory: dir), [0, 1, 2, 3], file: file, line: line)
    }

    /// SIGTERM to mpirun: Open MPI sends SIGTERM to the ranks a second later and SIGKILL a second
    /// after that, so the ranks must leave the validation well within a second. mpirun itself
    /// exits 1 after a SIGTERM however the ranks end (docs/checkpoints.md), so the test reads the
    /// ranks' stop lines rather than the status.
    func testSIGTERMToMPIRunDuringStartUpValidationStopsTheJob() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("stop-in-validation-mpirun")
        let job = try startValidating(dir)
        let signalled = Date()
        job.signal(SIGTERM)
        try assertStoppedDuringStartUpValidation(job.finish(timeout: 20), dir, signalled: signalled)
    }

    /// SIGTERM to one rank alone: the other learns of it at the end of its current validation
    /// function (one MAX allreduce per round of functions), both stop, and mpirun exits 0.
    func testSIGTERMToOneRankDuringStartUpValidationStopsEveryRank() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("stop-in-validation-rank")
        let job = try startValidating(dir)
        let binary = try MPIJob.binaryURL().path
        let ranks = job.ranks(binary: binary)
        XCTAssertEqual(ranks.count, 2, "ranks: \(ranks)")
        let signalled = Date()
        kill(try XCTUnwrap(ranks.last), SIGTERM)
        let result = job.finish(timeout: 20)
        XCTAssertEqual(result.status, 0, "\(result)")
        try assertStoppedDuringStartUpValidation(result, dir, signalled: signalled)
    }
}
