import Foundation
import XCTest

/// Standard output and error that fail (a full disk: /dev/full answers every write with ENOSPC)
/// never stop the program with a trap: a run whose log cannot be written still trains and writes
/// its files, and a command whose result cannot be written fails with a message and status 1.
final class ConsoleOutputTests: XCTestCase {
    func requireDevFull() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full on this system") }
    }

    /// `BINARY ARGS…` with one of its streams sent to /dev/full by the shell.
    func run(_ args: [String], redirect: String) throws -> MPIJobResult {
        let binary = try MPIJob.binaryURL().path
        return try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                     arguments: ["-c", "exec \"$@\" \(redirect)", "sh", binary] + args, timeout: 60)
    }

    func testARunWhoseLogCannotBeWrittenStillTrains() throws {
        try requireDevFull()
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let result = try run(["train"] + DistributedTrain.smallJob + ["--run-dir", dir.path, "--no-resume"],
                             redirect: "2>/dev/full")
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("optimizer.json").path))
        XCTAssertTrue(result.stdout.contains("log line(s) could not be written to standard error"), "\(result)")
    }

    func testAnExportThatCannotBeWrittenFailsWithAMessage() throws {
        try requireDevFull()
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        XCTAssertEqual(try DistributedTrain.train(np: nil, runDirectory: dir).status, 0)
        let result = try run(["export", "--optimizer", dir.appendingPathComponent("optimizer.json").path],
                             redirect: ">/dev/full")
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("cannot write to standard output: No space left on device"), "\(result)")
    }

    /// evaluate's table and bench's JSON went through print(), which drops a failed write: both
    /// ended with status 0 and the results lost. Standard output is flushed and checked at exit.
    func testResultsThatCannotBeWrittenFailWithAMessage() throws {
        try requireDevFull()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let dir = scratch.appendingPathComponent("run")
        XCTAssertEqual(try DistributedTrain.train(np: nil, runDirectory: dir).status, 0)
        let evaluate = ["evaluate", "--optimizer", dir.appendingPathComponent("optimizer.json").path, "--functions", "1",
                        "--steps", "2", "--tuning-functions", "1", "--baselines", "sgd", "--out", scratch.appendingPathComponent("eval").path]
        let bench = ["bench", "--task", "quadratic", "--repetitions", "1", "--warmup", "0", "--evaluation-steps", "0",
                     "--gemm-repetitions", "0", "--fma-peak-samples", "0", "--format", "json"]
        for args in [evaluate, bench] { try assertStandardOutputIsChecked(args) }
    }

    /// `args` with standard output on a full disk ends with status 1 and the message; with it
    /// written, 0.
    func assertStandardOutputIsChecked(_ args: [String], line: UInt = #line) throws {
        let failed = try run(args, redirect: ">/dev/full")
        XCTAssertEqual(failed.status, 1, "\(args): \(failed)", line: line)
        XCTAssertTrue(failed.stderr.contains("cannot write to standard output: No space left on device"), "\(args): \(failed)", line: line)
        let written = try run(args, redirect: ">/dev/null")
        XCTAssertEqual(written.status, 0, "\(args): \(written)", line: line)
    }

    /// `train --print-config > cfg.json`, `--version` and help exist only to write to standard
    /// output; on a full disk they ended with status 0 and an empty file.
    func testTextThatOnlyGoesToStandardOutputIsChecked() throws {
        try requireDevFull()
        for args in [["train", "--print-config"], ["--version"], ["help", "train"], ["export", "--help"]] {
            try assertStandardOutputIsChecked(args)
        }
    }

    /// A reader that goes away (`train … | head -3`) killed the run with SIGPIPE before its
    /// checkpoint and optimizer file; the run now trains on, counts the lost lines and ends 0.
    func testARunWhoseReaderGoesAwayStillTrains() throws {
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        // The reader (true) closes its end at once; every write of the run then meets a closed
        // pipe. pipefail: the run's status, not the reader's.
        let binary = try MPIJob.binaryURL().path
        let args = ["train"] + DistributedTrain.smallJob + ["--run-dir", dir.path, "--no-resume", "--progress-every", "1"]
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"),
                                           arguments: ["-c", "set -o pipefail; \"$@\" 2>&1 | true", "bash", binary] + args, timeout: 60)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("optimizer.json").path), "\(result)")
    }

    /// Under a file-size limit (`ulimit -f`, which Slurm passes on) SIGXFSZ killed the program
    /// (153) with its temporary file left: the write now fails with a message naming the file.
    func testAFileSizeLimitIsAFailedWriteNotASignal() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let optimizer = ProvenanceCommandTests.packageRoot.appendingPathComponent("optimizers/quadratic.json")
        let out = scratch.appendingPathComponent("out.json")
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"),
                                           arguments: ["-c", "ulimit -f 20 && exec \"$@\"", "bash", try MPIJob.binaryURL().path,
                                                       "export", "--optimizer", optimizer.path, "--output", out.path],
                                           timeout: 60)
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("cannot write \(out.path): File too large"), "\(result)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [], "no temporary file left")
    }

    /// `export … | head -1` printed "cannot write to standard output: Broken pipe" and ended 1,
    /// where every other command ends quietly with 141 (what SIGPIPE would give).
    func testAnExportWhoseReaderGoesAwayEndsQuietly() throws {
        let optimizer = ProvenanceCommandTests.packageRoot.appendingPathComponent("optimizers/quadratic.json")
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"),
                                           arguments: ["-c", "set -o pipefail; \"$@\" | head -c 1 >/dev/null", "bash",
                                                       try MPIJob.binaryURL().path, "export", "--optimizer", optimizer.path],
                                           timeout: 60)
        XCTAssertEqual(result.status, 141, "\(result)")
        XCTAssertEqual(result.stderr, "", "\(result)")
    }
}
