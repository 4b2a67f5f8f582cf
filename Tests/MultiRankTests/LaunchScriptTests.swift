import Foundation
import XCTest

/// What launch/local.sh and launch/hostfile.sh (and launch/common.sh, which both source) do with
/// a user's mistakes: one line that says what is wrong and a non-zero status, before mpirun starts
/// a rank; and the forms their headers document; and where launch/scaling.sh and
/// launch/shard-speedup.sh write and what they remove, and that launch/bench-peer.sh leaves no
/// empty results directory. (launch/restart.sh: FaultToleranceTests.)
final class LaunchScriptTests: XCTestCase {
    /// `bash launch/NAME ARGUMENTS` started in `directory` (a scratch directory by default), with
    /// `environment` added and METAOPT_BIN the binary under test unless `environment` sets it.
    private func launch(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                        in directory: URL? = nil) throws -> MPIJobResult {
        let script = FaultTest.repositoryRoot.appendingPathComponent("launch/\(name)").path
        let cwd = try directory ?? makeRunDirectory("launch-cwd")
        var env = ["METAOPT_BIN": try MPIJob.binaryURL().path]
        env.merge(environment) { _, new in new }
        return try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"),
                                     arguments: ["-c", "cd \"$0\" && exec bash \"$@\"", cwd.path, script] + arguments,
                                     timeout: FaultTest.jobTimeout, environment: env)
    }

    /// Fails unless `result` is the script's own refusal: `status`, a line containing `message`,
    /// and none of mpirun's banners (no rank was started).
    private func assertRefused(_ result: MPIJobResult, status: Int32, _ message: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.timedOut, "\(result)", file: file, line: line)
        XCTAssertEqual(result.status, status, "\(result)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "missing '\(message)':\n\(result)", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("-----"), "mpirun ran:\n\(result)", file: file, line: line)
    }

    /// METAOPT_BIN: a bare name is a command on the PATH (it used to be looked for in the
    /// repository root and reported missing); one that is not there is named as the METAOPT_BIN
    /// given (the message said "run 'bash launch/setup.sh' first (or set METAOPT_BIN)", which was
    /// set); a directory is refused by the script (`-x` accepted it, and mpirun then failed to
    /// start every rank with a page of output).
    func testMetaoptBinForms() throws {
        try requireMPIRunForFaultTests()
        let bin = try makeRunDirectory("launch-path")
        let name = "metaopt-dist-under-test"
        try FileManager.default.createSymbolicLink(at: bin.appendingPathComponent(name), withDestinationURL: try MPIJob.binaryURL())
        let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let onPath = try launch("local.sh", ["-np", "1", "comm-check"], environment: ["METAOPT_BIN": name, "PATH": path])
        assertSucceeded(onPath, "METAOPT_BIN=\(name) on the PATH")
        XCTAssertTrue(onPath.stdout.contains("COMMCHECK rank=0 size=1 ok=1"), "\(onPath)")

        let missing = try launch("local.sh", ["-np", "1", "comm-check"], environment: ["METAOPT_BIN": "no-such-metaopt-binary"])
        assertRefused(missing, status: 1, "local.sh: no-such-metaopt-binary not found on the PATH (METAOPT_BIN)")
        XCTAssertFalse(missing.stderr.contains("or set METAOPT_BIN"), "\(missing)")

        let directory = try launch("local.sh", ["-np", "1", "comm-check"], environment: ["METAOPT_BIN": bin.path])
        assertRefused(directory, status: 1, "local.sh: \(bin.path) is not an executable file (METAOPT_BIN)")
    }

    /// `--help` prints the script's header and exits 0 before anything runs, for every script that
    /// sources launch/help.sh (comm-cost.sh and scaling.sh took "--help" as their output's name,
    /// bench-peer.sh and others ignored it and started minutes of timing). A stand-in mpirun and
    /// swift on the PATH fail the test if they are run.
    func testEveryScriptsHelpIsItsHeader() throws {
        let ran = "echo RAN >&2\nexit 99\n"
        let path = try standInMPIRun("launch-help", script: ran)
        try addStandIn("swift", script: ran, to: path)
        let folder = FaultTest.repositoryRoot.appendingPathComponent("launch")
        let scripts = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { name in
            let text = (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? ""
            return text.contains("/help.sh\" \"$@\"") && name != "help.sh"
        }.sorted()
        XCTAssertGreaterThanOrEqual(scripts.count, 12, "\(scripts)")
        for name in scripts {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            // The header: the comment lines after the shebang, "# " taken off.
            let header = text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
                .prefix { $0.hasPrefix("#") }.map { $0.hasPrefix("# ") ? String($0.dropFirst(2)) : String($0.dropFirst()) }
            for flag in ["--help", "-h"] {
                let result = try launch(name, [flag], environment: ["PATH": path])
                XCTAssertEqual(result.status, 0, "\(name) \(flag): \(result)")
                XCTAssertEqual(result.stdout, header.joined(separator: "\n") + "\n", "\(name) \(flag)")
                XCTAssertFalse(result.stderr.contains("RAN"), "\(name) \(flag) ran a command: \(result)")
            }
        }
        // slurm.sbatch has the same lines of its own (Slurm runs a copy of it, away from launch/):
        // its header up to the #SBATCH lines (it started one `metaopt-dist --help` per core).
        let batch = try launch("slurm.sbatch", ["--help"], environment: ["PATH": path])
        XCTAssertEqual(batch.status, 0, "\(batch)")
        XCTAssertTrue(batch.stdout.hasPrefix("Slurm batch script for metaopt-dist"), "\(batch)")
        XCTAssertFalse(batch.stdout.contains("--job-name=") || batch.stderr.contains("RAN"), "\(batch)")
    }

    /// launch/slurm.sbatch outside Slurm, as a batch job would run it (SLURM_JOB_ID and the submit
    /// directory set), with stand-ins for mpirun (`mpirun`: its lines) and scontrol (prints what it
    /// was asked) in a PATH's first folder.
    private func batchScript(_ label: String, mpirun: String, submitDirectory: URL, restartCount: Int? = nil,
                             arguments: [String] = ["train", "--no-resume"]) throws -> MPIJobResult {
        let path = try standInMPIRun(label, script: mpirun)
        try addStandIn("scontrol", script: "echo \"scontrol $*\"\n", to: path)
        var environment = ["PATH": path, "SLURM_JOB_ID": "77", "SLURM_SUBMIT_DIR": submitDirectory.path]
        if let restartCount { environment["SLURM_RESTART_COUNT"] = String(restartCount) }
        return try launch("slurm.sbatch", arguments, environment: environment, in: submitDirectory)
    }

    /// The first attempt of a job removes a started-over file left under its ID by an earlier job
    /// of the same ID (which ended by scancel or a node failure before the script's end): it made
    /// the new job drop its --no-resume and resume the old run. A requeued attempt keeps it.
    func testBatchScriptIgnoresAnotherJobsStartedOverFile() throws {
        let submit = try makeRunDirectory("sbatch-started-over")
        let marker = submit.appendingPathComponent(".metaopt-started-over.77")
        let echo = "echo \"mpirun $*\"\n"
        _ = FileManager.default.createFile(atPath: marker.path, contents: nil)
        let first = try batchScript("sbatch-first", mpirun: echo, submitDirectory: submit)
        XCTAssertEqual(first.status, 0, "\(first)")
        XCTAssertTrue(first.stdout.contains("removing \(marker.path), left by an earlier job with the same ID"), "\(first)")
        func mpirunLine(_ result: MPIJobResult) -> String {
            result.stdout.split(separator: "\n").first { $0.hasPrefix("mpirun ") }.map(String.init) ?? ""
        }
        XCTAssertTrue(mpirunLine(first).hasSuffix(" train --no-resume"), "\(first)")
        _ = FileManager.default.createFile(atPath: marker.path, contents: nil)
        let requeued = try batchScript("sbatch-requeued", mpirun: echo, submitDirectory: submit, restartCount: 1)
        XCTAssertTrue(requeued.stdout.contains("running without --no-resume"), "\(requeued)")
        XCTAssertTrue(mpirunLine(requeued).hasSuffix(" train"), "\(requeued)")
    }

    /// A stop of the ranks after a signal sent to them, not to the script (`scancel
    /// --signal=USR1 JOBID` without --batch), is requeued like one the script passed on: mpirun
    /// exits 0 either way, and rank 0's METAOPT_STOPPED_FILE tells them apart. The job's
    /// COMPLETED with a third of its meta-steps before. A run that ends without the file is not
    /// requeued.
    func testBatchScriptRequeuesAStopOfTheRanks() throws {
        let submit = try makeRunDirectory("sbatch-stopped")
        let stopped = try batchScript("sbatch-stop", mpirun: ": > \"$METAOPT_STOPPED_FILE\"\necho \"mpirun $*\"\n",
                                      submitDirectory: submit, arguments: ["train"])
        XCTAssertEqual(stopped.status, 0, "\(stopped)")
        XCTAssertTrue(stopped.stdout.contains("-x METAOPT_STOPPED_FILE"), "\(stopped)")
        XCTAssertTrue(stopped.stdout.contains("the ranks stopped after a SIGUSR1 sent to them"), "\(stopped)")
        XCTAssertTrue(stopped.stdout.contains("scontrol requeue 77"), "\(stopped)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: submit.appendingPathComponent(".metaopt-stopped.77").path))
        let finished = try batchScript("sbatch-finish", mpirun: "echo \"mpirun $*\"\n", submitDirectory: submit, arguments: ["train"])
        XCTAssertEqual(finished.status, 0, "\(finished)")
        XCTAssertFalse(finished.stdout.contains("scontrol requeue"), "\(finished)")
    }

    /// A PATH whose first folder holds a stand-in `mpirun`, a shell script of `script`'s lines
    /// that prints what the launch scripts gave it.
    private func standInMPIRun(_ label: String, script: String) throws -> String {
        let bin = try makeRunDirectory(label)
        let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        try addStandIn("mpirun", script: script, to: path)
        return path
    }

    /// A stand-in command `name`, a shell script of `script`'s lines, in the first folder of `path`
    /// (a PATH of `standInMPIRun`).
    private func addStandIn(_ name: String, script: String, to path: String) throws {
        let fake = URL(fileURLWithPath: path.components(separatedBy: ":")[0]).appendingPathComponent(name)
        try Data(("#!/bin/sh\n" + script).utf8).write(to: fake)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
    }

    /// The switches that change which kernels compute φ reach remote ranks too, when set (only
    /// METAOPT_KERNELS did: a hostfile job with METAOPT_FORWARD_PRODUCTS=plain ran the paired
    /// products on every other host). A stand-in mpirun on the PATH prints what it was given.
    func testKernelSwitchesAreForwardedToEveryRank() throws {
        let path = try standInMPIRun("launch-fake-mpirun", script: "echo \"mpirun $*\"\n")
        let switches = ["METAOPT_KERNELS": "avx2", "METAOPT_FORWARD_PRODUCTS": "plain",
                        "METAOPT_MATRIX_PRODUCTS": "openblas", "OPENBLAS_CORETYPE": "Haswell"]
        let set = try launch("local.sh", ["-np", "1", "comm-check"], environment: switches.merging(["PATH": path]) { $1 })
        XCTAssertEqual(set.status, 0, "\(set)")
        for name in switches.keys { XCTAssertTrue(set.stdout.contains("-x \(name) "), "\(name) not forwarded:\n\(set)") }
        let unset = try launch("local.sh", ["-np", "1", "comm-check"], environment: ["PATH": path])
        XCTAssertEqual(unset.status, 0, "\(unset)")
        for name in switches.keys { XCTAssertFalse(unset.stdout.contains("-x \(name) "), "\(name) forwarded unset:\n\(unset)") }
    }

    /// The scripts give the ranks their own command line (METAOPT_RELAUNCH), for train's "resume
    /// with:" line: run from the repository root, it starts the same launch again (the line named
    /// the binary alone, which resumed a 3-rank job on one rank).
    func testTheScriptsGiveTheCommandThatStartsThemAgain() throws {
        let path = try standInMPIRun("launch-relaunch", script: "echo \"mpirun $*\"\necho \"relaunch=$METAOPT_RELAUNCH\"\n")
        let binary = try MPIJob.binaryURL().path, root = FaultTest.repositoryRoot.path
        let environment = ["PATH": path, "METAOPT_KERNELS": "avx2", "MPIRUN_ARGS": "--mca btl self"]
        for (script, arguments, expected) in [
            ("local.sh", ["-np", "3"], "METAOPT_BIN=\(binary) MPIRUN_ARGS=--mca\\ btl\\ self METAOPT_KERNELS=avx2 bash launch/local.sh -np 3"),
            ("hostfile.sh", ["localhost"], "METAOPT_BIN=\(binary) MPIRUN_ARGS=--mca\\ btl\\ self METAOPT_KERNELS=avx2 bash launch/hostfile.sh \(root)/hosts/localhost"),
            ("hostfile.sh", ["localhost", "-np", "02"], "METAOPT_BIN=\(binary) MPIRUN_ARGS=--mca\\ btl\\ self METAOPT_KERNELS=avx2 bash launch/hostfile.sh \(root)/hosts/localhost -np 2"),
        ] {
            let result = try launch(script, arguments + ["comm-check"], environment: environment)
            assertSucceeded(result, script)
            XCTAssertTrue(result.stdout.contains(" -x METAOPT_RELAUNCH "), "\(result)")
            let relaunch = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("relaunch=") }, "\(result)")
                .dropFirst("relaunch=".count)
            XCTAssertEqual(String(relaunch), expected)
            // Run as printed, from the root, in a shell without the variables: the same launch,
            // so the same command again.
            let again = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"),
                                              arguments: ["-c", "cd \"$0\" && \(relaunch) comm-check", FaultTest.repositoryRoot.path],
                                              timeout: FaultTest.jobTimeout, environment: ["PATH": path])
            assertSucceeded(again, "\(relaunch)")
            XCTAssertTrue(again.stdout.contains("relaunch=\(relaunch)\n"), "\(again)")
        }
    }

    /// -np and its forms: a bad count, -np=N, and -np twice (which used to
    /// reach the binary: every rank printed "Unknown option '-np'" under mpirun's banner) are
    /// refused by the script with status 64, local.sh and hostfile.sh alike. A count with leading
    /// zeros is decimal (`-np 02` was refused; launch/restart.sh read it as 2 already).
    func testRankCountForms() throws {
        try requireMPIRunForFaultTests()
        for (arguments, message) in [(["-np", "0"], "the number of ranks must be a positive integer, got '0'"),
                                     (["-np", "00"], "the number of ranks must be a positive integer, got '00'"),
                                     (["-np", "abc"], "the number of ranks must be a positive integer, got 'abc'"),
                                     (["-np=2"], "give the number of ranks as '-np N'"),
                                     (["-np", "1", "-np", "2"], "give the number of ranks once (got '-np' after -np 1)"),
                                     (["-n", "1", "--np", "2"], "give the number of ranks once (got '--np' after -np 1)")] {
            assertRefused(try launch("local.sh", arguments + ["comm-check"]), status: 64, "local.sh: \(message)")
            assertRefused(try launch("hostfile.sh", ["localhost"] + arguments + ["comm-check"]), status: 64, "hostfile.sh: \(message)")
        }
        assertRefused(try launch("local.sh", ["comm-check"], environment: ["NP": "two"]), status: 64,
                      "local.sh: the number of ranks must be a positive integer, got 'two'")
        for result in [try launch("local.sh", ["-np", "02", "comm-check"]), try launch("hostfile.sh", ["localhost", "-np", "02", "comm-check"])] {
            assertSucceeded(result, "-np 02")
            XCTAssertTrue(result.stdout.contains("COMMCHECK rank=1 size=2 ok=1"), "\(result)")
        }
    }

    /// In glibc's UTF-8 locales other than C.UTF-8, bash's `[0-9]` also matches other digits (²,
    /// ２), so the scripts' checks let them through to arithmetic that failed: `restart.sh
    /// --max-restarts ²` restarted for ever, `local.sh -np ２` failed in mpirun; and `${x^^}`
    /// upper-cases by the locale, so under tr_TR `--stop-signal sigint` became the unknown SİGİNT.
    /// The locales are made with localedef into a scratch LOCPATH (launch/test.sh installs the
    /// `locales` package for their sources).
    func testTheScriptsChecksDoNotDependOnTheLocale() throws {
        try requireMPIRunForFaultTests()
        let locales = try makeRunDirectory("locales")
        for (name, source) in [("metaopt-en.UTF-8", "en_US"), ("metaopt-tr.UTF-8", "tr_TR")] {
            _ = try? MPIJob.runProcess(executable: URL(fileURLWithPath: "/usr/bin/localedef"),
                                       arguments: ["-i", source, "-f", "UTF-8", locales.appendingPathComponent(name).path], timeout: 120)
            guard FileManager.default.fileExists(atPath: locales.appendingPathComponent(name).path) else {
                if ProcessInfo.processInfo.environment["CI"] == "true" { return XCTFail("localedef could not make \(source).UTF-8 (Debian package locales)") }
                throw XCTSkip("localedef could not make \(source).UTF-8 (Debian package locales)")
            }
        }
        let english = ["LOCPATH": locales.path, "LC_ALL": "metaopt-en.UTF-8"]
        assertRefused(try launch("restart.sh", ["--max-restarts", "²", "--backoff", "0.1", "--", "false"], environment: english), status: 64,
                      "restart.sh: --max-restarts needs a non-negative integer")
        assertRefused(try launch("restart.sh", ["--backoff", "½", "--", "false"], environment: english), status: 64,
                      "restart.sh: --backoff needs a number of seconds")
        assertRefused(try launch("local.sh", ["-np", "２", "comm-check"], environment: english), status: 64,
                      "local.sh: the number of ranks must be a positive integer, got '２'")
        let turkish = try launch("restart.sh", ["--stop-signal", "sigint", "--max-restarts", "0", "--", "true"],
                                 environment: ["LOCPATH": locales.path, "LC_ALL": "metaopt-tr.UTF-8"])
        XCTAssertEqual(turkish.status, 0, "\(turkish)")
    }

    /// Hostfiles: one without a host line (empty, or only comments like hosts/cluster.example) is
    /// refused by name (mpirun said only "No nodes are available for this job"); a missing one is
    /// named, with the template to copy where there is one; comments and blank lines around a host
    /// line are fine; a relative path is from the directory the script is started in. Windows line
    /// endings and a UTF-8 byte order mark are refused (with the mark, mpirun dropped the first
    /// host after a parse message and ran the job on the others, with status 0).
    func testHostfiles() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("launch-hosts")
        let hostfiles = ["empty": "", "comments": "# no hosts yet\n\n   \n#node01 slots=2\n",
                         "good": "# this machine\n\n   localhost slots=2   # two ranks\n", "crlf": "localhost slots=2\r\n",
                         "bom": "\u{FEFF}node1 slots=2\nlocalhost slots=2\n",
                         "zero": "# first\nlocalhost slots=0\n", "word": "localhost slots=two\n", "slot": "localhost slot=2 # one\n",
                         "long": String(repeating: "n", count: 57) + ".example.org slots=2\n"]
        for (name, text) in hostfiles {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        for name in ["empty", "comments"] {
            assertRefused(try launch("hostfile.sh", [name, "comm-check"], in: dir), status: 64,
                          "hostfile.sh: no hosts in '\(dir.path)/\(name)' (every line is empty or a comment)")
        }
        assertRefused(try launch("hostfile.sh", ["cluster.example", "comm-check"]), status: 64,
                      "hostfile.sh: no hosts in 'hosts/cluster.example' (every line is empty or a comment)")
        // Unless this checkout has a hosts/cluster of its own.
        if !FileManager.default.fileExists(atPath: FaultTest.repositoryRoot.appendingPathComponent("hosts/cluster").path) {
            assertRefused(try launch("hostfile.sh", ["cluster", "comm-check"]), status: 64,
                          "hostfile.sh: no hostfile 'cluster' (nor hosts/cluster): copy hosts/cluster.example to hosts/cluster")
        }
        assertRefused(try launch("hostfile.sh", ["-np", "2", "comm-check"]), status: 64, "hostfile.sh: the hostfile comes first")
        // mpirun stopped at the carriage return with an internal error and status 1.
        assertRefused(try launch("hostfile.sh", ["crlf", "-np", "2", "comm-check"], in: dir), status: 64,
                      "hostfile.sh: '\(dir.path)/crlf' has Windows line endings (CRLF), which mpirun cannot read")
        assertRefused(try launch("hostfile.sh", ["bom", "-np", "2", "comm-check"], in: dir), status: 64,
                      "hostfile.sh: '\(dir.path)/bom' starts with a UTF-8 byte order mark, which mpirun cannot read")
        // Slot counts mpirun said only "already filled" or "internal error" about.
        for (name, message) in [("word", "line 1: 'slots=two' must be a whole number of slots"),
                                ("slot", "line 1: 'slot=2' is a rankfile's keyword; a hostfile says slots=2")] {
            assertRefused(try launch("hostfile.sh", [name, "comm-check"], in: dir), status: 64, "hostfile.sh: '\(dir.path)/\(name)' \(message)")
        }
        // Open MPI 4.1 said only "stack smashing detected" (status 134).
        assertRefused(try launch("hostfile.sh", ["long", "comm-check"], in: dir), status: 64,
                      "hostfile.sh: '\(dir.path)/long' line 1: the host name's first part 'nnnnnnnnnnnnnnnnnnnn...' has 57 characters; Open MPI crashes on more than 56")
        assertRefused(try launch("hostfile.sh", ["zero", "comm-check"], in: dir), status: 64,
                      "hostfile.sh: every host of '\(dir.path)/zero' has 0 slots: no rank could start")
        // What mpirun reads as 2 slots is left to it: a leading zero, a space after "=".
        for (name, text) in [("leading-zero", "localhost slots=02\n"), ("spaced", "localhost slots= 2\n")] {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
            assertSucceeded(try launch("hostfile.sh", [name, "-np", "2", "comm-check"], in: dir), name)
        }
        assertRefused(try launch("hostfile.sh", [".", "comm-check"], in: dir), status: 64, "hostfile.sh: '.' is a directory, not a hostfile")
        let good = try launch("hostfile.sh", ["good", "-np", "2", "comm-check"], in: dir)
        assertSucceeded(good, "a hostfile with comments")
        XCTAssertTrue(good.stdout.contains("COMMCHECK rank=1 size=2 ok=1"), "\(good)")
    }

    /// local.sh runs the program from the repository root, so train's last lines named paths
    /// relative to it, and the printed evaluate command failed where the user had started the
    /// script. Started elsewhere, they are absolute; started in the root, they stay as given.
    func testTheLastLinesOfTrainWorkWhereTheScriptWasStarted() throws {
        try requireMPIRunForFaultTests()
        let scratch = try makeRunDirectory("launch-elsewhere").standardizedFileURL
        let root = FaultTest.repositoryRoot.standardizedFileURL.pathComponents
        let target = scratch.appendingPathComponent("run").pathComponents
        let common = zip(root, target).prefix { $0 == $1 }.count
        let relative = (Array(repeating: "..", count: root.count - common) + target[common...]).joined(separator: "/")
        let job = ["-np", "1", "train"] + DistributedTrain.smallJob + ["--run-dir", relative, "--no-resume"]
        let elsewhere = try launch("local.sh", job, in: scratch)
        assertSucceeded(elsewhere, "local.sh started outside the checkout")
        XCTAssertTrue(elsewhere.stdout.contains("evaluate with: \(try MPIJob.binaryURL().path) evaluate --optimizer \(scratch.path)/run/best-optimizer.json"),
                      "\(elsewhere)")
        XCTAssertTrue(elsewhere.stdout.contains("settings: \(scratch.path)/run/config.json"), "\(elsewhere)")
        let inRoot = try launch("local.sh", job, in: FaultTest.repositoryRoot)
        assertSucceeded(inRoot, "local.sh started in the checkout")
        XCTAssertTrue(inRoot.stdout.contains("evaluate --optimizer \(relative)/best-optimizer.json"), "\(inRoot)")
    }

    /// launch/scaling.sh and launch/shard-speedup.sh take a relative OUT_DIR from the directory
    /// they are started in (it was read from the repository root: `scaling.sh .` started elsewhere
    /// emptied the checkout's runs/ and wrote its summary there), and remove only their own series'
    /// run directories: an OUT_DIR/runs with anything else is refused before any run, as it was.
    func testMeasurementScriptsKeepToTheirOutDir() throws {
        try requireMPIRunForFaultTests()
        let dir = try makeRunDirectory("launch-out")
        let runs = dir.appendingPathComponent("out/runs")
        let names = ["mine", "strong-n10.np9.r9", "mlp-b2-s1.np9.r9"]
        for name in names {
            try FileManager.default.createDirectory(at: runs.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        for script in ["scaling.sh", "shard-speedup.sh"] {
            assertRefused(try launch(script, ["out"], in: dir), status: 64,
                          "\(script): \(dir.path)/out/runs holds more than this script's runs (")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: runs.path).sorted(), names.sorted(),
                           "\(script) removed a run directory")
        }
        for name in ["mine", "mlp-b2-s1.np9.r9"] {
            try FileManager.default.removeItem(at: runs.appendingPathComponent(name))
        }
        let quick = try launch("scaling.sh", ["out"], environment: ["QUICK": "1", "NPS": "1", "NETNS": "0"], in: dir)
        assertSucceeded(quick, "QUICK=1 NPS=1 NETNS=0 bash launch/scaling.sh out")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: runs.path).sorted(),
                       ["strong-n10.np1.r1", "strong-n100.np1.r1", "weak-n10.np1.r1"], "the earlier strong-n10.np9.r9 goes")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/scaling.csv").path), "\(quick)")
    }

    /// launch/bench-peer.sh checks the binary, the reference and its virtual environment before it
    /// makes its results directory: every failed check left an empty /tmp/bench-peer.XXXXXX (and
    /// made an OUT that was given). A run that fails after the checks, before any result is
    /// written, removes the directory it made too. (No run here gets as far as a result: the
    /// reference, ../shared/peer, is not in the repository.)
    func testBenchPeerLeavesNoEmptyResultsDirectory() throws {
        let tmp = try makeRunDirectory("launch-bench-peer")
        let reference = tmp.appendingPathComponent("peer"), venv = tmp.appendingPathComponent("venv")
        let out = tmp.appendingPathComponent("out")
        let base = ["TMPDIR": tmp.path, "ROUNDS": "1", "TASKS": "quad"]
        let noReference = try launch("bench-peer.sh", [], environment: base.merging(["P": reference.path]) { $1 })
        assertRefused(noReference, status: 1, "bench-peer: no reference at \(reference.path)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [], "a failed check left a directory")
        let given = try launch("bench-peer.sh", [], environment: base.merging(["P": reference.path, "OUT": out.path]) { $1 })
        assertRefused(given, status: 1, "bench-peer: no reference at")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "a failed check made OUT")

        // Past the checks: a reference whose interpreter fails before it writes a result.
        try FileManager.default.createDirectory(at: reference, withIntermediateDirectories: true)
        try Data().write(to: reference.appendingPathComponent("l2l_jax.py"))
        try FileManager.default.createDirectory(at: venv.appendingPathComponent("bin"), withIntermediateDirectories: true)
        let python = venv.appendingPathComponent("bin/python")
        try Data("#!/bin/sh\nexit 3\n".utf8).write(to: python)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python.path)
        let failed = try launch("bench-peer.sh", [], environment: base.merging(["P": reference.path, "V": venv.path]) { $1 })
        XCTAssertFalse(failed.timedOut, "\(failed)")
        XCTAssertNotEqual(failed.status, 0, "\(failed)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted(), ["peer", "venv"],
                       "a run that wrote no result left its directory")
    }

    /// `METAOPT_SETUP_NO_BUILD=1 bash launch/setup.sh` (packages only) needs no Swift toolchain:
    /// it is for nodes that get the built binary copied. It used to stop at "swift not found". The
    /// PATH here holds only the tools the package check uses (dpkg-query, or mpirun and pkg-config
    /// where there is no dpkg), none of them swift; the packages are installed already, as for the
    /// other tests.
    func testSetupPackagesOnlyNeedsNoSwift() throws {
        let bin = try makeRunDirectory("launch-setup-path")
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for tool in ["dirname", "basename", "grep", "dpkg-query", "mpirun", "pkg-config"] {
            let found = path.split(separator: ":").map { "\($0)/\(tool)" }
                .first { FileManager.default.isExecutableFile(atPath: $0) }
            if let found {
                try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(tool).path, withDestinationPath: found)
            }
        }
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"),
                                           arguments: [FaultTest.repositoryRoot.appendingPathComponent("launch/setup.sh").path],
                                           timeout: FaultTest.jobTimeout,
                                           environment: ["PATH": bin.path, "METAOPT_SETUP_NO_BUILD": "1"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertFalse(result.stderr.contains("swift not found"), "\(result)")
    }
}
