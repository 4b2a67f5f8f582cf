import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Resuming from the checkpoint store: under another rank count, past damaged files, never from a
/// temporary file, and with a clear error on every rank when nothing is usable. The checkpoints
/// come from the uninterrupted reference run of `FaultTest` (2 ranks; steps 4, 8, 12), so each
/// resume only redoes a few meta-steps.
final class ResumeTests: XCTestCase {
    /// A checkpoint written under 4 ranks (oversubscribed) continues under 2 and 3 ranks to the φ
    /// of an uninterrupted 2-rank run: blocks, not ranks, fix the arithmetic. (The one of the
    /// boundary that rank 0 writes while mpirun ends the job after rank 3's death too.)
    func testResumeUnderAnotherRankCount() throws {
        try requireMPIRunForFaultTests()
        _ = try FaultTest.reference()
        let dir = try makeRunDirectory("ranks")
        let four = try MPIJob.run(np: 4, args: FaultTest.trainArguments(runDirectory: dir, extra: ["--inject-fault", "kill@7:3"]),
                                  timeout: FaultTest.jobTimeout, extraMPIArgs: ["--oversubscribe"])
        XCTAssertFalse(four.timedOut, "\(four)")
        XCTAssertNotEqual(four.status, 0, "\(four)")
        XCTAssertTrue(four.stderr.contains("meta-training on 4 rank(s)"), "\(four)")
        // mpirun ends the other ranks with SIGTERM and, a second later, SIGKILL: rank 0 writes the
        // last horizon boundary (6) in that second, unless the kill comes first on a busy host.
        let steps = FaultTest.checkpointSteps(runDirectory: dir)
        XCTAssertTrue(steps == [4] || steps == [4, 6], "\(steps)\n\(four)")
        XCTAssertEqual(steps.count == 2, four.stderr.contains("wrote the checkpoint of meta-step 6, the last horizon boundary"), "\(four)")

        let two = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout)
        assertSucceeded(two, "the 2-rank resume")
        XCTAssertEqual(FaultTest.resumePoint(two)?.iteration, steps.last, "\(two)")
        try assertCompleteMetrics(runDirectory: dir)
        try assertReferencePhi(runDirectory: dir, "written under 4 ranks, resumed under 2")

