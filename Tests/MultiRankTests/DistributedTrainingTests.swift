import Foundation
import XCTest

/// Distributed meta-training under mpirun (issue #4, docs/design.md "Distribution"): for a fixed
/// seed, global meta-batch and block size the trained φ is the same bit for bit whatever the
/// number of ranks; a rank whose φ drifts stops the job; a non-finite step on one rank is skipped
/// by all; bad arguments fail identically everywhere; the metrics carry per-rank timing.
final class DistributedTrainingTests: XCTestCase {
    /// How fast a job with a failing rank must end (as in MultiRankTests, slack for a loaded CI).
    let failureDeadline: TimeInterval = 12

    private func assertSucceeded(_ result: MPIJobResult, _ label: String,
                                 file: StaticString = #filePath, line: UInt = #line) -> Bool {
        XCTAssertFalse(result.timedOut, "\(label): timed out:\n\(result)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "\(label): failed:\n\(result)", file: file, line: line)
        return result.status == 0 && !result.timedOut
    }

    /// The singleton and -np 1, 2, 3, 4, 8 give the same φ, optimizer file and final checkpoint
    /// (Adam moments included). 6 blocks: 4 ranks own 1, 2, 1, 2 blocks; 8 ranks leave 2 idle.
    func testPhiIsIdenticalForAnyNumberOfRanks() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        var reference: DistributedTrain.Output?
        for np in [nil, 1, 2, 3, 4, 8] as [Int?] {
            let label = np.map { "-np \($0)" } ?? "singleton"
            let dir = scratch.appendingPathComponent(np.map { "np\($0)" } ?? "singleton")
            // Unsharded (ShardingTests covers --shards): at 8 ranks, 2 are idle.
            let result = try DistributedTrain.train(np: np, runDirectory: dir, extra: ["--verbose", "--shards", "1"])
            guard assertSucceeded(result, label) else { continue }
            let output = try DistributedTrain.output(of: dir)
            XCTAssertEqual(output.checkpointName, "ckpt-0000000006.mopt", label)
            XCTAssertTrue(output.phi.allSatisfy(\.isFinite), label)
            if let reference {
                DistributedTrain.assertIdentical(reference, output, "\(label) against the singleton")
            } else {
                reference = output
            }
            // The slices really were uneven (and some ranks idle at 8).
            let owned = ownedBlocks(result)
            switch np {
            case 4:
                XCTAssertEqual(owned, [0: ["0..<4"], 1: ["4..<8", "8..<12"], 2: ["12..<16"], 3: ["16..<20", "20..<24"]],
                               "\(result)")
            case 8:
                XCTAssertEqual(owned.count, 8, "\(result)")
                XCTAssertEqual(owned.values.filter(\.isEmpty).count, 2, "two of 8 ranks own none of the 6 blocks: \(owned)")
                XCTAssertEqual(owned.values.flatMap { $0 }.count, 6, "\(owned)")
            default: break
            }
        }
    }

    /// rank → the task ranges it logged as its blocks (`--verbose`).
    private func ownedBlocks(_ result: MPIJobResult) -> [Int: [String]] {
        var owned: [Int: [String]] = [:]
        for line in result.stderr.split(separator: "\n") {
            guard let r = line.range(of: "] debug metaopt-dist.train: owns blocks"), line.hasPrefix("[rank "),
                  let rank = Int(line[line.index(line.startIndex, offsetBy: 6)..<r.lowerBound]) else { continue }
            owned[rank] = line[r.upperBound...].split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return owned
    }

    /// Every metrics line carries the compute spread over ranks (max ≥ mean ≥ min), the wait in
    /// the MAX allreduce, the meta-gradient allreduce and the update; so does the progress line.
    func testMetricsCarryPerRankTiming() throws {
        try DistributedTrain.requireMPIRun()
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let result = try DistributedTrain.train(np: 2, runDirectory: dir)
        guard assertSucceeded(result, "-np 2") else { return }
        let lines = try DistributedTrain.metrics(of: dir)
        XCTAssertEqual(lines.map { $0["iteration"] as? Int }, (0..<6).map { $0 })
        for line in lines {
            var t: [String: Double] = [:]
            for key in ["compute_max", "compute_mean", "compute_min", "wait", "allreduce", "update"] {
                guard let v = line[key] as? Double ?? (line[key] as? Int).map(Double.init) else {
                    XCTFail("metrics line without a number for \(key): \(line)")
                    continue
                }
                XCTAssertTrue(v.isFinite && v >= 0, "\(key) = \(v)")
                t[key] = v
            }
            guard t.count == 6 else { continue }
            XCTAssertGreaterThan(t["compute_min"]!, 0, "\(line)")
            // The mean is summed in whole microseconds: allow that rounding.
            XCTAssertLessThanOrEqual(t["compute_min"]!, t["compute_mean"]! + 1e-6, "\(line)")
            XCTAssertLessThanOrEqual(t["compute_mean"]!, t["compute_max"]! + 1e-6, "\(line)")
            XCTAssertEqual(line["skipped"] as? Bool, false, "\(line)")
        }
        let progress = result.stderr.split(separator: "\n").filter { $0.hasPrefix("iter ") }
        XCTAssertEqual(progress.count, 6, "one progress line per meta-step:\n\(result)")
        let pattern = try NSRegularExpression(
            pattern: #"^iter \d+/6 .* compute [0-9.]+s \(max [0-9.]+s\)  wait [0-9.]+s  allreduce [0-9.]+s"#)
        for line in progress {
            let s = String(line)
            XCTAssertNotNil(pattern.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)), "progress line: \(s)")
        }
    }

