import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// #20 findings 1, 2, 8, 9 and 12 through the program: what a run refuses before it trains (on
/// every rank, without a hang), and what it no longer refuses.
final class RunHardeningTests: XCTestCase {
    /// A job of a few seconds with a horizon boundary every 2 meta-steps.
    static let job = ["--meta-batch", "8", "--block-size", "2", "--unroll", "5", "--horizon", "10", "--iterations", "4",
                      "--seed", "3", "--checkpoint-every", "2"]

    func train(np: Int?, _ dir: URL, _ extra: [String], resume: Bool = false) throws -> MPIJobResult {
        let args = ["train"] + Self.job + ["--run-dir", dir.path, resume ? "--resume" : "--no-resume"] + extra
        if let np {
            try DistributedTrain.requireMPIRun()
            return try MPIJob.run(np: np, args: args, timeout: DistributedTrain.jobTimeout)
        }
        return try MPIJob.runSingleton(args: args, timeout: DistributedTrain.jobTimeout)
    }

    func exists(_ url: URL, _ name: String) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path)
    }

    /// Finding 2: a run directory locked by another process is refused on both ranks with the
    /// holder's record, before a file is written; a lock file whose holder is gone does not block.
    func testALockedRunDirectoryIsRefusedOnEveryRank() throws {
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let lockPath = dir.appendingPathComponent("train.lock").path
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let record = "pid \(getpid()) on host test-holder since now\n"
        _ = record.withCString { write(fd, $0, strlen($0)) }
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        let refused = try train(np: 2, dir, [])
        XCTAssertFalse(refused.timedOut, "\(refused)")
        XCTAssertNotEqual(refused.status, 0, "\(refused)")
        for rank in 0..<2 {
            XCTAssertTrue(refused.stderr.contains("rank \(rank): another train run is using the run directory \(dir.path) (pid \(getpid()) on host test-holder"),
                          "rank \(rank) names the holder:\n\(refused)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["train.lock"], "nothing written")
        close(fd)  // the holder ends: its record stays, the lock does not
        let after = try train(np: 2, dir, [])
        XCTAssertEqual(after.status, 0, "\(after)")
        XCTAssertTrue(exists(dir, "optimizer.json"))
    }

    /// Findings 1 and 8: an --output that cannot be written is refused before training (it used
    /// to fail after it, or replace a FIFO with a file), with status 65, which launch/restart.sh
    /// does not retry (a restart would meet it again); a symbolic link is followed; a 245-byte
    /// name works.
    func testOutputsAreCheckedBeforeTrainingAndRespected() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let fifo = scratch.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let directory = scratch.appendingPathComponent("a-directory")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (output, message) in [(directory.path, "is a directory"), (fifo, "is a FIFO")] {
            let dir = scratch.appendingPathComponent("run-\(UUID().uuidString)")
            let result = try train(np: 2, dir, ["--output", output])
            XCTAssertFalse(result.timedOut, "\(result)")
            XCTAssertEqual(result.status, 65, "\(result)")
            XCTAssertTrue(result.stderr.contains("\(output): \(message)"), "\(output):\n\(result)")
            XCTAssertFalse(exists(dir, "metrics.jsonl"), "refused before training:\n\(result)")
        }
        var st = stat()
        XCTAssertEqual(lstat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO, "the FIFO is still a FIFO")

        let target = scratch.appendingPathComponent("target.json")
        try Data("old".utf8).write(to: target)
        let link = scratch.appendingPathComponent("link.json")
        XCTAssertEqual(symlink(target.path, link.path), 0)
        let long = scratch.appendingPathComponent(String(repeating: "o", count: 240) + ".json")
        for output in [link, long] {
            let result = try train(np: nil, scratch.appendingPathComponent("run-\(UUID().uuidString)"), ["--output", output.path])
            XCTAssertEqual(result.status, 0, "\(output.lastPathComponent):\n\(result)")
        }
        XCTAssertEqual(lstat(link.path, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFLNK, "the link stays a link")
        XCTAssertTrue(try String(contentsOf: target, encoding: .utf8).contains("metaopt-dist"), "its target holds the optimizer")
        XCTAssertTrue(FileManager.default.fileExists(atPath: long.path))
    }

    /// Finding 1 through export: `--output` naming a FIFO (or, in the issue, /dev/full) is refused
    /// and left as it is (it used to be replaced by a regular file); '' is refused.
    func testExportRespectsItsOutput() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let dir = scratch.appendingPathComponent("run")
        XCTAssertEqual(try train(np: nil, dir, []).status, 0)
        let optimizer = dir.appendingPathComponent("optimizer.json").path
        let fifo = scratch.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let result = try MPIJob.runSingleton(args: ["export", "--optimizer", optimizer, "--output", fifo])
        XCTAssertEqual(result.status, 65, "\(result)")
        XCTAssertTrue(result.stderr.contains("\(fifo): is a FIFO (named pipe); only a regular file is replaced"), "\(result)")
        var st = stat()
        XCTAssertEqual(lstat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO, "the FIFO is still a FIFO")
        let empty = try MPIJob.runSingleton(args: ["export", "--optimizer", optimizer, "--output", ""])
        XCTAssertEqual(empty.status, 64, "\(empty)")
        XCTAssertTrue(empty.stderr.contains("--output must not be empty"), "\(empty)")
        // The optimizer file itself, by another spelling or through a hard link, is refused and kept.
        let before = try Data(contentsOf: URL(fileURLWithPath: optimizer))
        let hardLink = scratch.appendingPathComponent("hard.json").path
        XCTAssertEqual(link(optimizer, hardLink), 0)
        for output in [dir.path + "/./optimizer.json", hardLink] {
            let itself = try MPIJob.runSingleton(args: ["export", "--optimizer", optimizer, "--output", output])
            XCTAssertEqual(itself.status, 64, "\(itself)")
            XCTAssertTrue(itself.stderr.contains("is the optimizer file itself"), "\(itself)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: optimizer)), before)
    }

    /// Relative paths from a working directory deeper than 1,024 bytes (Foundation's own getcwd
    /// buffer): every write failed with "The specified URL type isn't supported", evaluate's and
    /// bench's after all their work. Train, export and evaluate there, by relative paths.
    func testRelativePathsWorkInADeepWorkingDirectory() throws {
        var deep = try DistributedTrain.scratchDirectory(for: self)
        while deep.path.utf8.count < 1_300 { deep.appendPathComponent(String(repeating: "d", count: 200)) }
        try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true)
        let binary = try MPIJob.binaryURL().path
        let script = """
            cd "$1" && shift && "$@" train \(DistributedTrain.smallJob.joined(separator: " ")) --run-dir r --validate-every 0 \
            && "$@" export --optimizer r/optimizer.json --output x.json \
            && "$@" evaluate --optimizer r/optimizer.json --functions 1 --steps 2 --tuning-functions 1 --baselines sgd --out e
            """
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                           arguments: ["-c", script, "sh", deep.path, binary], timeout: 120)
        XCTAssertEqual(result.status, 0, "\(result)")
        for file in ["r/optimizer.json", "x.json", "e/report.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: deep.appendingPathComponent(file).path), file)
        }
    }

    /// A singleton keeps Open MPI's session files under TMPDIR: one that cannot be a directory
    /// gave Open MPI's page of text and no word of TMPDIR; one whose parents are missing is made
    /// (as Open MPI does), and Open MPI's own setting of the base wins over TMPDIR.
    func testASingletonsTemporaryDirectoryIsNamed() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let file = scratch.appendingPathComponent("a-file")
        try Data().write(to: file)
        let job = ["train"] + DistributedTrain.smallJob + ["--no-resume", "--validate-every", "0"]
        let refused = try MPIJob.runSingleton(args: job + ["--run-dir", scratch.appendingPathComponent("r1").path],
                                              environment: ["TMPDIR": file.path])
        XCTAssertEqual(refused.status, 1, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("TMPDIR=\(file.path) is not a directory this user can write to or make"), "\(refused)")
        let nested = scratch.appendingPathComponent("t/a/b")
        XCTAssertEqual(try MPIJob.runSingleton(args: job + ["--run-dir", scratch.appendingPathComponent("r2").path],
                                               environment: ["TMPDIR": nested.path]).status, 0)
        XCTAssertEqual(try MPIJob.runSingleton(args: job + ["--run-dir", scratch.appendingPathComponent("r3").path],
                                               environment: ["TMPDIR": file.path, "OMPI_MCA_orte_tmpdir_base": scratch.path]).status, 0)
    }

    /// Finding 9: a torn best-optimizer.json is set aside with a warning; the resume succeeds.
    func testATruncatedBestOptimizerDoesNotStopAResume() throws {
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let validation = ["--validate-every", "2", "--validation-functions", "2"]
        XCTAssertEqual(try train(np: nil, dir, validation).status, 0)
        let best = dir.appendingPathComponent("best-optimizer.json")
        let bytes = try Data(contentsOf: best)
        try bytes.prefix(bytes.count / 2).write(to: best)
        let resumed = try train(np: nil, dir, validation + ["--iterations", "8"], resume: true)
        XCTAssertEqual(resumed.status, 0, "\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("best-optimizer.unreadable.json"), "\(resumed)")
        XCTAssertTrue(resumed.stdout.contains("(meta-step 8)"), "\(resumed)")
    }

    /// Finding 12, resume rules: past --iterations is refused (it wrote φ@6 labelled 4); the
    /// consistency interval and the skip limit may change.
    func testResumeRules() throws {
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        XCTAssertEqual(try train(np: nil, dir, ["--iterations", "6"]).status, 0)
        let optimizer = try Data(contentsOf: dir.appendingPathComponent("optimizer.json"))
        let past = try train(np: 2, dir, ["--iterations", "4"], resume: true)
        XCTAssertEqual(past.status, 65, "a restart would be refused again: \(past)")
        XCTAssertTrue(past.stderr.contains("is at meta-step 6, past --iterations 4"), "\(past)")
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("optimizer.json")), optimizer, "left as it was")
        let changed = try train(np: nil, dir, ["--iterations", "8", "--consistency-every", "3", "--max-skips", "2"], resume: true)
        XCTAssertEqual(changed.status, 0, "\(changed)")
        XCTAssertTrue(changed.stderr.contains("at iteration 6"), "resumed:\n\(changed)")
        // What is no part of the trajectory may change too; a refusal names what differs.
        let output = dir.appendingPathComponent("elsewhere.json")
        let elsewhere = try train(np: 2, dir, ["--iterations", "10", "--checkpoint-every", "4", "--keep-checkpoints", "2", "--progress-every", "3",
                                               "--shards", "1", "--collective-timeout", "100", "--output", output.path], resume: true)
        XCTAssertEqual(elsewhere.status, 0, "\(elsewhere)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.path))
        let refused = try train(np: nil, dir, ["--iterations", "12", "--learning-rate", "0.5"], resume: true)
        XCTAssertEqual(refused.status, 65, "a restart would be refused again: \(refused)")
        XCTAssertTrue(refused.stderr.contains("another configuration: --learning-rate 0.5 here, 0.003 in the checkpoint\n"), "\(refused)")
    }

    /// A deleted best-optimizer.json: the resume warns that validation.jsonl's best is lost, and
    /// the final lines say there is no best optimizer (the line used to be left out).
    func testADeletedBestOptimizerIsReportedOnResume() throws {
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let validation = ["--validate-every", "2", "--validation-functions", "2"]
        XCTAssertEqual(try train(np: nil, dir, validation).status, 0)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("best-optimizer.json"))
        // Resumed at its --iterations: no validation can write a new best.
        let resumed = try train(np: nil, dir, validation, resume: true)
        XCTAssertEqual(resumed.status, 0, "\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("best-optimizer.json is missing although validation.jsonl records a best at meta-step"), "\(resumed)")
        XCTAssertTrue(resumed.stdout.contains("best optimizer by validation: none: validation.jsonl's best, meta-step"), "\(resumed)")
        XCTAssertTrue(resumed.stdout.contains("evaluate with: ") && resumed.stdout.contains("optimizer.json\n"), "\(resumed)")
    }

    /// Finding 12, options: refused with status 64 before anything is written.
    func testOptionsThatDoNotApplyAreRefused() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let dir = scratch.appendingPathComponent("run")
        for (extra, message) in [(["--labels", "3,4"], "--labels does not apply to task quadratic"),
                                 (["--dataset", "mnist"], "--dataset does not apply to task quadratic"),
                                 // A mixture reads the options of its families only.
                                 (["--task", "mix", "--mixture", "quadratic; rosenbrock", "--hidden-layers", "40"],
                                  "--hidden-layers does not apply to task mix"),
                                 (["--preprocessing", "raw", "--p", "5"], "--p does not apply to raw preprocessing")] {
            let result = try train(np: nil, dir, extra)
            XCTAssertEqual(result.status, 64, "\(extra):\n\(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(extra):\n\(result)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path), "\(extra): nothing written")
        }
        // evaluate: they used to be ignored there. Without --task it runs the file's own task, so
        // a task option is refused whatever the task; with --task, as in train.
        XCTAssertEqual(try train(np: nil, dir, []).status, 0)
        let optimizer = dir.appendingPathComponent("optimizer.json").path
        let out = scratch.appendingPathComponent("eval").path
        for (extra, message) in [(["--dimension", "5"], "--dimension describes a task, but without --task evaluate runs the optimizer file's own (quadratic"),
                                 (["--minibatch", "0"], "--minibatch does not apply to task quadratic"),
                                 (["--data-dir", "/nonexistent"], "--data-dir does not apply to task quadratic"),
                                 (["--task", "quadratic", "--labels", "1,2"], "--labels does not apply to task quadratic"),
                                 (["--task", "quadratic", "--data-dir", "/nonexistent"], "--data-dir does not apply to task quadratic"),
                                 (["--task", "rosenbrock", "--fc-layers", "0"], "--fc-layers does not apply to task rosenbrock"),
                                 (["--task", "quadratic", "--dimension", "0"], "dimension must be positive")] {
            let result = try MPIJob.runSingleton(args: ["evaluate", "--optimizer", optimizer, "--out", out] + extra)
            XCTAssertEqual(result.status, 64, "\(extra):\n\(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(extra) should say \"\(message)\":\n\(result)")
            XCTAssertTrue(result.stderr.contains("Usage: metaopt-dist evaluate"), "\(extra):\n\(result)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(extra): nothing written")
        }
        try FileManager.default.removeItem(at: dir)
        // A rank the job does not have: every rank says so, the job ends with the usage status
        // (it was 1, which restart.sh retried), nothing is trained.
        let fault = try train(np: 2, dir, ["--inject-fault", "kill@2:5"])
        XCTAssertFalse(fault.timedOut, "\(fault)")
        XCTAssertEqual(fault.status, 64, "\(fault)")
        XCTAssertTrue(fault.stderr.contains("rank 1: --inject-fault kill@2:5 names rank 5, but the job has 2 rank(s)"), "\(fault)")
        XCTAssertFalse(exists(dir, "metrics.jsonl"), "\(fault)")
    }

    /// A task option that every mixture component reading it sets itself was accepted and unused
    /// (`--mixture "mlp hidden-layers=40" --hidden-layers 30`); one that some component takes from
    /// the command line, or set to the same value, is fine, and config.json replays the run.
    func testAMixtureOptionThatEveryComponentSetsIsRefused() throws {
        let refused = try MPIJob.runSingleton(args: ["train", "--task", "mix", "--mixture", "mlp hidden-layers=40",
                                                     "--hidden-layers", "30", "--print-config"], timeout: 60)
        XCTAssertEqual(refused.status, 64, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("--hidden-layers is set by every component of the mixture that reads it, so it would be ignored"),
                      "\(refused)")
        for mixture in ["quadratic dimension=4; rosenbrock", "quadratic dimension=30"] {
            let accepted = try MPIJob.runSingleton(args: ["train", "--task", "mix", "--mixture", mixture, "--dimension", "30",
                                                          "--print-config"], timeout: 60)
            XCTAssertEqual(accepted.status, 0, "\(mixture): \(accepted)")
        }
    }

    /// Found in the audit of train's options: an empty --data-dir ended in "internal error"
    /// (status 1) when config.json was read back; --hidden-size beside --hidden-sizes was ignored
    /// without a word; --shards 2 with --mode second-order passed --print-config and stopped only
    /// after MPI started. Each is one line naming the options, status 64, nothing written.
    func testEmptyAndContradictoryOptionsAreRefusedBeforeWork() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let dir = scratch.appendingPathComponent("run")
        for (extra, message) in [(["--task", "mlp", "--data-dir", ""], "--data-dir must not be empty"),
                                 (["--task", "mix", "--mixture", "quadratic; mlp data-dir="], "--data-dir must not be empty"),
                                 (["--hidden-size", "30", "--hidden-sizes", "8,8,8"], "--hidden-size and --hidden-sizes both set the LSTM's sizes"),
                                 (["--shards", "2", "--mode", "second-order"], "--shards 2 needs the first-order mode")] {
            for action in [["--print-config"], []] {
                let result = try train(np: nil, dir, extra + action)
                XCTAssertEqual(result.status, 64, "\(extra + action):\n\(result)")
                XCTAssertEqual(result.stderr.split(separator: "\n").first.map(String.init).map { $0.contains(message) }, true,
                               "\(extra + action) should say \"\(message)\":\n\(result)")
                XCTAssertFalse(result.stderr.contains("internal error"), "\(result)")
                XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path), "\(extra + action): nothing written")
            }
        }
        // A run file's hidden-sizes gives way to --hidden-size on the command line (it took
        // precedence, so the flag was ignored), and a recipe's to a file's hidden-size.
        let deep = scratch.appendingPathComponent("deep.json"), flat = scratch.appendingPathComponent("flat.json")
        try Data(#"{"hidden-sizes": "8,12,4"}"#.utf8).write(to: deep)
        try Data(#"{"hidden-size": 6}"#.utf8).write(to: flat)
        let flag = try MPIJob.runSingleton(args: ["train", "--config", deep.path, "--hidden-size", "6", "--print-config"])
        XCTAssertEqual(flag.status, 0, "\(flag)")
        XCTAssertTrue(flag.stdout.contains(#""hidden-size": 6"#) && !flag.stdout.contains("hidden-sizes"), "\(flag)")
        let layered = try MPIJob.runSingleton(args: ["train", "--config", flat.path, "--hidden-sizes", "5,5,5", "--print-config"])
        XCTAssertEqual(layered.status, 0, "\(layered)")
        XCTAssertTrue(layered.stdout.contains(#""hidden-sizes": "5,5,5""#), "\(layered)")
    }

    /// A value out of range says why: the scaling options answered "The value '0' is invalid"
    /// with no reason, a zero layer size "hidden layer sizes must be positive" without the option,
    /// a mixture component's unreadable option named the top-level flag, and a CNN too deep for
    /// its images passed --print-config.
    func testOutOfRangeValuesSayWhy() throws {
        let cases: [([String], String)] = [
            (["--random-scaling=0"], "A must be positive and finite (0 < A ≤ 20)"),
            (["--initial-scaling=-1"], "A must be positive and finite (0 < A ≤ 20)"),
            (["--loss-scaling=nan"], "A must be positive and finite (0 < A ≤ 20)"),
            (["--loss-scaling=1,2,3"], "give a number A (0 < A ≤ 20) or two numbers LO,HI"),
            (["--random-scaling=21"], "the range of log-factors must lie within [−20, 20]"),
            (["--task", "mlp", "--hidden-layers", "20,0"], "hidden layer sizes (--hidden-layers) must be positive (got 0 in [20, 0])"),
            (["--task", "cnn", "--fc-layers", "0"], "fully connected sizes (--fc-layers) must be positive (got 0 in [0])"),
            (["--task", "mix", "--mixture", "quadratic; cnn fc-layers=x"], "mixture component 2 (cnn): fc-layers must be comma-separated whole numbers (got 'x')"),
            (["--task", "mix", "--mixture", "mlp minibatch=q"], "mixture component 1 (mlp): minibatch must be a whole number (got 'q')"),
            // --print-config accepted what training refused once the data set was loaded.
            (["--task", "cnn", "--conv-channels", "8,8,8,8,8"], "the CNN's 5 convolution layers (--conv-channels) each end in a 2×2 pooling, which halves the image: 28×28 images (fashion-mnist) allow at most 4"),
        ]
        for (args, message) in cases {
            let result = try MPIJob.runSingleton(args: ["train", "--print-config"] + args, timeout: 30)
            XCTAssertEqual(result.status, 64, "\(args): \(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(args) should say \"\(message)\":\n\(result)")
        }
        for good in ["0.5", "-1,2"] {
            let result = try MPIJob.runSingleton(args: ["train", "--print-config", "--random-scaling=" + good], timeout: 30)
            XCTAssertEqual(result.status, 0, "\(good): \(result)")
        }
    }

    /// Start-up checks that only some ranks fail (the default memory limit is the host's memory
    /// shared by its ranks, so hosts differ), and a --checkpoint-every that differs between ranks
    /// (it decides when the ranks meet in a checkpoint's collectives): every rank ends at once,
    /// the refusing one saying why. They used to leave the others in the first collective until
    /// the 300 s start-up deadline, or end at the first checkpoint with MPI_ERR_TRUNCATE.
    func testRanksThatDisagreeAtStartUpEndTogether() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        for (rankOneOnly, status, messages) in [
            (["--max-memory", "0.000001"], Int32(64),
             ["rank 1: meta-training 10 coordinates", "more than the 1e-06 GiB available", "rank 0: another rank refused to start"]),
            // Ranks with different arguments would disagree again after a restart: 65.
            (["--checkpoint-every", "4"], Int32(65),
             ["rank 0: the ranks were started with different --checkpoint-every", "rank 1: the ranks were started with different --checkpoint-every"]),
            // Any other setting: the differing rank names it (it said only "different configurations").
            (["--learning-rate", "0.01", "--max-skips", "9"], Int32(65),
             ["rank 1: the ranks were started with different configurations (check that every rank got the same arguments): "
                + "--learning-rate 0.01 here, 0.003 on rank 0; --max-skips 9 here, 5 on rank 0",
              "rank 0: the ranks were started with different configurations (check that every rank got the same arguments); "
                + "the ranks that differ from rank 0 say how"]),
        ] {
            // Rank 1 gets the extra options, rank 0 the job alone.
            let wrapper = scratch.appendingPathComponent("rank-one.sh")
            let extra = rankOneOnly.map { "'\($0)'" }.joined(separator: " ")
            try """
                #!/bin/sh
                if [ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ]; then exec '\(try MPIJob.binaryURL().path)' "$@" \(extra); fi
                exec '\(try MPIJob.binaryURL().path)' "$@"

                """.write(to: wrapper, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
            let dir = scratch.appendingPathComponent("run")
            let args = ["train"] + Self.job + ["--run-dir", dir.path, "--no-resume", "--collective-timeout", "60"]
            let started = Date()
            let result = try MPIJob.run(np: 2, args: args, timeout: DistributedTrain.jobTimeout, program: wrapper)
            XCTAssertFalse(result.timedOut, "\(rankOneOnly): \(result)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 30, "\(rankOneOnly): no rank waits for the deadline")
            XCTAssertEqual(result.status, status, "\(rankOneOnly): \(result)")
            for message in messages {
                XCTAssertTrue(result.stderr.contains(message), "\(rankOneOnly) should say \"\(message)\":\n\(result)")
            }
            XCTAssertFalse(result.stderr.contains("MPI_ERR"), "\(rankOneOnly): \(result)")
            XCTAssertFalse(exists(dir, "metrics.jsonl"), "\(rankOneOnly): nothing trained")
        }
    }

    /// A run directory whose name starts with "-" printed "evaluate with: … --optimizer -run/…",
    /// which the parser takes for an option: the path now starts with "./", and the command runs.
    func testPrintedCommandsRunForAPathStartingWithADash() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let binary = try MPIJob.binaryURL().path
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                           arguments: ["-c", "cd \"$1\" && shift && exec \"$@\"", "sh", scratch.path, binary, "train"]
                                               + Self.job + ["--run-dir=-run"], timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stdout.contains("evaluate with: \(binary) evaluate --optimizer ./-run/"), "\(result)")
    }

    /// A run whose meta-steps were all skipped ended 0 and called the untouched φ trained, without
    /// a word: it says so at the end.
    func testARunOfSkippedMetaStepsSaysSo() throws {
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let result = try train(np: nil, dir, ["--output-scale", "1e10", "--max-skips", "20"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stderr.contains("warning metaopt-dist.train: skipped meta-steps: 4 of 4 (a non-finite loss or meta-gradient, or an Adam step past Float's range), which left φ as it was; all were, so φ is the one the run started from"), "\(result)")
    }

    /// A data set file that is there but damaged (not gzip of an IDX file) ended with status 1,
    /// which launch/restart.sh retried to the same end: 65, as for a damaged optimizer file.
    func testADamagedDataSetFileIsBadData() throws {
        let real = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: real + "/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
        }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let data = scratch.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        for name in ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.createSymbolicLink(atPath: data.appendingPathComponent(name).path, withDestinationPath: real + "/" + name)
        }
        try Data("not a data set".utf8).write(to: data.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        let train = try MPIJob.runSingleton(args: ["train", "--task", "mlp", "--data-dir", data.path, "--meta-batch", "2", "--unroll", "2",
                                                   "--horizon", "4", "--iterations", "2", "--run-dir", scratch.appendingPathComponent("run").path],
                                            timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(train.status, 65, "\(train)")
        XCTAssertTrue(train.stderr.contains("train-labels-idx1-ubyte.gz: wrong magic number"), "\(train)")
        let optimizer = ProvenanceCommandTests.packageRoot.appendingPathComponent("optimizers/mlp-p5.json")
        let evaluate = try MPIJob.runSingleton(args: ["evaluate", "--optimizer", optimizer.path, "--task", "mlp", "--data-dir", data.path,
                                                      "--functions", "1", "--tuning-functions", "1", "--steps", "2",
                                                      "--out", scratch.appendingPathComponent("evaluation").path],
                                               timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(evaluate.status, 65, "\(evaluate)")
    }

    /// An optimizer file trained with a relative --data-dir names its data from the training
    /// run's folder: evaluated from another, its data was not there, and the only way to point
    /// at it was --task with every task option restated. --data-dir alone now reads the file's
    /// own task's data from there, and the missing data's message says where the path came from.
    func testEvaluateReadsTheFilesOwnTaskFromAnotherDataDirectory() throws {
        let real = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: real + "/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
        }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let fm = FileManager.default
        let trainedIn = scratch.appendingPathComponent("training"), elsewhere = scratch.appendingPathComponent("elsewhere")
        for folder in [trainedIn, elsewhere] { try fm.createDirectory(at: folder, withIntermediateDirectories: true) }
        try fm.createSymbolicLink(atPath: trainedIn.appendingPathComponent("fm").path, withDestinationPath: real)
        let train = try MPIJob.runSingleton(args: ["train", "--task", "mlp", "--data-dir", "fm", "--hidden-layers", "7", "--labels", "1,2,3",
                                                   "--meta-batch", "2", "--block-size", "1", "--unroll", "2", "--horizon", "2",
                                                   "--iterations", "1", "--validate-every", "0", "--run-dir", "run"],
                                            timeout: DistributedTrain.jobTimeout, in: trainedIn)
        XCTAssertEqual(train.status, 0, "\(train)")
        let optimizer = trainedIn.appendingPathComponent("run/optimizer.json").path
        let evaluate = ["evaluate", "--optimizer", optimizer, "--functions", "1", "--baselines", "none", "--steps", "2", "--quiet"]
        let missing = try MPIJob.runSingleton(args: evaluate + ["--out", "e1"], timeout: DistributedTrain.jobTimeout, in: elsewhere)
        XCTAssertEqual(missing.status, 1, "\(missing)")
        XCTAssertTrue(missing.stderr.contains("fm: no such directory"), "\(missing)")
        XCTAssertTrue(missing.stderr.contains("note: the optimizer file's training settings name the data directory fm (relative: taken from the folder evaluate runs in); give --data-dir DIR"), "\(missing)")
        let moved = try MPIJob.runSingleton(args: evaluate + ["--out", "e2", "--data-dir", real], timeout: DistributedTrain.jobTimeout, in: elsewhere)
        XCTAssertEqual(moved.status, 0, "\(moved)")
        let here = try MPIJob.runSingleton(args: evaluate + ["--out", "e3"], timeout: DistributedTrain.jobTimeout, in: trainedIn)
        XCTAssertEqual(here.status, 0, "\(here)")
        // The same task, hidden layer of 7 and labels 1,2,3 as trained, on the same data: the same report.
        let report = { (folder: URL, name: String) throws -> String in
            try String(contentsOf: folder.appendingPathComponent(name + "/summary.md"), encoding: .utf8)
        }
        XCTAssertEqual(try report(elsewhere, "e2"), try report(trainedIn, "e3"))
        // Another task option still needs --task.
        let other = try MPIJob.runSingleton(args: evaluate + ["--out", "e4", "--data-dir", real, "--minibatch", "64"], in: elsewhere)
        XCTAssertEqual(other.status, 64, "\(other)")
        XCTAssertTrue(other.stderr.contains("--minibatch describes a task, but without --task"), "\(other)")
        let empty = try MPIJob.runSingleton(args: evaluate + ["--out", "e5", "--data-dir", ""], in: elsewhere)
        XCTAssertEqual(empty.status, 64, "\(empty)")
        XCTAssertTrue(empty.stderr.contains("--data-dir must not be empty"), "\(empty)")
        // A mixture whose image components read other directories (or data sets) cannot take one.
        try fm.createSymbolicLink(atPath: trainedIn.appendingPathComponent("fm2").path, withDestinationPath: real)
        let mix = try MPIJob.runSingleton(args: ["train", "--task", "mix", "--mixture", "mlp hidden-layers=7 data-dir=fm; mlp hidden-layers=7 data-dir=fm2",
                                                 "--labels", "1,2,3", "--meta-batch", "2", "--block-size", "1", "--unroll", "2", "--horizon", "2",
                                                 "--iterations", "1", "--validate-every", "0", "--run-dir", "mix"],
                                          timeout: DistributedTrain.jobTimeout, in: trainedIn)
        XCTAssertEqual(mix.status, 0, "\(mix)")
        let mixed = try MPIJob.runSingleton(args: ["evaluate", "--optimizer", trainedIn.appendingPathComponent("mix/optimizer.json").path,
                                                   "--functions", "1", "--baselines", "none", "--steps", "2", "--out", "e6", "--data-dir", real],
                                            in: elsewhere)
        XCTAssertEqual(mixed.status, 64, "\(mixed)")
        XCTAssertTrue(mixed.stderr.contains("--data-dir names one directory, but this optimizer file's mixture reads fashion-mnist from fm and fashion-mnist from fm2"), "\(mixed)")
    }

    /// Ranks that read different copies of a data set (the same --data-dir on hosts with other
    /// files) stop at start with a message: the configuration agreed, and φ would have differed
    /// from a run on one host without a word. Here the ranks run in directories whose relative
    /// "data" holds the real files (rank 0) or the test split under the training split's names.
    func testRanksWithDifferentDataStopAtStart() throws {
        try DistributedTrain.requireMPIRun()
        let real = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: real + "/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
        }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let fm = FileManager.default
        for rank in 0..<2 { try fm.createDirectory(at: scratch.appendingPathComponent("rank\(rank)"), withIntermediateDirectories: true) }
        try fm.createSymbolicLink(atPath: scratch.appendingPathComponent("rank0/data").path, withDestinationPath: real)
        let other = scratch.appendingPathComponent("rank1/data")
        try fm.createDirectory(at: other, withIntermediateDirectories: true)
        for kind in ["images-idx3", "labels-idx1"] {
            for split in ["train", "t10k"] {
                try fm.createSymbolicLink(atPath: other.appendingPathComponent("\(split)-\(kind)-ubyte.gz").path,
                                          withDestinationPath: "\(real)/t10k-\(kind)-ubyte.gz")
            }
        }
        let wrapper = scratch.appendingPathComponent("in-rank-directory.sh")
        try """
            #!/bin/sh
            cd '\(scratch.path)/rank'"${OMPI_COMM_WORLD_RANK:-0}" && exec '\(try MPIJob.binaryURL().path)' "$@"

            """.write(to: wrapper, atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
        let dir = scratch.appendingPathComponent("run")
        let args = ["train", "--task", "mlp", "--data-dir", "data", "--meta-batch", "2", "--unroll", "2", "--horizon", "4",
                    "--iterations", "2", "--minibatch", "16", "--run-dir", dir.path, "--no-resume"]
        let result = try MPIJob.run(np: 2, args: args, timeout: DistributedTrain.jobTimeout, program: wrapper)
        XCTAssertFalse(result.timedOut, "\(result)")
        // Every rank ends together with the status restart.sh does not restart.
        XCTAssertEqual(result.status, 65, "\(result)")
        for rank in 0..<2 {
            XCTAssertTrue(result.stderr.contains("rank \(rank): the ranks read different data"), "\(result)")
        }
        XCTAssertFalse(exists(dir, "metrics.jsonl"), "nothing trained")
    }

    /// No command writes over a file it reads: plot --out over a metrics.jsonl or report.json (by
    /// path or through a link), evaluate's outputs over its optimizer file, train --output over its
    /// --config file or, through a link to a run directory not made yet, over the run's files.
    func testOutputsNeverReplaceTheirInputs() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let fm = FileManager.default
        let dir = scratch.appendingPathComponent("run")
        XCTAssertEqual(try train(np: nil, dir, []).status, 0)
        let metrics = dir.appendingPathComponent("metrics.jsonl")
        let optimizer = dir.appendingPathComponent("optimizer.json")
        let before = try Data(contentsOf: metrics), optimizerBefore = try Data(contentsOf: optimizer)
        try fm.createSymbolicLink(at: scratch.appendingPathComponent("link"), withDestinationURL: dir)
        let out = scratch.appendingPathComponent("eval")
        XCTAssertEqual(try MPIJob.runSingleton(args: ["evaluate", "--optimizer", optimizer.path, "--functions", "1", "--steps", "2",
                                                      "--baselines", "none", "--out", out.path]).status, 0)
        let report = out.appendingPathComponent("report.json")
        let reportBefore = try Data(contentsOf: report)
        try fm.createDirectory(at: scratch.appendingPathComponent("real"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(at: scratch.appendingPathComponent("new-link"), withDestinationURL: scratch.appendingPathComponent("real"))
        try fm.createSymbolicLink(atPath: scratch.appendingPathComponent("to-r3").path, withDestinationPath: "r3")
        let runFile = scratch.appendingPathComponent("run.json")
        try Data(#"{"iterations": 1}"#.utf8).write(to: runFile)
        try fm.copyItem(at: optimizer, to: scratch.appendingPathComponent("summary.md"))
        let cases: [([String], String)] = [
            (["plot", dir.path, "--out", metrics.path], "which the plot reads"),
            (["plot", dir.path, "--out", scratch.appendingPathComponent("link/metrics.jsonl").path], "which the plot reads"),
            (["plot", "--evaluations", out.path, "--out", report.path], "which the plot reads"),
            // Nor a run's other files (its optimizer, settings, checkpoints): replaced by an SVG.
            (["plot", dir.path, "--out", dir.appendingPathComponent("optimizer.json").path], "would overwrite the run's own optimizer.json"),
            (["plot", dir.path, "--out", dir.appendingPathComponent("config.json").path], "would overwrite the run's own config.json"),
            (["evaluate", "--optimizer", scratch.appendingPathComponent("summary.md").path, "--out", scratch.path],
             "which the evaluation writes"),
            (["evaluate", "--optimizer", optimizer.path, "--baselines", "all,none"], "--baselines: the baseline list 'all,none'"),
            (["train"] + Self.job + ["--run-dir", scratch.appendingPathComponent("new-link").path,
                                     "--output", scratch.appendingPathComponent("real/metrics.jsonl").path],
             "would overwrite the run's own metrics.jsonl"),
            (["train", "--config", runFile.path] + Self.job + ["--run-dir", scratch.appendingPathComponent("r2").path, "--output", runFile.path],
             "is the run file of --config"),
            // A link to a run directory not made yet (dangling): it was not followed, and the
            // optimizer replaced the new run's metrics.jsonl.
            (["train"] + Self.job + ["--run-dir", scratch.appendingPathComponent("r3").path,
                                     "--output", scratch.appendingPathComponent("to-r3/metrics.jsonl").path],
             "would overwrite the run's own metrics.jsonl"),
            // The fine-tuning's starting optimizer replaced by its result: config.json could not
            // make the run again.
            (["train"] + Self.job + ["--run-dir", scratch.appendingPathComponent("r4").path, "--init-from", optimizer.path,
                                     "--output", optimizer.path],
             "is the --init-from file; the trained optimizer would replace the one it started from"),
            // Nor a start from the run's own files: best-optimizer.json was moved aside before it
            // was read, optimizer.json replaced by the result.
            (["train"] + Self.job + ["--run-dir", dir.path, "--no-resume", "--init-from", dir.appendingPathComponent("best-optimizer.json").path],
             "is the run's own best-optimizer.json, which the run replaces or moves aside"),
            (["train"] + Self.job + ["--run-dir", dir.path, "--init-from", optimizer.path],
             "is the run's own optimizer.json, which the run replaces or moves aside"),
        ]
        for (args, message) in cases {
            let result = try MPIJob.runSingleton(args: args, timeout: 60)
            XCTAssertEqual(result.status, 64, "\(args): \(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(args) should say \"\(message)\":\n\(result)")
        }
        XCTAssertEqual(try Data(contentsOf: metrics), before)
        XCTAssertEqual(try Data(contentsOf: report), reportBefore)
        XCTAssertEqual(try Data(contentsOf: scratch.appendingPathComponent("summary.md")), optimizerBefore)
        XCTAssertEqual(try String(contentsOf: runFile, encoding: .utf8), #"{"iterations": 1}"#)
        XCTAssertFalse(fm.fileExists(atPath: scratch.appendingPathComponent("real/metrics.jsonl").path))
    }

    /// A mistyped subcommand is named as one (train, the default, used to blame the first option:
    /// "Unknown option '--optimizer'"); bench's --tile-width is bounded (a million columns ran out
    /// of memory), its --json checked before any timing, and options its workload does not read
    /// are refused. A misspelt or repeated --optimizer is named.
    func testMistypedSubcommandsAndBenchBounds() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let cases: [([String], String)] = [
            (["evalute", "--optimizer", "x.json"], "unknown subcommand 'evalute' (did you mean 'evaluate'?); the subcommands are train, evaluate, plot, export, bench"),
            (["frobnicate"], "unknown subcommand 'frobnicate'; the subcommands are"),
            (["help", "evalute"], "unknown subcommand 'evalute' (did you mean 'evaluate'?)"),
            (["bench", "--task", "quadratic", "--tile-width", "1048576"], "--tile-width must be a multiple of 16 from 16 to 4096 (got 1048576)"),
            (["bench", "--task", "quadratic", "--json", ""], "--json must not be empty"),
            // Options a workload does not read were accepted and ignored, a block size past the
            // 128 functions clamped.
            (["bench", "--task", "mlp-synthetic", "--block-size", "7"], "--block-size does not apply to --task mlp-synthetic"),
            (["bench", "--task", "mlp-step", "--tile-width", "32"], "--tile-width does not apply to --task mlp-step"),
            (["bench", "--task", "cnn-step", "--evaluation-steps", "5"], "--evaluation-steps does not apply to --task cnn-step"),
            (["bench", "--task", "quadratic", "--data-dir", "/nonexistent"], "--data-dir does not apply to --task quadratic"),
            (["bench", "--task", "quadratic", "--block-size", "129"], "--block-size must be at most 128, the quadratic workloads' functions (got 129)"),
            (["bench", "--task", "quadratic", "--evaluation-steps", "0", "--evaluation-repetitions", "5"],
             "--evaluation-repetitions does not apply with --evaluation-steps 0"),
            // As train and evaluate say it (it was a missing file "/train-images-idx3-ubyte.gz", status 1).
            (["bench", "--task", "mlp", "--data-dir", ""], "--data-dir must not be empty"),
            // A misspelt required option was hidden behind "Missing expected argument '--optimizer …'".
            (["evaluate", "--optimiser", "x.json"], "Unknown option '--optimiser'. Did you mean '--optimizer'?"),
            (["export", "--optimiser", "x.json"], "Unknown option '--optimiser'. Did you mean '--optimizer'?"),
            (["evaluate", "--steps", "2"], "Missing expected argument '--optimizer <optimizer>'"),
            // A second --optimizer replaced the first: only the last was evaluated.
            (["evaluate", "--optimizer", "a.json", "--optimizer=b.json"],
             "--optimizer is given 2 times; give it once (evaluate scores one trained optimizer: evaluate each into its own --out"),
        ]
        for (args, message) in cases {
            let result = try MPIJob.runSingleton(args: args, timeout: 30)
            XCTAssertEqual(result.status, 64, "\(args): \(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(args) should say \"\(message)\":\n\(result)")
        }
        let unwritable = scratch.appendingPathComponent("file").path
        try Data().write(to: URL(fileURLWithPath: unwritable))
        let start = Date()
        let json = try MPIJob.runSingleton(args: ["bench", "--task", "quadratic", "--json", unwritable + "/bench.json"], timeout: 30)
        XCTAssertEqual(json.status, 65, "\(json)")
        XCTAssertTrue(json.stderr.contains(unwritable), "\(json)")
        XCTAssertFalse(json.stdout.contains("meta-iteration"), "no timing before the check:\n\(json)")
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        // The data set is read before any timing: the quadratics were timed first, then it failed.
        let data = try MPIJob.runSingleton(args: ["bench", "--data-dir", scratch.path, "--fma-peak-samples", "1"], timeout: 30)
        XCTAssertEqual(data.status, 1, "\(data)")
        XCTAssertTrue(data.stderr.contains("train-images-idx3-ubyte.gz: no such file"), "\(data)")
        XCTAssertFalse(data.stdout.contains("meta-iteration") || data.stdout.contains("multiply-add peak"), "no timing before the data:\n\(data)")
        // An optimizee step's JSON names the machine and kernels too, as every other workload's.
        if FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") {
            let step = try MPIJob.runSingleton(args: ["bench", "--task", "mlp-step", "--repetitions", "1", "--warmup", "0", "--format", "json"], timeout: 60)
            XCTAssertEqual(step.status, 0, "\(step)")
            let object = try JSONSerialization.jsonObject(with: Data(step.stdout.utf8)) as? [String: Any]
            XCTAssertEqual(Set(object?.keys.map { $0 } ?? []).isSuperset(of: ["kernels", "cpu", "blasCore", "blasThreads", "layerProducts", "results"]), true, step.stdout)
            XCTAssertEqual(((object?["results"] as? [[String: Any]])?.first?["family"]) as? String, "mlp", step.stdout)
        }
    }

    /// Ranks past the blocks own none and wait: said in a warning (second-order mode, where
    /// --shards auto cannot split functions, left a rank idle without a word), not when every
    /// rank has a block.
    func testIdleRanksAreWarnedAbout() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let job = ["--meta-batch", "4", "--block-size", "4", "--unroll", "5", "--horizon", "10", "--iterations", "1", "--validate-every", "0"]
        for (extra, idle) in [(["--mode", "second-order"], true), (["--shards", "1"], true), ([], false)] {
            let result = try MPIJob.run(np: 2, args: ["train"] + job + extra + ["--run-dir", scratch.appendingPathComponent("run-\(extra.joined())").path],
                                        timeout: DistributedTrain.jobTimeout)
            XCTAssertEqual(result.status, 0, "\(extra): \(result)")
            XCTAssertEqual(result.stderr.contains("1 of 2 ranks own no block of the meta-batch (1 block(s)) and only wait"), idle, "\(extra): \(result)")
        }
    }

    /// evaluate, export, plot and bench run in one process: under `mpirun -np 2` each rank did the
    /// whole evaluation and wrote the same files. Refused on every rank with status 64.
    func testOneProcessCommandsRefuseSeveralRanks() throws {
        try DistributedTrain.requireMPIRun()
        for args in [["evaluate", "--optimizer", "x.json"], ["export", "--optimizer", "x.json"], ["plot", "x"], ["bench", "--task", "quadratic"]] {
            let result = try MPIJob.run(np: 2, args: args, timeout: 30, perRankOutput: true)
            XCTAssertEqual(result.status, 64, "\(args): \(result)")
            // Every rank that got to say something said this (mpirun may end the other first).
            XCTAssertFalse(result.rankStderr.isEmpty, "\(args): \(result)")
            for (rank, stderr) in result.rankStderr {
                XCTAssertTrue(stderr.contains("\(args[0]) runs in one process, but was started as one of 2 ranks"), "rank \(rank), \(args): \(result)")
            }
        }
    }

    /// Finding 12: a path that is not UTF-8 is refused, not decoded into another name.
    func testANonUTF8ArgumentIsRefused() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let binary = try MPIJob.binaryURL().path
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                           arguments: ["-c", "cd \"$1\" && exec \"$0\" train --run-dir \"$(printf 'run-\\377')\" --iterations 2",
                                                       binary, scratch.path], timeout: 30)
        XCTAssertEqual(result.status, 64, "\(result)")
        XCTAssertTrue(result.stderr.contains("is not valid UTF-8"), "\(result)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [], "nothing written")
    }
}