        // 4 blocks over 3 ranks: an uneven split (1, 1, 2 blocks).
        let unevenDir = try makeRunDirectory("ranks-uneven")
        try FaultTest.installReferenceCheckpoints([4, 8], runDirectory: unevenDir)
        let three = try MPIJob.run(np: 3, args: FaultTest.trainArguments(runDirectory: unevenDir), timeout: FaultTest.jobTimeout)
        assertSucceeded(three, "the 3-rank resume")
        XCTAssertEqual(FaultTest.resumePoint(three)?.iteration, 8, "\(three)")
        try assertReferencePhi(runDirectory: unevenDir, "written under 2 ranks, resumed under 3")
    }

    /// Settings written two ways resume: a block size past the meta-batch (one block of all of
    /// it, the same φ) and the --init-from file under another spelling of its path were refused
    /// as another configuration (status 65).
    func testSettingsWrittenAnotherWayResume() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let start = scratch.appendingPathComponent("start")
        XCTAssertEqual(try DistributedTrain.train(np: nil, runDirectory: start).status, 0)
        let dir = scratch.appendingPathComponent("run")
        let job = ["train", "--meta-batch", "8", "--unroll", "5", "--horizon", "10", "--checkpoint-every", "2",
                   "--validate-every", "0", "--seed", "3", "--run-dir", dir.path]
        let first = try MPIJob.runSingleton(args: job + ["--block-size", "8", "--iterations", "4", "--init-from",
                                                         start.appendingPathComponent("optimizer.json").path], timeout: 120)
        XCTAssertEqual(first.status, 0, "\(first)")
        let again = try MPIJob.runSingleton(args: job + ["--block-size", "9", "--iterations", "6", "--init-from",
                                                         scratch.path + "/./start/../start/optimizer.json"], timeout: 120)
        XCTAssertEqual(again.status, 0, "\(again)")
        XCTAssertTrue(again.stderr.contains("resuming from"), "\(again)")
        let other = try MPIJob.runSingleton(args: job + ["--block-size", "4", "--iterations", "8", "--init-from",
                                                         start.appendingPathComponent("optimizer.json").path], timeout: 120)
        XCTAssertEqual(other.status, 65, "another block size is another configuration:\n\(other)")
    }

    /// A run whose --iterations ends inside a horizon checkpoints the last horizon boundary (a
    /// checkpoint holds no optimizee state) and validates it; a longer run resumed from it redoes the partial
    /// horizon and reaches the uninterrupted φ. Also: a run resumed at its end only rewrites the
    /// optimizer file.
    func testRunEndingMidHorizonCheckpointsTheLastBoundary() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("mid-horizon")
        let short = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir, iterations: 11),
                                   timeout: FaultTest.jobTimeout)
        assertSucceeded(short, "the 11-step run")
        XCTAssertTrue(short.stderr.contains("the run ended mid-horizon at meta-step 11; checkpointing the last horizon boundary, meta-step 10"),
                      "\(short)")
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: dir), [4, 8, 10])
        XCTAssertEqual(FaultTest.checkpointCounter(FaultTest.checkpointURL(runDirectory: dir, step: 10), "truncation"), 0)
        // The quadratics validate by default (every 500): at the start and at the last boundary, 10,
        // so that best-optimizer.json is not the untrained φ of meta-step 0 (as it used to be).
        let validated = try String(contentsOf: dir.appendingPathComponent("validation.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["iteration"] as? Int
            }
        XCTAssertEqual(validated, [0, 10], "\(short)")

        let longer = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout)
        assertSucceeded(longer, "the 12-step run")
        XCTAssertEqual(FaultTest.resumePoint(longer)?.iteration, 10, "\(longer)")
        try assertCompleteMetrics(runDirectory: dir)
        try assertReferencePhi(runDirectory: dir, "11 steps, then resumed to 12")

        let again = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout)
        assertSucceeded(again, "a rerun of a finished run")
        XCTAssertEqual(FaultTest.resumePoint(again)?.iteration, 12, "\(again)")
        XCTAssertFalse(again.stderr.contains("info metaopt-dist.train: checkpoint "), "nothing to checkpoint:\n\(again)")
        try assertCompleteMetrics(runDirectory: dir)
        try assertReferencePhi(runDirectory: dir, "rerun after the end")
    }

    /// --no-resume starts over and sets the earlier run's checkpoints aside (RUN/checkpoints.previous):
    /// otherwise a crash of the new run would resume the old run's newer checkpoint.
    func testNoResumeSetsEarlierCheckpointsAside() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("no-resume")
        try FaultTest.installReferenceCheckpoints([4, 8, 12], runDirectory: dir)
        // The earlier run's log is set aside too (a fresh start empties metrics.jsonl).
        let earlierLog = Data("{\"iteration\": 0, \"earlier\": true}\n".utf8)
        try earlierLog.write(to: dir.appendingPathComponent("metrics.jsonl"))
        let fresh = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir, iterations: 6, extra: ["--no-resume"]),
                                   timeout: FaultTest.jobTimeout)
        assertSucceeded(fresh, "the --no-resume run")
        let previous = dir.appendingPathComponent("checkpoints.previous")
        XCTAssertTrue(fresh.stderr.contains("not resuming: moved the checkpoints of the earlier run to \(previous.path)"), "\(fresh)")
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("metrics.previous.jsonl")), earlierLog)
        XCTAssertEqual(try FaultTest.metricIterations(runDirectory: dir), Array(0..<6))
        XCTAssertNil(FaultTest.resumePoint(fresh))
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: dir), [4, 6])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: previous.path).sorted(),
                       ["ckpt-0000000004.mopt", "ckpt-0000000008.mopt", "ckpt-0000000012.mopt"])

        let resumed = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout)
        assertSucceeded(resumed, "the resumed run")
        XCTAssertEqual(FaultTest.resumePoint(resumed)?.iteration, 6, "\(resumed)")
        try assertCompleteMetrics(runDirectory: dir)
        try assertReferencePhi(runDirectory: dir, "started over, then resumed")
    }

    /// A --no-resume start that cannot read its data set fails before the earlier run is set
    /// aside (it moved the checkpoints and the log, then failed to load the data: a rerun without
    /// --no-resume then started over instead of resuming).
    func testNoResumeWithMissingDataLeavesTheEarlierRunInPlace() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("no-resume-data")
        try FaultTest.installReferenceCheckpoints([4], runDirectory: dir)
        let empty = try makeRunDirectory("no-data")
        let refused = try MPIJob.run(np: 2, args: ["train", "--task", "mlp", "--iterations", "1", "--unroll", "2", "--horizon", "2",
                                                   "--meta-batch", "2", "--run-dir", dir.path, "--no-resume", "--data-dir", empty.path],
                                     timeout: FaultTest.jobTimeout)
        XCTAssertEqual(refused.status, 1, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("train-images-idx3-ubyte.gz: no such file"), "\(refused)")
        XCTAssertFalse(refused.stderr.contains("not resuming"), "\(refused)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("checkpoints.previous").path))
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: dir), [4])
    }

    /// A directory with the name of a checkpoint the run will write was passed over on loading,
    /// then killed the run when it got there (status 1, which restart.sh retried, redoing the
    /// same work each time). Refused at the start with 65; an entry at an earlier step is not.
    func testAnEntryWhereALaterCheckpointGoesIsRefusedAtTheStart() throws {
        let dir = try makeRunDirectory("blocked")
        assertSucceeded(try MPIJob.runSingleton(args: FaultTest.trainArguments(runDirectory: dir, iterations: 4),
                                                timeout: FaultTest.jobTimeout), "the first run")
        let blocking = FaultTest.checkpointURL(runDirectory: dir, step: 8)
        try FileManager.default.createDirectory(at: blocking, withIntermediateDirectories: false)
        let refused = try MPIJob.runSingleton(args: FaultTest.trainArguments(runDirectory: dir, iterations: 12),
                                              timeout: FaultTest.jobTimeout)
        XCTAssertEqual(refused.status, 65, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("\(blocking.path): is a directory; only a regular file is replaced, where this run may write its checkpoint of meta-step 8"), "\(refused)")
        XCTAssertEqual(try FaultTest.metricIterations(runDirectory: dir), Array(0..<4), "nothing trained")
        // A link to nothing, which the write refuses too.
        let dangling = FaultTest.checkpointURL(runDirectory: dir, step: 12)
        try FileManager.default.createSymbolicLink(atPath: dangling.path, withDestinationPath: "/nonexistent/ckpt")
        let refusedLink = try MPIJob.runSingleton(args: FaultTest.trainArguments(runDirectory: dir, iterations: 12),
                                                  timeout: FaultTest.jobTimeout)
        XCTAssertEqual(refusedLink.status, 65, "\(refusedLink)")
        XCTAssertTrue(refusedLink.stderr.contains("is a directory") || refusedLink.stderr.contains("\(dangling.path): is a symbolic link to a missing file"), "\(refusedLink)")
        try FileManager.default.removeItem(at: blocking)
        let linkOnly = try MPIJob.runSingleton(args: FaultTest.trainArguments(runDirectory: dir, iterations: 12),
                                               timeout: FaultTest.jobTimeout)
        XCTAssertEqual(linkOnly.status, 65, "\(linkOnly)")
        XCTAssertTrue(linkOnly.stderr.contains("\(dangling.path): is a symbolic link to a missing file (a write follows a link only to a regular file), where this run may write"), "\(linkOnly)")
        try FileManager.default.removeItem(at: dangling)
        // A run that ends before meta-step 8 never writes there, and an entry whose name only
        // parses as a step (not the fixed-width name a run writes) is never written to.
        try FileManager.default.createDirectory(at: FaultTest.checkpointDirectory(dir).appendingPathComponent("ckpt-6.mopt"),
                                                withIntermediateDirectories: false)
        assertSucceeded(try MPIJob.runSingleton(args: FaultTest.trainArguments(runDirectory: dir, iterations: 6),
                                                timeout: FaultTest.jobTimeout), "a run that stops short of it")
    }

    /// --no-resume sets the earlier run's best optimizer aside with its logs also when the new
    /// run does not validate (it stayed, beside no scores).
    func testNoResumeWithoutValidationSetsTheEarlierBestAside() throws {
        let dir = try makeRunDirectory("no-resume-best")
        let best = dir.appendingPathComponent("best-optimizer.json"), validation = dir.appendingPathComponent("validation.jsonl")
        assertSucceeded(try MPIJob.runSingleton(args: FaultTest.trainArguments(runDirectory: dir, iterations: 4, extra: ["--validate-every", "2"]),
                                                timeout: FaultTest.jobTimeout), "the validated run")
        let earlierBest = try Data(contentsOf: best), earlierScores = try Data(contentsOf: validation)
        let fresh = try MPIJob.runSingleton(args: FaultTest.trainArguments(runDirectory: dir, iterations: 2, extra: ["--validate-every", "0", "--no-resume"]),
                                            timeout: FaultTest.jobTimeout)
        assertSucceeded(fresh, "the --no-resume run without validation")
        XCTAssertFalse(FileManager.default.fileExists(atPath: best.path), "\(fresh)")
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("best-optimizer.previous.json")), earlierBest)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("validation.previous.jsonl")), earlierScores)
    }

    /// Ways to damage a checkpoint file, and the reason the loader gives.
    private static let corruptions: [(name: String, reason: String, damage: @Sendable (inout Data) -> Void)] = [
        ("truncated", "truncated: expected", { $0 = $0.prefix($0.count - 100) }),
        ("flipped payload byte", "payload checksum mismatch", { $0[$0.count / 2] ^= 0x01 }),
        ("flipped header byte", "header checksum mismatch", { $0[20] ^= 0x80 }),
        ("wrong magic", "not a checkpoint", { $0.replaceSubrange(0..<8, with: Data("NOTACKPT".utf8)) }),
    ]

    private func corrupt(_ url: URL, _ damage: (inout Data) -> Void) throws {
        var data = try Data(contentsOf: url)
        damage(&data)
        try data.write(to: url)
    }

    /// A damaged newest checkpoint is skipped with a warning naming it and the reason; the run
    /// falls back to the previous one and still ends with the uninterrupted φ.
    func testCorruptNewestCheckpointFallsBackToThePreviousOne() throws {
        try requireMPIRunForFaultTests()
        for corruption in Self.corruptions {
            let dir = try makeRunDirectory("corrupt")
            try FaultTest.installReferenceCheckpoints([4, 8, 12], runDirectory: dir)
            let newest = FaultTest.checkpointURL(runDirectory: dir, step: 12)
            let previous = FaultTest.checkpointURL(runDirectory: dir, step: 8)
            try corrupt(newest, corruption.damage)
            let result = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout)
            assertSucceeded(result, corruption.name)
            let warning = result.stderr.split(separator: "\n").first { $0.contains("warning") && $0.contains("skipped ") }
            XCTAssertNotNil(warning, "\(corruption.name): no warning:\n\(result)")
            if let warning {
                XCTAssertTrue(warning.contains("skipped \(newest.path): \(corruption.reason)"), "\(corruption.name): \(warning)")
                XCTAssertTrue(warning.hasSuffix("fell back to \(previous.path)"), "\(corruption.name): \(warning)")
            }
            XCTAssertEqual(FaultTest.resumePoint(result)?.iteration, 8, "\(corruption.name):\n\(result)")
            XCTAssertEqual(try FaultTest.metricIterations(runDirectory: dir), [8, 9, 10, 11], corruption.name)
            try assertReferencePhi(runDirectory: dir, corruption.name)
        }
    }

    /// Two damaged checkpoints: the run falls back past both to the oldest.
    func testFallsBackPastSeveralCorruptCheckpoints() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("corrupt-two")
        try FaultTest.installReferenceCheckpoints([4, 8, 12], runDirectory: dir)
        try corrupt(FaultTest.checkpointURL(runDirectory: dir, step: 12), Self.corruptions[0].damage)
        try corrupt(FaultTest.checkpointURL(runDirectory: dir, step: 8), Self.corruptions[1].damage)
        let result = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout)
        assertSucceeded(result, "two corrupt checkpoints")
        XCTAssertEqual(result.stderr.components(separatedBy: "; fell back to \(FaultTest.checkpointURL(runDirectory: dir, step: 4).path)").count - 1,
                       2, "\(result)")
        XCTAssertEqual(FaultTest.resumePoint(result)?.iteration, 4, "\(result)")
        try assertReferencePhi(runDirectory: dir, "two corrupt checkpoints")
    }

    /// Nothing usable: every rank prints the same error naming every file and why it was
    /// rejected, the job exits non-zero promptly, and no file is removed or written.
    func testAllCheckpointsCorruptFailsClearlyOnEveryRank() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("corrupt-all")
        try FaultTest.installReferenceCheckpoints([4, 8, 12], runDirectory: dir)
        for (step, corruption) in zip([4, 8, 12], Self.corruptions) {
            try corrupt(FaultTest.checkpointURL(runDirectory: dir, step: step), corruption.damage)
        }
        let damaged = try [4, 8, 12].map { try Data(contentsOf: FaultTest.checkpointURL(runDirectory: dir, step: $0)) }

        let result = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout,
                                    perRankOutput: true)
        XCTAssertFalse(result.timedOut, "the job hung:\n\(result)")
        XCTAssertEqual(result.status, 65, "no restart would find a usable checkpoint:\n\(result)")
        XCTAssertLessThan(result.seconds, FaultTest.failureDeadline, "\(result)")
        XCTAssertEqual(Set(result.rankStderr.keys), [0, 1], "per-rank output missing:\n\(result)")
        for rank in 0..<2 {
            let text = result.rankStderr[rank] ?? ""
            XCTAssertTrue(text.contains("metaopt-dist: rank \(rank): \(FaultTest.checkpointDirectory(dir).path): no usable checkpoint among 3 file(s):"),
                          "rank \(rank):\n\(text)")
            for (step, corruption) in zip([4, 8, 12], Self.corruptions) {
                XCTAssertTrue(text.contains("\(FaultTest.checkpointURL(runDirectory: dir, step: step).path): \(corruption.reason)"),
                              "rank \(rank) does not name ckpt \(step):\n\(text)")
            }
        }
        XCTAssertFalse(result.stderr.contains("MPI_ABORT"), "an agreed failure ends without MPI_Abort:\n\(result)")
        XCTAssertEqual(try [4, 8, 12].map { try Data(contentsOf: FaultTest.checkpointURL(runDirectory: dir, step: $0)) }, damaged,
                       "the damaged files must be left as they were")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("optimizer.json").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("metrics.jsonl").path))

        let singleton = try MPIJob.runSingleton(args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout)
        XCTAssertEqual(singleton.status, 65, "\(singleton)")
        XCTAssertTrue(singleton.stderr.contains("no usable checkpoint among 3 file(s)"), "\(singleton)")
    }

    /// A temporary file left by an interrupted write is never loaded, even when it holds a valid,
    /// newer checkpoint: the run resumes from the newest real checkpoint, warns about the file, and
    /// its next checkpoint write removes it.
    func testLeftoverTemporaryFileIsNeverLoaded() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("leftover")
        try FaultTest.installReferenceCheckpoints([4, 8], runDirectory: dir)
        let leftover = FaultTest.checkpointDirectory(dir).appendingPathComponent(".ckpt-0000000012.mopt.4242-deadbeef.tmp")
        try FaultTest.reference().checkpoints[12]!.write(to: leftover)
        let result = try MPIJob.run(np: 2, args: FaultTest.trainArguments(runDirectory: dir), timeout: FaultTest.jobTimeout)
        assertSucceeded(result, "resume next to a temporary file")
        XCTAssertTrue(result.stderr.contains("ignored leftover temporary file \(leftover.path)"), "\(result)")
        XCTAssertEqual(FaultTest.resumePoint(result)?.iteration, 8, "\(result)")
        XCTAssertEqual(try FaultTest.metricIterations(runDirectory: dir), [8, 9, 10, 11])
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover.path), "the next write removes leftovers")
        try assertReferencePhi(runDirectory: dir, "next to a temporary file")
    }
}

