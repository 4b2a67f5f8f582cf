import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// launch/slurm.sbatch on a real Slurm cluster: Debian's slurm-wlm with slurmctld on this host and
/// two slurmd in network namespaces as nodes sn1 and sn2 (launch/slurm-cluster.sh, which installs
/// the packages when missing). The cluster is brought up by the first test that needs it and torn
/// down after the last test of this class. Needs root and iproute2; skipped (with the reason)
/// where those are missing, except under CI=true, where that is a failure.
final class SlurmClusterTests: XCTestCase {
    private static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    private static let clusterScript = packageRoot.appendingPathComponent("launch/slurm-cluster.sh")
    private static let batchScript = packageRoot.appendingPathComponent("launch/slurm.sbatch")

    /// Names and addresses for this process, so two test runs on one machine do not collide
    /// (launch/netns-hosts.sh's tests use 10.99.*, launch/scaling.sh 10.98.*).
    private static let name = "sl\(getpid() % 10000)"
    private static let subnet = "10.96.\(getpid() % 200 + 20)"

    /// The client environment of the running cluster (SLURM_CONF, METAOPT_MPIRUN_ARGS), or why
    /// it could not start; set by the first `cluster()`.
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var started: Result<[String: String], Error>?
    }
    private static let state = State()

    /// `ip`, `slurmctld` and the like live in /usr/sbin or /sbin, which a test runner's PATH may lack.
    private static var basePath: String {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    }

    private static var underCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// A missing prerequisite: a skip on a developer's machine, a failure under CI.
    private static func unavailable(_ reason: String) -> Error {
        underCI ? MPIJobError(description: "Slurm cluster tests cannot run under CI: \(reason)") : XCTSkip(reason)
    }

    private static func runScript(_ args: [String], timeout: TimeInterval) throws -> MPIJobResult {
        try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"), arguments: [clusterScript.path] + args,
                              timeout: timeout, environment: ["PATH": basePath])
    }

    /// Brings the cluster up once per test process (installing slurm-wlm and munge if needed).
    private static func cluster() throws -> [String: String] {
        state.lock.lock()
        defer { state.lock.unlock() }
        if let started = state.started { return try started.get() }
        let result: Result<[String: String], Error>
        if getuid() != 0 {
            result = .failure(unavailable("the Slurm test cluster needs root (network namespaces, daemons; CI runs as root)"))
        } else if !basePath.split(separator: ":").contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/ip") }) {
            result = .failure(unavailable("the ip command is missing: install iproute2 (bash launch/setup.sh)"))
        } else {
            result = Result {
                let start = Date()
                let up = try runScript(["up", name, subnet], timeout: 300)
                // 69: a missing tool the script could not install (no root, not Debian).
                if up.status == 69 { throw unavailable(up.stderr) }
                guard up.status == 0, !up.timedOut else {
                    throw MPIJobError(description: "launch/slurm-cluster.sh up failed:\n\(up)")
                }
                print("SlurmClusterTests: cluster up in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
                var environment: [String: String] = ["PATH": basePath]
                // Lines `export KEY='VALUE'`, as `eval` in a shell reads them.
                for line in up.stdout.split(separator: "\n") where line.hasPrefix("export ") {
                    let assignment = line.dropFirst("export ".count)
                    guard let equals = assignment.firstIndex(of: "="),
                          ["SLURM_CONF", "METAOPT_MPIRUN_ARGS"].contains(String(assignment[..<equals])) else { continue }
                    let value = assignment[assignment.index(after: equals)...]
                    guard value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") else { continue }
                    environment[String(assignment[..<equals])] = String(value.dropFirst().dropLast())
                }
                guard environment["SLURM_CONF"] != nil, environment["METAOPT_MPIRUN_ARGS"] != nil else {
                    throw MPIJobError(description: "launch/slurm-cluster.sh up printed no client settings:\n\(up)")
                }
                return environment
            }
        }
        state.started = result
        return try result.get()
    }

    override class func tearDown() {
        state.lock.lock()
        defer { state.lock.unlock() }
        if case .success = state.started {
            let down = try? runScript(["down", name], timeout: 60)
            if down?.status != 0 { print("SlurmClusterTests: launch/slurm-cluster.sh down failed:\n\(down.map { "\($0)" } ?? "")") }
        }
        state.started = nil
        super.tearDown()
    }

    /// Runs a Slurm client command (sbatch, scontrol, scancel) against the test cluster.
    private func slurm(_ command: String, _ args: [String], extraEnvironment: [String: String] = [:],
                       timeout: TimeInterval = 30) throws -> MPIJobResult {
        let environment = try Self.cluster().merging(extraEnvironment) { _, new in new }
        return try MPIJob.runProcess(executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: [command] + args,
                                     timeout: timeout, environment: environment)
    }

    /// Waits (60 s at most from `start`) for the job's first checkpoint, then sends its batch
    /// script SIGUSR1 as Slurm's --signal would; false (and a failure) when none came.
    func signalAfterTheFirstCheckpoint(_ id: String, runDirectory: URL, output: URL, start: Date) throws -> Bool {
        let checkpoints = runDirectory.appendingPathComponent("checkpoints")
        var firstCheckpoint = false
        while Date().timeIntervalSince(start) < 60 {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? []
            if names.contains(where: { $0.hasSuffix(".mopt") }) { firstCheckpoint = true; break }
            usleep(50_000)
        }
        XCTAssertTrue(firstCheckpoint, "no first checkpoint within 60 s:\n\(contents(output))")
        guard firstCheckpoint else { return false }
        let signal = try slurm("scancel", ["--signal=USR1", "--batch", id])
        XCTAssertEqual(signal.status, 0, "\(signal)")
        return true
    }

    /// `sbatch --parsable -N 2 -n 2 -o OUTPUT -e OUTPUT [OPTIONS] launch/slurm.sbatch ARGS` with the
    /// binary under test (METAOPT_BIN); returns the job id. The job runs in this process's directory.
    private func submit(_ args: [String], output: URL, options: [String] = []) throws -> String {
        let binary = try MPIJob.binaryURL().path
        let sbatch = try slurm("sbatch", ["--parsable", "-N", "2", "-n", "2", "-o", output.path, "-e", output.path]
                                   + options + [Self.batchScript.path] + args,
                               extraEnvironment: ["METAOPT_BIN": binary])
        guard sbatch.status == 0, let id = sbatch.stdout.split(separator: "\n").first?.split(separator: ";").first else {
            throw MPIJobError(description: "sbatch failed:\n\(sbatch)")
        }
        return String(id)
    }

    /// Waits for the job to end (`sbatch --wait` polls too slowly: seconds); returns its
    /// `scontrol show job` fields then, or the last ones seen after `timeout` seconds. Prints each
    /// change of the job's state with the seconds since `start`.
    private func waitForEnd(_ id: String, timeout: TimeInterval, start: Date) throws -> [String: String] {
        let deadline = Date().addingTimeInterval(timeout)
        var fields = try jobFields(id)
        var state = ""
        while Date() < deadline {
            if let now = fields["JobState"], now != state {
                state = now
                print("SlurmClusterTests: job \(id) \(now) at \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
            }
            if ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"]
                .contains(fields["JobState"] ?? "") { break }
            usleep(200_000)
            fields = try jobFields(id)
        }
        return fields
    }

    /// `scontrol show job ID`'s `KEY=VALUE` fields.
    private func jobFields(_ id: String) throws -> [String: String] {
        let show = try slurm("scontrol", ["show", "job", "--oneliner", id])
        var fields: [String: String] = [:]
        for token in show.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            guard let equals = token.firstIndex(of: "=") else { continue }
            fields[String(token[..<equals])] = String(token[token.index(after: equals)...])
        }
        return fields
    }

    private func contents(_ url: URL) -> String {
        (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }

    /// `sbatch -N 2 -n 2 launch/slurm.sbatch train ... --shards 2` meta-trains with one rank on each
    /// node, each MLP function's coordinates split over the two nodes (an allgather over TCP per
    /// unrolled step), and ends with the φ, optimizer file and checkpoint of the unsharded command
    /// under `mpirun -np 2` here, bit for bit.
    func testBatchScriptTrainsAcrossTwoNodesLikeALocalRun() throws {
        try DistributedTrain.requireMPIRun()
        let environment = try Self.cluster()
        // `eval "$(slurm-cluster.sh env NAME)"`, as its header says, sets what `up` printed (the
        // unquoted lines it printed before ran "btl: command not found").
        let shell = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"), arguments: ["-c",
            #"eval "$(bash "$0" env "$1")" && printf '%s\n%s' "$SLURM_CONF" "$METAOPT_MPIRUN_ARGS""#, Self.clusterScript.path, Self.name],
            timeout: 30, environment: ["PATH": Self.basePath])
        XCTAssertEqual(shell.status, 0, "\(shell)")
        XCTAssertEqual(shell.stdout, "\(environment["SLURM_CONF"] ?? "")\n\(environment["METAOPT_MPIRUN_ARGS"] ?? "")", "\(shell)")
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let slurmRun = scratch.appendingPathComponent("slurm"), localRun = scratch.appendingPathComponent("local")
        let output = scratch.appendingPathComponent("job.out")
        let train = ["train"] + ShardingTests.mlpJob + ["--shards", "2", "--run-dir", slurmRun.path, "--no-resume",
                                                         "--progress-every", "1", "--verbose"]

        let start = Date()
        let id = try submit(train, output: output)
        let fields = try waitForEnd(id, timeout: 120, start: start)
        let log = contents(output)
        XCTAssertEqual(fields["JobState"], "COMPLETED", "the batch job failed:\n\(fields)\n--- job output ---\n\(log)")
        XCTAssertEqual(fields["ExitCode"], "0:0", "\(fields)")
        XCTAssertEqual(fields["NodeList"], "sn[1-2]", "\(fields)")
        print("SlurmClusterTests: 2-node job \(id) took \(String(format: "%.1f", Date().timeIntervalSince(start))) s from sbatch to its end")
        // Open MPI maps ranks by slot in the allocation's node order; each node runs in a UTS
        // namespace named after it, so the processor name says where a rank ran.
        for (rank, node) in [(0, "sn1"), (1, "sn2")] {
            XCTAssertTrue(log.contains("[rank \(rank)] debug metaopt-dist: MPI started host=\(node) "),
                          "rank \(rank) did not run on \(node):\n\(log)")
        }
        XCTAssertTrue(log.contains("1 group(s) of 2 ranks"), "the job was not sharded:\n\(log)")
        guard fields["JobState"] == "COMPLETED" else { return }

        let local = try DistributedTrain.train(np: 2, runDirectory: localRun, job: ShardingTests.mlpJob, extra: ["--shards", "1"])
        XCTAssertEqual(local.status, 0, "the local job failed:\n\(local)")
        guard local.status == 0 else { return }
        DistributedTrain.assertIdentical(try DistributedTrain.output(of: localRun), try DistributedTrain.output(of: slurmRun),
                                         "sbatch on 2 nodes, sharded, against mpirun -np 2 here, unsharded")
    }

    /// Preemption: SIGUSR1 to the batch shell (what `--signal=B:USR1@...` sends before the time
    /// limit) stops the run at a horizon boundary with a checkpoint; the script requeues its job,
    /// the second attempt resumes from that checkpoint and ends with the φ of an uninterrupted
    /// run, bit for bit. The command's --no-resume holds for the first attempt only (the second
    /// started over from meta-step 0 before).
    func testSignalledJobCheckpointsRequeuesAndResumesToTheUninterruptedPhi() throws {
        try DistributedTrain.requireMPIRun()
        _ = try Self.cluster()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let slurmRun = scratch.appendingPathComponent("slurm"), reference = scratch.appendingPathComponent("reference")
        let output = scratch.appendingPathComponent("job.out")
        // 8 quadratics of dimension 200 in blocks of 2, 2 truncations per horizon, a checkpoint
        // every 4 meta-steps: a few seconds in all, so the signal comes well before the end.
        let iterations = 100
        func train(_ runDirectory: URL) -> [String] {
            ["train", "--meta-batch", "8", "--block-size", "2", "--dimension", "200", "--unroll", "5", "--horizon", "10",
             "--iterations", String(iterations), "--checkpoint-every", "4", "--seed", "11", "--progress-every", "1",
             "--run-dir", runDirectory.path]
        }

        let start = Date()
        let id = try submit(train(slurmRun) + ["--no-resume"], output: output)
        guard try signalAfterTheFirstCheckpoint(id, runDirectory: slurmRun, output: output, start: start) else { return }

        // The stopped attempt requeues the job (PENDING, then RUNNING again); the second attempt
        // finishes the run.
        let fields = try waitForEnd(id, timeout: 150, start: start)
        let log = contents(output)
        print("SlurmClusterTests: signalled job \(id) took \(String(format: "%.1f", Date().timeIntervalSince(start))) s from sbatch to the end of its second attempt")
        XCTAssertEqual(fields["JobState"], "COMPLETED", "the job did not complete:\n\(fields)\n--- job output ---\n\(log)")
        XCTAssertEqual(fields["Restarts"], "1", "one requeue expected:\n\(fields)\n\(log)")
        XCTAssertEqual(fields["ExitCode"], "0:0", "\(fields)")

        // The first attempt stopped at a horizon boundary after the signal; the second resumed there.
        let marker = "stopped at meta-step "
        let stoppedAt = log.range(of: marker).flatMap { Int(log[$0.upperBound...].prefix { $0.isNumber }) }
        let k = try XCTUnwrap(stoppedAt, "no stop line in the job output:\n\(log)")
        print("SlurmClusterTests: the first attempt stopped at meta-step \(k) of \(iterations)")
        XCTAssertEqual(k % 2, 0, "2 truncations per horizon: boundaries are even")
        XCTAssertLessThan(k, iterations, "the run ended before the signal took effect:\n\(log)")
        XCTAssertTrue(log.contains("slurm.sbatch: stopped after SIGUSR1; requeueing job \(id)"), log)
        XCTAssertTrue(log.contains("slurm.sbatch: job \(id) attempt 2 on sn[1-2]"), log)
        XCTAssertTrue(log.contains("slurm.sbatch: running without --no-resume (an earlier attempt of this job started over"), log)
        let resumed = MPIJobResult(status: 0, stdout: "", stderr: log, seconds: 0, timedOut: false)
        XCTAssertEqual(FaultTest.resumePoint(resumed)?.iteration, k, "no 'resuming from ... at iteration \(k)':\n\(log)")
        guard fields["JobState"] == "COMPLETED" else { return }

        let local = try MPIJob.run(np: 2, args: train(reference) + ["--no-resume"], timeout: 120)
        XCTAssertEqual(local.status, 0, "the uninterrupted run failed:\n\(local)")
        guard local.status == 0 else { return }
        XCTAssertEqual(try FaultTest.phiBits(runDirectory: slurmRun), try FaultTest.phiBits(runDirectory: reference),
                       "φ after a signal, requeue and resume under Slurm differs from an uninterrupted run of \(iterations) meta-steps")
    }

    /// A signalled stop of a job Slurm will not requeue (submitted with --no-requeue; also the
    /// script run with bash inside salloc) is still a clean stop: `scontrol requeue` is refused
    /// ("Requested operation is presently disabled"), and the script says so and exits 0. It used
    /// to exit with scontrol's status 1, and the job ended FAILED with its checkpoint written.
    func testSignalledJobThatCannotBeRequeuedEndsCleanly() throws {
        try DistributedTrain.requireMPIRun()
        _ = try Self.cluster()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let runDirectory = scratch.appendingPathComponent("slurm"), output = scratch.appendingPathComponent("job.out")
        let start = Date()
        let id = try submit(["train", "--meta-batch", "8", "--block-size", "2", "--dimension", "200", "--unroll", "5",
                             "--horizon", "10", "--iterations", "100", "--checkpoint-every", "4", "--seed", "11",
                             "--run-dir", runDirectory.path],
                            output: output, options: ["--no-requeue"])
        guard try signalAfterTheFirstCheckpoint(id, runDirectory: runDirectory, output: output, start: start) else { return }
        let fields = try waitForEnd(id, timeout: 90, start: start)
        let log = contents(output)
        XCTAssertEqual(fields["JobState"], "COMPLETED", "\(fields)\n--- job output ---\n\(log)")
        XCTAssertEqual(fields["ExitCode"], "0:0", "\(fields)")
        XCTAssertEqual(fields["Restarts"], "0", "\(fields)")
        XCTAssertTrue(log.contains("stopped at meta-step "), log)
        XCTAssertTrue(log.contains("slurm.sbatch: job \(id) was not requeued"), log)
        XCTAssertTrue(log.contains("submit again with the same command"), log)
    }
}
