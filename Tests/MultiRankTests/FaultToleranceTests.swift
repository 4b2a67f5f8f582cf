import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A rank that dies or fails mid-run ends the whole job promptly, and running the same command
/// again resumes from the newest checkpoint and reaches exactly the φ of an uninterrupted run;
/// launch/restart.sh does that rerun by itself. Each job is the small standard configuration of
/// `FaultTest` (12 meta-steps, checkpoints at 4, 8 and 12) on 2 ranks.
final class FaultToleranceTests: XCTestCase {
    /// Runs the standard job with `fault` (which makes it fail at meta-step `step`), checks that
    /// it ends quickly and non-zero, then runs it again without the fault and checks the resume
    /// point, the metrics and the final φ.
    private func assertRecoversFromFault(_ fault: String, step: Int, expectedStderr: String? = nil,
                                         file: StaticString = #filePath, line: UInt = #line) throws {
        try requireMPIRunForFaultTests()
        _ = try FaultTest.reference()
        let dir = try makeRunDirectory("fault")
        let failed = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir, extra: ["--inject-fault", fault]),
                                    timeout: FaultTest.jobTimeout)
        XCTAssertFalse(failed.timedOut, "the job hung after \(fault):\n\(failed)", file: file, line: line)
        XCTAssertNotEqual(failed.status, 0, "\(failed)", file: file, line: line)
        XCTAssertLessThan(failed.seconds, FaultTest.failureDeadline, "the job took too long to end:\n\(failed)",
                          file: file, line: line)
        if let expectedStderr {
            XCTAssertTrue(failed.stderr.contains(expectedStderr), "missing '\(expectedStderr)':\n\(failed)", file: file, line: line)
        }
        // Every meta-step before the fault was done and logged; the newest checkpoint is the last
        // horizon boundary at least `checkpointEvery` steps after the previous one.
        XCTAssertEqual(try FaultTest.metricIterations(runDirectory: dir), Array(0..<step), file: file, line: line)
        let lastCheckpoint = try XCTUnwrap(FaultTest.checkpointSteps(runDirectory: dir).last, "no checkpoint before the fault",
                                           file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("optimizer.json").path),
                       file: file, line: line)

        let resumed = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout)
        assertSucceeded(resumed, "the resumed run", file: file, line: line)
        let point = try XCTUnwrap(FaultTest.resumePoint(resumed), "no resume line:\n\(resumed)", file: file, line: line)
        XCTAssertEqual(point.iteration, lastCheckpoint, file: file, line: line)
        XCTAssertTrue(point.file.hasSuffix(FaultTest.checkpointURL(runDirectory: dir, step: lastCheckpoint).lastPathComponent),
                      file: file, line: line)
        // At most one checkpoint interval of work is redone.
        XCTAssertGreaterThanOrEqual(point.iteration, step - FaultTest.checkpointEvery, "\(resumed)", file: file, line: line)
        XCTAssertLessThanOrEqual(point.iteration, step, file: file, line: line)
        try assertCompleteMetrics(runDirectory: dir, file: file, line: line)
        try assertReferencePhi(runDirectory: dir, "resumed after \(fault)", file: file, line: line)
    }

    /// SIGKILL of rank 1 at meta-step 7: mpirun ends the job; the rerun resumes at 4.
    func testKilledRankResumesToTheSamePhi() throws {
        try assertRecoversFromFault("kill@7:1", step: 7)
    }

    /// A rank that throws calls MPI_Abort: no hang.
    func testThrowingRankResumesToTheSamePhi() throws {
        try assertRecoversFromFault("throw@7:1", step: 7, expectedStderr: "metaopt-dist: rank 1: injected fault at iteration 7 on rank 1")
    }

    /// abort() (SIGABRT) on rank 1.
    func testAbortingRankResumesToTheSamePhi() throws {
        try assertRecoversFromFault("abort@7:1", step: 7)
    }

    /// Rank 0 (the checkpoint writer) killed right after a checkpoint: nothing is redone.
    func testKilledRootRightAfterCheckpointResumesThere() throws {
        try assertRecoversFromFault("kill@8:0", step: 8)
    }

    /// A NaN meta-gradient on one rank makes every rank skip that meta-step (no Adam step, fresh
    /// functions); the job finishes and the metrics show the skip. The skip does not depend on
    /// which rank saw the NaN or on the rank count: a singleton with the NaN on rank 0 ends with
    /// the same φ.
    func testNaNOnOneRankIsSkippedByAll() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("nan")
        let result = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir, extra: ["--inject-fault", "nan@3:1"]),
                                    timeout: FaultTest.jobTimeout)
        assertSucceeded(result, "the run with a NaN")
        let metrics = try FaultTest.metrics(runDirectory: dir)
        XCTAssertEqual(metrics.map { ($0["iteration"] as? NSNumber)?.intValue ?? -1 }, Array(0..<FaultTest.iterations))
        let skipped = metrics.filter { ($0["skipped"] as? Bool) == true }.map { ($0["iteration"] as? NSNumber)?.intValue ?? -1 }
        XCTAssertEqual(skipped, [3], "exactly meta-step 3 is skipped")
        XCTAssertTrue(metrics[3]["meta_loss"] is NSNull, "a skipped step has no loss: \(metrics[3])")
        XCTAssertEqual(metrics.map { ($0["skipped_total"] as? NSNumber)?.intValue ?? -1 },
                       [0, 0, 0] + Array(repeating: 1, count: FaultTest.iterations - 3))
        // The skip starts a fresh horizon: meta-step 4 is truncation 0 of horizon 2.
        XCTAssertEqual((metrics[4]["horizon"] as? NSNumber)?.intValue, 2)
        XCTAssertEqual((metrics[4]["truncation"] as? NSNumber)?.intValue, 0)
        XCTAssertTrue(result.stderr.contains("iter 4/12  loss skipped"), "progress line of the skipped step:\n\(result)")
        let phi = try FaultTest.phiBits(runDirectory: dir)
        XCTAssertNotEqual(phi, try FaultTest.reference().phi, "a skipped step must change the trajectory")

        let singletonDir = try makeRunDirectory("nan-singleton")
        let singleton = try MPIJob.runSingleton(
            args: FaultTest.trainArguments(runDirectory: singletonDir, extra: ["--inject-fault", "nan@3:0"]),
            timeout: FaultTest.jobTimeout)
        assertSucceeded(singleton, "the singleton run with a NaN")
        XCTAssertEqual(try FaultTest.phiBits(runDirectory: singletonDir), phi)
    }

    // MARK: launch/restart.sh

    private func restartScript(_ arguments: [String], environment: [String: String] = [:]) throws -> MPIJobResult {
        let binary = try MPIJob.binaryURL().path
        let root = FaultTest.repositoryRoot
        return try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"),
                                     arguments: [root.appendingPathComponent("launch/restart.sh").path] + arguments,
                                     timeout: FaultTest.jobTimeout,
                                     environment: ["METAOPT_BIN": binary].merging(environment) { _, new in new })
    }

    private func localTrain(_ dir: URL, faults: [String]) -> [String] {
        ["bash", FaultTest.repositoryRoot.appendingPathComponent("launch/local.sh").path, "-np", "2"]
            + FaultTest.trainArguments(runDirectory: dir, extra: faults.flatMap { ["--inject-fault", $0] })
    }

    /// The wrapper restarts the job after each failure; the faults are armed only in one attempt
    /// each (`KIND@ITER:RANK:ATTEMPT`), so attempt 0 dies at meta-step 5 (rank 1), attempt 1
    /// resumes at 4 and dies at 9 (rank 0), attempt 2 resumes at 8 and finishes with the φ of an
    /// uninterrupted run. The command's --no-resume starts the first attempt over only: the
    /// restarts drop it and resume (they started over from meta-step 0 on every crash).
    func testRestartWrapperResumesAfterEachFailure() throws {
        try requireMPIRunForFaultTests()
        _ = try FaultTest.reference()
        let dir = try makeRunDirectory("restart")
        let result = try restartScript(["--max-restarts", "3", "--backoff", "0.2", "--"]
                                       + localTrain(dir, faults: ["kill@5:1:0", "kill@9:0:1"]) + ["--no-resume"])
        assertSucceeded(result, "restart.sh")
        XCTAssertTrue(result.stderr.contains("restart.sh: restarting without --no-resume"), "\(result)")
        XCTAssertTrue(result.stderr.contains("; restart 1 of 3 in 0.2 s"), "\(result)")
        XCTAssertTrue(result.stderr.contains("restart 2 of 3"), "\(result)")
        XCTAssertFalse(result.stderr.contains("restart 3 of 3"), "\(result)")
        XCTAssertTrue(result.stderr.contains("restart.sh: the command succeeded after 2 restart(s)"), "\(result)")
        XCTAssertTrue(result.stderr.contains("fault injection (for tests): kill@5:1:0 in attempt 0"), "\(result)")
        XCTAssertTrue(result.stderr.contains("fault injection (for tests): kill@9:0:1 in attempt 1"), "\(result)")
        XCTAssertTrue(result.stderr.contains("fault injection (for tests): none armed in attempt 2"), "\(result)")
        let resumes = result.stderr.split(separator: "\n").filter { $0.contains("resuming from ") }
        XCTAssertEqual(resumes.count, 2, "\(result)")
        XCTAssertTrue(resumes.first?.hasSuffix("ckpt-0000000004.mopt at iteration 4") ?? false, "\(resumes)")
        XCTAssertTrue(resumes.last?.hasSuffix("ckpt-0000000008.mopt at iteration 8") ?? false, "\(resumes)")
        try assertCompleteMetrics(runDirectory: dir)
        try assertReferencePhi(runDirectory: dir, "after two restarts")
    }

    /// A launch that fails before its --no-resume has set the earlier run aside (mpirun not
    /// starting, a lock still held) keeps --no-resume for the restart, which starts over: it
    /// must not resume the earlier run's checkpoints the user asked to leave.
    func testRestartWrapperKeepsNoResumeUntilALaunchHasStartedOver() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("restart-no-resume")
        try FaultTest.installReferenceCheckpoints([4, 8, 12], runDirectory: dir)
        let binary = try MPIJob.binaryURL().path
        let failFirst = ["sh", "-c", "[ \"$METAOPT_RESTART_COUNT\" = 0 ] && exit 1; exec \"$@\"", "sh", binary]
        let result = try restartScript(["--max-restarts", "1", "--backoff", "0", "--"]
                                       + failFirst + FaultTest.trainArguments(runDirectory: dir, iterations: 6, extra: ["--no-resume"]))
        assertSucceeded(result, "restart.sh")
        XCTAssertFalse(result.stderr.contains("restarting without --no-resume"), "\(result)")
        XCTAssertNil(FaultTest.resumePoint(result), "\(result)")
        XCTAssertTrue(result.stderr.contains("not resuming: moved the checkpoints of the earlier run"), "\(result)")
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: dir), [4, 6])
    }

    /// A fault armed in every attempt fires again after each resume: the wrapper gives up after
    /// --max-restarts restarts and exits with the job's status. A resume refused for another
    /// configuration is not restarted.
    func testRestartWrapperGivesUpWithTheLastStatus() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("restart-give-up")
        let result = try restartScript(["--max-restarts", "1", "--backoff", "0", "--"] + localTrain(dir, faults: ["kill@5:1"]))
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertNotEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stderr.contains("restart.sh: the command exited with status \(result.status); restart 1 of 1"), "\(result)")
        XCTAssertTrue(result.stderr.contains(
            "restart.sh: the command exited with status \(result.status); giving up after 1 restart(s) (--max-restarts 1)"), "\(result)")
        XCTAssertEqual(result.stderr.components(separatedBy: "resuming from ").count - 1, 1, "\(result)")
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: dir), [4])

        // A resume refused for another configuration would be refused again: status 65 on every
        // rank, and the wrapper does not restart (it used to, --max-restarts times, with status 1).
        let refused = try restartScript(["--max-restarts", "3", "--backoff", "0", "--"]
                                        + localTrain(dir, faults: []) + ["--learning-rate", "0.5"])
        XCTAssertEqual(refused.status, 65, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("--learning-rate 0.5 here, 0.003 in the checkpoint"), "\(refused)")
        XCTAssertTrue(refused.stderr.contains("restart.sh: the command exited with status 65 (a stop that a restart would repeat); not restarting"),
                      "\(refused)")
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: dir), [4], "the checkpoints are left as they were")
    }

    /// The wrapper numbers the attempts in METAOPT_RESTART_COUNT, stops at the first success,
    /// never restarts a usage error (status 64), and rejects bad options.
    func testRestartWrapperAttemptsAndStatuses() throws {
        let counter = try makeRunDirectory("restart-count").appendingPathComponent("attempts")
        // Fails twice, then succeeds; each attempt appends its number.
        let script = "echo \"$METAOPT_RESTART_COUNT\" >> '\(counter.path)'; [ \"$METAOPT_RESTART_COUNT\" -ge 2 ] || exit 3"
        let result = try restartScript(["--max-restarts", "5", "--backoff", "0", "--", "sh", "-c", script])
        assertSucceeded(result, "restart.sh")
        XCTAssertEqual(try String(contentsOf: counter, encoding: .utf8), "0\n1\n2\n")
        XCTAssertTrue(result.stderr.contains("restart.sh: the command succeeded after 2 restart(s)"), "\(result)")

        let exhausted = try restartScript(["--max-restarts", "2", "--backoff", "0", "--", "sh", "-c", "exit 3"])
        XCTAssertEqual(exhausted.status, 3, "\(exhausted)")
        XCTAssertEqual(exhausted.stderr.components(separatedBy: "restart.sh: the command exited with status 3; restart").count - 1, 2)
        // Leading zeros are decimal: 08 was a bad octal number to bash, and the failed comparison
        // restarted the command for ever (010 gave up after 8).
        for (written, count) in [("08", 8), ("--max-restarts=010", 10)] {
            let arguments = written.hasPrefix("--") ? [written] : ["--max-restarts", written]
            let r = try restartScript(arguments + ["--backoff", "0", "--", "sh", "-c", "exit 3"])
            XCTAssertEqual(r.status, 3, "\(written): \(r)")
            XCTAssertTrue(r.stderr.contains("giving up after \(count) restart(s) (--max-restarts \(count))"), "\(written): \(r)")
            XCTAssertFalse(r.stderr.contains("value too great for base"), "\(written): \(r)")
        }

        // A bad --inject-fault is a usage error of every attempt: exit 64, no restart.
        let dir = try makeRunDirectory("restart-usage")
        let usage = try restartScript(["--max-restarts", "3", "--backoff", "0", "--", try MPIJob.binaryURL().path]
                                      + FaultTest.trainArguments(runDirectory: dir, extra: ["--inject-fault", "kill@5"]))
        XCTAssertEqual(usage.status, 64, "\(usage)")
        XCTAssertTrue(usage.stderr.contains("--inject-fault 'kill@5' is not KIND@ITER:RANK[:ATTEMPT]"), "\(usage)")
        // A fault at a meta-step the run never reaches was accepted and did nothing.
        let unreached = try MPIJob.runSingleton(args: FaultTest.trainArguments(runDirectory: dir, iterations: 3, extra: ["--inject-fault", "nan@3:0"]))
        XCTAssertEqual(unreached.status, 64, "\(unreached)")
        XCTAssertTrue(unreached.stderr.contains("--inject-fault nan@3:0: meta-step 3 is never reached by --iterations 3 (ITER counts from 0)"), "\(unreached)")
        // Also against the iterations a task's default gives (the quadratics': 4000).
        let unreachedDefault = try MPIJob.runSingleton(args: ["train", "--run-dir", dir.path, "--inject-fault", "kill@99999:0"])
        XCTAssertEqual(unreachedDefault.status, 64, "\(unreachedDefault)")
        XCTAssertTrue(unreachedDefault.stderr.contains("meta-step 99999 is never reached by --iterations 4000"), "\(unreachedDefault)")
        XCTAssertTrue(usage.stderr.contains("restart.sh: the command exited with status 64 (usage error); not restarting"), "\(usage)")

        // Too many skipped meta-steps would come back after a resume (the same functions): every
        // rank stops with status 65, and the wrapper does not restart (it used to, --max-restarts times).
        let skips = try makeRunDirectory("restart-skips")
        let repeated = try restartScript(["--max-restarts", "3", "--backoff", "0", "--"]
                                         + localTrain(skips, faults: ["nan@2:0", "nan@3:1"]) + ["--max-skips", "2"])
        XCTAssertEqual(repeated.status, 65, "\(repeated)")
        XCTAssertTrue(repeated.stderr.contains("rank 0: 2 consecutive meta-steps had a non-finite loss or meta-gradient"), "\(repeated)")
        XCTAssertTrue(repeated.stderr.contains("rank 1: 2 consecutive meta-steps"), "every rank says why:\n\(repeated)")
        XCTAssertTrue(repeated.stderr.contains("restart.sh: the command exited with status 65 (a stop that a restart would repeat); not restarting"),
                      "\(repeated)")
        XCTAssertFalse(repeated.stderr.contains("MPI_ABORT"), "\(repeated)")

        // A command that cannot be started fails the same way every time: said once, not restarted
        // (bash's status 127 or 126; it used to be restarted --max-restarts times).
        let notExecutable = try makeRunDirectory("restart-not-executable").appendingPathComponent("script")
        try "exit 0\n".write(to: notExecutable, atomically: true, encoding: .utf8)
        for (command, status, message) in [(["no-such-command-metaopt", "x"], 127, "restart.sh: command not found: no-such-command-metaopt"),
                                           (["NP=2", "bash", "-c", "true"], 127, "restart.sh: command not found: NP=2 (to set a variable: -- env NP=2 ...)"),
                                           ([notExecutable.path], 126, "restart.sh: not an executable file: \(notExecutable.path)")] {
            let r = try restartScript(["--max-restarts", "2", "--backoff", "0", "--"] + command)
            XCTAssertEqual(r.status, Int32(status), "\(command): \(r)")
            XCTAssertTrue(r.stderr.contains(message), "\(command): \(r)")
            XCTAssertFalse(r.stderr.contains("restart 1"), "\(command): \(r)")
        }

        // A signal written as an option (-9: kill -l listed every signal and passed it) or the
        // separator taken as the signal are refused.
        for bad in [["--max-restarts", "-1", "--", "true"], ["--bogus", "--", "true"], ["--max-restarts", "1"],
                    ["--stop-signal", "-9", "--", "true"], ["--stop-signal=-9", "--", "true"], ["--stop-signal", "--", "true"]] {
            let r = try restartScript(bad)
            XCTAssertEqual(r.status, 64, "\(bad): \(r)")
            XCTAssertTrue(r.stderr.contains("usage: restart.sh"), "\(r)")
        }
        // Help asked for goes to stdout (`--help | less` showed nothing), with status 0.
        let help = try restartScript(["--help"])
        XCTAssertEqual(help.status, 0, "\(help)")
        XCTAssertTrue(help.stdout.contains("Runs a command again after it fails") && help.stderr.isEmpty, "\(help)")
    }

    /// SIGTERM to the wrapper is passed on as --stop-signal and ends the restarts: the training
    /// stops at a horizon boundary with a checkpoint, and the wrapper exits with its status 0.
    /// A singleton gets SIGTERM; mpirun (through launch/local.sh, which execs it) gets SIGUSR1,
    /// which it forwards to every rank.
    func testRestartWrapperPassesStopSignalOn() throws {
        try requireMPIRunForFaultTests()
        let root = FaultTest.repositoryRoot
        let binary = try MPIJob.binaryURL().path
        for (stopSignal, mpi) in [("TERM", false), ("USR1", true)] {
            let dir = try makeRunDirectory("restart-stop")
            let train = FaultTest.trainArguments(runDirectory: dir, iterations: 1_000_000)
            let command = mpi ? ["bash", root.appendingPathComponent("launch/local.sh").path, "-np", "2"] + train
                              : [binary] + train
            let job = try BackgroundJob(
                executable: URL(fileURLWithPath: "/bin/bash"),
                arguments: [root.appendingPathComponent("launch/restart.sh").path, "--backoff", "0",
                            "--stop-signal", stopSignal, "--"] + command,
                environment: ["METAOPT_BIN": binary])
            let started = job.waitUntil(timeout: 30) { !FaultTest.checkpointSteps(runDirectory: dir).isEmpty }
            XCTAssertTrue(started, "no first checkpoint:\n\(job.stderr)")
            job.signal(SIGTERM)
            let result = job.finish(timeout: FaultTest.jobTimeout)
            assertSucceeded(result, "restart.sh after SIGTERM (\(stopSignal))")
            XCTAssertTrue(result.stderr.contains("restart.sh: got SIGTERM: passing SIG\(stopSignal) to the command; it will not be restarted"),
                          "\(result)")
            XCTAssertTrue(result.stderr.contains("stopped at meta-step"), "\(result)")
            XCTAssertFalse(result.stderr.contains("restart 1"), "\(result)")
            let last = try XCTUnwrap(FaultTest.checkpointSteps(runDirectory: dir).last)
            XCTAssertEqual(last % 2, 0, "the stop checkpoint is at a horizon boundary")
        }
    }

    /// A stop signal of SIGUSR1 that the command lets pass (as mpirun does with one that comes
    /// before its ranks exist: it forwards it to no one, and the run trained to its end) is passed
    /// on again a second later: the command here ends at the second. SIGTERM is sent once (mpirun
    /// exits at once on a second, before its ranks have said what they saved).
    func testRestartWrapperPassesTheStopSignalOnAgain() throws {
        for (stopSignal, again) in [("USR1", true), ("TERM", false)] {
            let scratch = try makeRunDirectory("restart-again")
            let ready = scratch.appendingPathComponent("ready")
            let command = "n=0; trap 'n=$((n + 1)); echo \"stop signal $n\" >&2; if [ $n -ge 2 ]; then exit 0; fi' \(stopSignal); "
                + "touch '\(ready.path)'; for i in $(seq 60); do sleep 0.05; done; exit 3"
            let job = try BackgroundJob(executable: URL(fileURLWithPath: "/bin/bash"),
                                        arguments: [FaultTest.repositoryRoot.appendingPathComponent("launch/restart.sh").path,
                                                    "--backoff", "0", "--max-restarts", "0", "--stop-signal", stopSignal,
                                                    "--", "bash", "-c", command])
            XCTAssertTrue(job.waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: ready.path) }, "\(job.stderr)")
            job.signal(SIGTERM)
            let result = job.finish(timeout: 30)
            XCTAssertFalse(result.timedOut, "\(result)")
            XCTAssertTrue(result.stderr.contains("stop signal 1"), "\(stopSignal): \(result)")
            if again {
                XCTAssertEqual(result.status, 0, "\(stopSignal): ended by the second signal, within 3 s:\n\(result)")
                XCTAssertTrue(result.stderr.contains("stop signal 2"), "\(result)")
            } else {
                XCTAssertEqual(result.status, 3, "\(stopSignal): the command ran its 3 s to the end:\n\(result)")
                XCTAssertFalse(result.stderr.contains("stop signal 2"), "\(result)")
            }
        }
    }

    /// A wrapper that a script starts in the background (`&` in a non-interactive shell, which
    /// starts it with SIGINT ignored) still passes SIGINT on: bash cannot trap a signal ignored at
    /// its start, so `kill -INT` did nothing and the run trained on.
    func testRestartWrapperStartedInTheBackgroundStillHearsSIGINT() throws {
        let root = FaultTest.repositoryRoot
        let binary = try MPIJob.binaryURL().path
        let dir = try makeRunDirectory("restart-background")
        let pidFile = try makeRunDirectory("restart-background-pid").appendingPathComponent("wrapper.pid")
        let command = ([root.appendingPathComponent("launch/restart.sh").path, "--backoff", "0", "--", binary]
            + FaultTest.trainArguments(runDirectory: dir, iterations: 1_000_000)).map { "'\($0)'" }.joined(separator: " ")
        let job = try BackgroundJob(executable: URL(fileURLWithPath: "/bin/bash"),
                                    arguments: ["-c", "bash \(command) & echo $! > '\(pidFile.path)'; wait $!"],
                                    environment: [:])
        let started = job.waitUntil(timeout: 30) { !FaultTest.checkpointSteps(runDirectory: dir).isEmpty }
        XCTAssertTrue(started, "no first checkpoint:\n\(job.stderr)")
        let wrapper = try XCTUnwrap(Int32(String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(wrapper, SIGINT)
        let result = job.finish(timeout: FaultTest.jobTimeout)
        assertSucceeded(result, "restart.sh in the background after SIGINT")
        XCTAssertTrue(result.stderr.contains("restart.sh: got SIGINT: passing SIGTERM to the command; it will not be restarted"),
                      "\(result)")
        XCTAssertTrue(result.stderr.contains("stopped at meta-step"), "\(result)")
    }

    /// Ctrl-C in a terminal sends SIGINT to the terminal's whole foreground process group. The
    /// wrapper starts the command in a process group of its own, so only the wrapper gets it and
    /// passes --stop-signal USR1 on to mpirun: every rank stops at a horizon boundary and all exit
    /// 0. (Before, mpirun got the SIGINT too and ended the job itself, status 1, killing ranks that
    /// had not reached a boundary within a second.) The test signals the wrapper's process group,
    /// as the terminal would; Foundation starts the wrapper in a group of its own.
    func testRestartWrapperCtrlCReachesOnlyTheWrapper() throws {
        try requireMPIRunForFaultTests()
        let root = FaultTest.repositoryRoot
        let binary = try MPIJob.binaryURL().path
        let dir = try makeRunDirectory("restart-ctrl-c")
        let job = try BackgroundJob(
            executable: URL(fileURLWithPath: "/bin/bash"),
            arguments: [root.appendingPathComponent("launch/restart.sh").path, "--backoff", "0", "--stop-signal", "USR1", "--",
                        "bash", root.appendingPathComponent("launch/local.sh").path, "-np", "2"]
                + FaultTest.trainArguments(runDirectory: dir, iterations: 1_000_000),
            environment: ["METAOPT_BIN": binary])
        let started = job.waitUntil(timeout: 30) { !FaultTest.checkpointSteps(runDirectory: dir).isEmpty }
        XCTAssertTrue(started, "no first checkpoint:\n\(job.stderr)")
        // Never signal a group that holds the test runner itself.
        guard getpgid(job.pid) == job.pid, getpgid(job.pid) != getpgrp() else {
            _ = job.finish(timeout: 0)
            throw XCTSkip("the wrapper does not lead a process group of its own")
        }
        kill(-job.pid, SIGINT)
        let result = job.finish(timeout: FaultTest.jobTimeout)
        assertSucceeded(result, "restart.sh after SIGINT to its process group")
        XCTAssertTrue(result.stderr.contains("restart.sh: got SIGINT: passing SIGUSR1 to the command; it will not be restarted"),
                      "\(result)")
        XCTAssertTrue(result.stderr.contains("stopped at meta-step"), "\(result)")
        XCTAssertFalse(result.stderr.contains("restart 1"), "\(result)")
    }
}