/// SIGTERM (and SIGUSR1 under mpirun) stop a run at the next horizon boundary with a checkpoint
/// and exit status 0; running again continues to the φ of an uninterrupted run.
///
/// Open MPI 4's mpirun answers SIGTERM by killing the job itself (SIGCONT, SIGTERM to every rank
/// after `odls_base_sigkill_timeout` seconds, default 1, SIGKILL after as long again, exit status
/// 1), so under mpirun the clean way is SIGUSR1 to mpirun (forwarded to every rank as is) or
/// SIGTERM to the ranks themselves (what Slurm does for srun-launched ranks).
final class ResumeAfterStopSignalTests: XCTestCase {
    /// Starts a long run, waits for its first checkpoint, lets `stop` signal it, and checks that it
    /// stopped cleanly at a horizon boundary. Then resumes it for 4 more meta-steps and compares φ
    /// with an uninterrupted run of as many steps. `np` nil: a singleton.
    @discardableResult
    private func assertStopsAndResumes(np: Int?, expectCleanExit: Bool = true, _ stop: (BackgroundJob) throws -> Void,
                                       file: StaticString = #filePath, line: UInt = #line) throws -> MPIJobResult {
        let dir = try makeRunDirectory("stop")
        let long = FaultTest.trainArguments(runDirectory: dir, iterations: 1_000_000)
        let job = try np.map { try BackgroundJob.mpirun(np: $0, args: long) } ?? BackgroundJob.singleton(args: long)
        let started = job.waitUntil(timeout: 30) { !FaultTest.checkpointSteps(runDirectory: dir).isEmpty }
        XCTAssertTrue(started, "no first checkpoint:\n\(job.stderr)", file: file, line: line)
        try stop(job)
        let stopped = job.finish(timeout: FaultTest.jobTimeout)
        XCTAssertFalse(stopped.timedOut, "the run did not stop:\n\(stopped)", file: file, line: line)
        XCTAssertLessThan(stopped.seconds, FaultTest.jobTimeout / 2, file: file, line: line)
        if expectCleanExit {
            XCTAssertEqual(stopped.status, 0, "\(stopped)", file: file, line: line)
        }
        // The stop line names the meta-step; the checkpoint there is at a horizon boundary.
        let marker = "stopped at meta-step "
        let k = try XCTUnwrap(stopped.stderr.range(of: marker).flatMap { Int(stopped.stderr[$0.upperBound...].prefix { $0.isNumber }) },
                              "no stop line:\n\(stopped)", file: file, line: line)
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: dir).last, k, file: file, line: line)
        XCTAssertEqual(k % 2, 0, "2 truncations per horizon: boundaries are even", file: file, line: line)
        let checkpoint = FaultTest.checkpointURL(runDirectory: dir, step: k)
        XCTAssertEqual(FaultTest.checkpointCounter(checkpoint, "truncation"), 0, file: file, line: line)
        XCTAssertEqual(try FaultTest.metricIterations(runDirectory: dir), Array(0..<k), file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("optimizer.json").path),
                       file: file, line: line)

        // Resume to k + 4 (only --iterations may change on resume) and compare with an
        // uninterrupted run of k + 4 meta-steps.
        let total = k + 4
        func run(_ args: [String]) throws -> MPIJobResult {
            try np.map { try MPIJob.run(np: $0, args: args, timeout: FaultTest.jobTimeout) }
                ?? MPIJob.runSingleton(args: args, timeout: FaultTest.jobTimeout)
        }
        let resumed = try run(FaultTest.trainArguments(runDirectory: dir, iterations: total))
        assertSucceeded(resumed, "the resumed run", file: file, line: line)
        XCTAssertEqual(FaultTest.resumePoint(resumed)?.iteration, k, "\(resumed)", file: file, line: line)
        try assertCompleteMetrics(runDirectory: dir, iterations: total, file: file, line: line)
        let referenceDir = try makeRunDirectory("stop-reference")
        assertSucceeded(try run(FaultTest.trainArguments(runDirectory: referenceDir, iterations: total)), "the reference run",
                        file: file, line: line)
        XCTAssertEqual(try FaultTest.phiBits(runDirectory: dir), try FaultTest.phiBits(runDirectory: referenceDir),
                       "φ after stop and resume differs from an uninterrupted run of \(total) meta-steps", file: file, line: line)
        return stopped
    }

    /// launch/local.sh runs the program from the repository root and names the caller's
    /// directory (METAOPT_LAUNCH_DIR): config.json keeps a relative --run-dir (and --output)
    /// relative to the root, so "resume with: … --config ABS/config.json" alone started a fresh
    /// run under the caller's directory. The line goes to the root first, and resumes from there.
    func testTheResumeLineResumesFromTheCallersDirectory() throws {
        let scratch = try FaultTest.makeTemporaryDirectory("launch-dir")
        addTeardownBlock { try? FileManager.default.removeItem(at: scratch) }
        let root = scratch.appendingPathComponent("root"), caller = scratch.appendingPathComponent("caller")
        for folder in [root, caller] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let binary = try MPIJob.binaryURL().path
        let args = FaultTest.trainArguments(runDirectory: URL(fileURLWithPath: "/unused"), iterations: 1_000_000,
                                            extra: ["--output", "out/o.json"])
            .map { $0 == "/unused" ? "runs/z" : $0 }
        let job = try BackgroundJob(executable: URL(fileURLWithPath: "/bin/sh"),
                                    arguments: ["-c", "cd \"$1\" && shift && exec \"$@\"", "sh", root.path, binary] + args,
                                    environment: ["METAOPT_LAUNCH_DIR": caller.path,
                                                  "METAOPT_STOPPED_FILE": scratch.appendingPathComponent("stopped").path])
        let run = root.appendingPathComponent("runs/z")
        XCTAssertTrue(job.waitUntil(timeout: 30) { !FaultTest.checkpointSteps(runDirectory: run).isEmpty }, job.stderr)
        job.signal(SIGUSR1)
        let stopped = job.finish(timeout: FaultTest.jobTimeout)
        XCTAssertEqual(stopped.status, 0, "\(stopped)")
        // The file by which launch/slurm.sbatch tells a stop from the run's end (both exit 0).
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("stopped").path), "\(stopped)")
        let line = try XCTUnwrap(stopped.stdout.split(separator: "\n").last.map(String.init), "\(stopped)")
        XCTAssertEqual(line, "resume with: cd \(root.path) && \(binary) train --config runs/z/config.json")
        let command = String(line.dropFirst("resume with: ".count))
        let resumed = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                            arguments: ["-c", "cd \"$1\" && \(command) --iterations \"$ITER\"", "sh", caller.path],
                                            timeout: FaultTest.jobTimeout,
                                            environment: ["ITER": String((FaultTest.checkpointSteps(runDirectory: run).last ?? 0) + 4)])
        XCTAssertEqual(resumed.status, 0, "\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("resuming from \(run.path)/checkpoints/"), "\(resumed)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("out/o.json").path), "\(resumed)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: caller.appendingPathComponent("runs").path), "a fresh run under the caller's directory")
    }

    /// launch/slurm.sbatch requeues a job whose ranks stopped after SIGUSR1 (METAOPT_STOPPED_FILE);
    /// a stop by SIGTERM or SIGINT ends it for good, so rank 0 leaves the file alone.
    func testOnlyAStopBySIGUSR1IsMarkedForARequeue() throws {
        let scratch = try FaultTest.makeTemporaryDirectory("stopped-file")
        addTeardownBlock { try? FileManager.default.removeItem(at: scratch) }
        for (signal, marked) in [(SIGTERM, false), (SIGUSR1, true)] {
            let run = scratch.appendingPathComponent("run-\(signal)"), marker = scratch.appendingPathComponent("stopped-\(signal)")
            let job = try BackgroundJob(executable: try MPIJob.binaryURL(),
                                        arguments: FaultTest.trainArguments(runDirectory: run, iterations: 1_000_000),
                                        environment: ["METAOPT_STOPPED_FILE": marker.path])
            XCTAssertTrue(job.waitUntil(timeout: 30) { !FaultTest.checkpointSteps(runDirectory: run).isEmpty }, job.stderr)
            job.signal(signal)
            let stopped = job.finish(timeout: FaultTest.jobTimeout)
            XCTAssertEqual(stopped.status, 0, "\(stopped)")
            XCTAssertTrue(stopped.stderr.contains("stopped at meta-step"), "\(stopped)")
            XCTAssertEqual(FileManager.default.fileExists(atPath: marker.path), marked, "signal \(signal): \(stopped)")
        }
    }

    func testSIGTERMStopsSingletonAtHorizonBoundary() throws {
        try assertStopsAndResumes(np: nil) { $0.signal(SIGTERM) }
    }

    func testSIGINTStopsSingletonAtHorizonBoundary() throws {
        try assertStopsAndResumes(np: nil) { $0.signal(SIGINT) }
    }

    /// mpirun forwards SIGUSR1 to every rank; the job stops cleanly with status 0.
    /// The resume line starts the job as it was started: on one rank, the resumed run took twice
    /// as long.
    func testSIGUSR1ToMPIRunStopsEveryRank() throws {
        try requireMPIRunForFaultTests()
        let stopped = try assertStopsAndResumes(np: 2) { $0.signal(SIGUSR1) }
        let line = try XCTUnwrap(stopped.stdout.split(separator: "\n").last.map(String.init), "\(stopped)")
        XCTAssertTrue(line.hasPrefix("resume with: mpirun "), line)
        XCTAssertTrue(line.contains(" -np 2 \(try MPIJob.binaryURL().path) train --config /"), line)
    }

    /// SIGTERM to one rank only (as a batch system might deliver it): the ranks agree on the stop
    /// through an allreduce, and mpirun exits 0.
    func testSIGTERMToOneRankStopsEveryRank() throws {
        try requireMPIRunForFaultTests()
        let binary = try MPIJob.binaryURL().path
        try assertStopsAndResumes(np: 2) { job in
            let ranks = job.ranks(binary: binary)
            XCTAssertEqual(ranks.count, 2, "ranks of the job: \(ranks)")
            kill(try XCTUnwrap(ranks.last), SIGTERM)
        }
    }

    /// SIGTERM to every rank, as Slurm delivers it to srun-launched tasks: not from mpirun, so no
    /// notice of mpirun's kill.
    func testSIGTERMToEveryRankStopsCleanly() throws {
        try requireMPIRunForFaultTests()
        let binary = try MPIJob.binaryURL().path
        let stopped = try assertStopsAndResumes(np: 2) { job in
            for pid in job.ranks(binary: binary) { kill(pid, SIGTERM) }
        }
        XCTAssertFalse(stopped.stderr.contains("mpirun is ending the job"), "\(stopped)")
    }

    /// SIGINT to mpirun (Ctrl-C): mpirun ends the job itself, SIGTERM to the ranks about a second
    /// later and SIGKILL a second after that, which a meta-step longer than that does not survive
    /// (here rank 0 stalls 60 s in meta-step 6). Every meta-step since the newest checkpoint was
    /// lost (here all: --checkpoint-every is past the run), and rank 0's only line about it came
    /// after the meta-step under way, if at all. Now it says so at once and writes the last horizon
    /// boundary (6) from another thread; the run resumes from it to the φ of an uninterrupted run.
    func testCtrlCToMPIRunKeepsTheLastHorizonBoundary() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("ctrl-c")
        func arguments(iterations: Int, runDirectory: URL) throws -> [String] {
            var args = FaultTest.trainArguments(runDirectory: runDirectory, iterations: iterations)
            // Few progress lines: once mpirun is ending the job it forwards the ranks' output no
            // more, and a rank writing a line a millisecond would block on the full pipe.
            args[try XCTUnwrap(args.firstIndex(of: "--progress-every")) + 1] = "1000000"
            args[try XCTUnwrap(args.firstIndex(of: "--checkpoint-every")) + 1] = "1000000"
            return args
        }
        /// A job whose rank 0 stalls in meta-step 6, signalled by `stop` once it is there.
        func stalledJob(_ runDirectory: URL, _ stop: (BackgroundJob) throws -> Void) throws -> MPIJobResult {
            let job = try BackgroundJob.mpirun(np: 2, args: try arguments(iterations: 1_000_000, runDirectory: runDirectory)
                                               + ["--inject-fault", "stall@6:0"])
            XCTAssertTrue(job.waitUntil(timeout: 30) { ((try? FaultTest.metricIterations(runDirectory: runDirectory)) ?? []).count >= 6 },
                          job.stderr)
            usleep(200_000)  // into the stall
            try stop(job)
            let result = job.finish(timeout: FaultTest.jobTimeout)
            XCTAssertFalse(result.timedOut, "\(result)")
            return result
        }
        let result = try stalledJob(dir) { $0.signal(SIGINT) }
        let notice = "metaopt-dist: mpirun is ending the job (after Ctrl-C or SIGTERM to mpirun, or because another rank ended: see mpirun's message): it kills the ranks about a second after this; rank 0 writes the last horizon boundary as a checkpoint"
        XCTAssertEqual(result.stderr.components(separatedBy: notice).count - 1, 1, "rank 0 alone, once:\n\(result)")
        XCTAssertTrue(result.stderr.contains("metaopt-dist: wrote the checkpoint of meta-step 6, the last horizon boundary, before mpirun's kill"),
                      "\(result)")
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: dir), [6], "\(result)")

        // A clean stop asked for first (SIGUSR1, forwarded to every rank), then Ctrl-C when the
        // horizon takes too long: answered all the same (the first signal kept the second from it).
        let patient = try makeRunDirectory("ctrl-c-after-usr1")
        let afterUSR1 = try stalledJob(patient) { job in
            job.signal(SIGUSR1)
            sleep(2)
            job.signal(SIGINT)
        }
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: patient), [6], "\(afterUSR1)")

        // A run directory moved away (a new run may start at the old path): no checkpoint there.
        let moving = try makeRunDirectory("ctrl-c-moved")
        let moved = moving.deletingLastPathComponent().appendingPathComponent(moving.lastPathComponent + ".moved")
        addTeardownBlock { try? FileManager.default.removeItem(at: moved) }
        let afterMove = try stalledJob(moving) { job in
            try FileManager.default.moveItem(at: moving, to: moved)
            job.signal(SIGINT)
        }
        XCTAssertTrue(afterMove.stderr.contains("could not write the last horizon boundary's checkpoint before mpirun's kill"), "\(afterMove)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: moving.appendingPathComponent("checkpoints").path), "\(afterMove)")
        XCTAssertEqual(FaultTest.checkpointSteps(runDirectory: moved), [], "\(afterMove)")

        let resumed = try MPIJob.run(np: 2, args: try arguments(iterations: 10, runDirectory: dir), timeout: FaultTest.jobTimeout)
        assertSucceeded(resumed, "the resumed run")
        XCTAssertEqual(FaultTest.resumePoint(resumed)?.iteration, 6, "\(resumed)")
        let referenceDir = try makeRunDirectory("ctrl-c-reference")
        assertSucceeded(try MPIJob.run(np: 2, args: try arguments(iterations: 10, runDirectory: referenceDir), timeout: FaultTest.jobTimeout),
                        "the reference run")
        XCTAssertEqual(try FaultTest.phiBits(runDirectory: dir), try FaultTest.phiBits(runDirectory: referenceDir))
    }
}