    /// A rank whose φ drifts (perturbed before meta-step 2) is caught by the next consistency
    /// check: the job ends promptly, non-zero, naming the problem, and writes no optimizer.
    func testConsistencyCheckCatchesPerturbedRank() throws {
        try DistributedTrain.requireMPIRun()
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let result = try DistributedTrain.train(np: 2, runDirectory: dir,
                                                extra: ["--inject-fault", "perturb@2:1", "--consistency-every", "1"],
                                                timeout: 60)
        XCTAssertFalse(result.timedOut, "job hung:\n\(result)")
        XCTAssertNotEqual(result.status, 0, "\(result)")
        XCTAssertLessThan(result.seconds, failureDeadline, "\(result)")
        XCTAssertTrue(result.stderr.contains("φ differs between ranks at iteration 3 (consistency check)"), "\(result)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("optimizer.json").path))
    }

    /// A rank whose φ drifts between consistency checks (here: none is due, --consistency-every
    /// stays at its default 50) cannot reach the disk: the final optimizer write checks φ across
    /// ranks first, so the job fails instead of ending with status 0 and a wrong φ.
    func testDriftedPhiIsNeverWrittenAsTheTrainedOptimizer() throws {
        try DistributedTrain.requireMPIRun()
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let result = try DistributedTrain.train(np: 2, runDirectory: dir, extra: ["--inject-fault", "perturb@2:1"], timeout: 60)
        XCTAssertFalse(result.timedOut, "job hung:\n\(result)")
        XCTAssertNotEqual(result.status, 0, "a drifted φ must not end the job successfully:\n\(result)")
        XCTAssertTrue(result.stderr.contains("φ differs between ranks"), "\(result)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("optimizer.json").path))
    }

    /// ... nor reach a checkpoint: with a checkpoint every horizon (2 meta-steps) and φ perturbed
    /// on rank 1 at the start of meta-step 5, the checkpoints of meta-steps 2 and 4 are written and
    /// the one of meta-step 6 is refused, so a resume starts from a φ every rank agreed on.
    func testDriftedPhiIsNeverCheckpointed() throws {
        try DistributedTrain.requireMPIRun()
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let job = DistributedTrain.smallJob.map { $0 == "6" ? "12" : $0 }  // --iterations 12
        let result = try DistributedTrain.train(np: 2, runDirectory: dir, job: job,
                                                extra: ["--inject-fault", "perturb@5:1", "--checkpoint-every", "2"],
                                                timeout: 60)
        XCTAssertFalse(result.timedOut, "job hung:\n\(result)")
        XCTAssertNotEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stderr.contains("φ differs between ranks at iteration 6"), "\(result)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("checkpoints").path)
            .filter { $0.hasSuffix(".mopt") }.sorted()
        XCTAssertEqual(names, ["ckpt-0000000002.mopt", "ckpt-0000000004.mopt"], "\(result)")
    }

    /// A NaN meta-gradient on rank 1 at meta-step 2 makes every rank skip that step together: the
    /// job finishes, the metrics say so, the consistency check (every step) passes, and φ equals a
    /// one-rank run that hit the NaN at the same step.
    func testNonFiniteStepOnOneRankIsSkippedByAll() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let two = scratch.appendingPathComponent("np2"), one = scratch.appendingPathComponent("np1")
        let result = try DistributedTrain.train(np: 2, runDirectory: two,
                                                extra: ["--inject-fault", "nan@2:1", "--consistency-every", "1"])
        guard assertSucceeded(result, "-np 2 with a NaN on rank 1") else { return }
        let lines = try DistributedTrain.metrics(of: two)
        XCTAssertEqual(lines.count, 6)
        XCTAssertEqual(lines.map { $0["skipped"] as? Bool }, [false, false, true, false, false, false])
        XCTAssertEqual(lines.map { $0["skipped_total"] as? Int }, [0, 0, 1, 1, 1, 1])
        XCTAssertTrue(lines[2]["meta_loss"] is NSNull, "a skipped step has no loss: \(lines[2])")
        XCTAssertTrue(result.stderr.contains("skipped 1"), "the progress line counts the skip:\n\(result)")

        let single = try DistributedTrain.train(np: 1, runDirectory: one, extra: ["--inject-fault", "nan@2:0", "--consistency-every", "1"])
        guard assertSucceeded(single, "-np 1 with a NaN on rank 0") else { return }
        DistributedTrain.assertIdentical(try DistributedTrain.output(of: one), try DistributedTrain.output(of: two),
                                         "NaN on rank 1 of 2 against NaN on the only rank")
    }

    /// A horizon that is not a multiple of the unroll is rejected by argument validation on every
    /// rank, before MPI starts: the same message from every rank that prints, exit status 64, nothing written.
    func testInvalidUnrollFailsIdenticallyOnEveryRank() throws {
        try DistributedTrain.requireMPIRun()
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let result = try MPIJob.run(np: 2, args: ["train", "--horizon", "30", "--unroll", "20", "--run-dir", dir.path],
                                    timeout: 60, perRankOutput: true)
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertEqual(result.status, 64, "\(result)")
        XCTAssertLessThan(result.seconds, failureDeadline, "\(result)")
        // mpirun stops the other rank once one exits, possibly before it prints: at least one says why.
        let spoken = result.rankStderr.filter { !$0.value.isEmpty }
        XCTAssertFalse(spoken.isEmpty, "per-rank output missing:\n\(result)")
        XCTAssertTrue(Set(spoken.keys).isSubset(of: [0, 1]), "\(result)")
        for (rank, text) in spoken {
            XCTAssertEqual(text.split(separator: "\n").first.map(String.init),
                           "Error: the horizon (30) must be a multiple of the unroll length (20)", "rank \(rank):\n\(result)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path), "nothing may be written")
    }
}
