import Foundation
import XCTest

/// Coordinate sharding under mpirun (issue #15, `train --shards`): φ after N meta-steps is the
/// same bit for bit for any number of ranks and shards, uneven splits included; checkpoints resume
/// under another sharding; impossible shard counts are refused on every rank.
final class ShardingTests: XCTestCase {
    /// MLP functions of 15,910 coordinates: 63 column tiles each, which 2, 4 and 8 shards split
    /// unevenly. Two blocks of one function, 4 meta-steps (about 1 s on one core).
    static let mlpJob = ["--task", "mlp", "--meta-batch", "2", "--block-size", "1", "--unroll", "5", "--horizon", "10",
                         "--iterations", "4", "--seed", "5", "--checkpoint-every", "2"]

    private func train(np: Int?, shards: String?, job: [String], in scratch: URL, _ label: String) throws -> DistributedTrain.Output? {
        let dir = scratch.appendingPathComponent(label.replacingOccurrences(of: " ", with: "-"))
        let result = try DistributedTrain.train(np: np, runDirectory: dir, job: job,
                                                extra: shards.map { ["--shards", $0] } ?? [], timeout: 120)
        XCTAssertFalse(result.timedOut, "\(label): timed out:\n\(result)")
        XCTAssertEqual(result.status, 0, "\(label): failed:\n\(result)")
        guard result.status == 0 else { return nil }
        return try DistributedTrain.output(of: dir)
    }

    /// The singleton against -np 1, 2, 3, 4 and 8 with S = 1, 2, 3, 4, 8 and auto: the same φ,
    /// optimizer file and checkpoint.
    func testPhiIsIdenticalForAnyRanksAndShards() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        guard let reference = try train(np: nil, shards: nil, job: Self.mlpJob, in: scratch, "singleton") else { return }
        XCTAssertTrue(reference.phi.allSatisfy(\.isFinite))
        let runs: [(Int, String)] = [(1, "1"), (2, "1"), (2, "2"), (3, "3"), (4, "2"), (4, "4"), (8, "8"), (8, "auto")]
        for (np, shards) in runs {
            let label = "np \(np) shards \(shards)"
            guard let output = try train(np: np, shards: shards, job: Self.mlpJob, in: scratch, label) else { continue }
            DistributedTrain.assertIdentical(reference, output, "\(label) against the singleton")
        }
    }

    /// The logged meta-loss counts each block once, whatever the sharding: every metrics line's
    /// meta_loss, mean_step_loss and gradient_norm under 2 ranks with S = 2 (each block's tiles
    /// split over two shards) are those of the singleton, bit for bit (the sums are exact).
    func testMetaLossIsTheSameForAnyShards() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        var logged: [[[Double]]] = []
        for (np, shards) in [(nil, nil), (2, "2")] as [(Int?, String?)] {
            let label = np.map { "np \($0) shards \(shards!)" } ?? "singleton"
            let dir = scratch.appendingPathComponent(label.replacingOccurrences(of: " ", with: "-"))
            guard try train(np: np, shards: shards, job: Self.mlpJob, in: scratch, label) != nil else { return }
            logged.append(try DistributedTrain.metrics(of: dir).map { line in
                ["meta_loss", "mean_step_loss", "gradient_norm"].map { (line[$0] as? NSNumber)?.doubleValue ?? .nan }
            })
        }
        XCTAssertEqual(logged[0].count, 4, "\(logged[0])")
        XCTAssertEqual(logged[1], logged[0], "np 2 shards 2 against the singleton")
    }

    /// Functions smaller than a tile (the quadratic job's blocks of 4 × 10 coordinates are one
    /// unit each): every shard but the first owns nothing and still takes part in the allgathers.
    func testShardsWithoutUnitsKeepPhi() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        guard let reference = try train(np: nil, shards: nil, job: DistributedTrain.smallJob, in: scratch, "singleton") else { return }
        for (np, shards) in [(2, "2"), (4, "2")] {
            let label = "np \(np) shards \(shards)"
            guard let output = try train(np: np, shards: shards, job: DistributedTrain.smallJob, in: scratch, label) else { continue }
            DistributedTrain.assertIdentical(reference, output, "\(label) against the singleton")
        }
    }

    /// A run checkpointed at meta-step 2 under 4 ranks with S = 4, resumed under 2 ranks with
    /// S = 2, then under 3 with S = 3: the φ of an uninterrupted singleton run.
    func testCheckpointsResumeUnderAnotherSharding() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        var job = Self.mlpJob
        job[job.firstIndex(of: "--iterations")! + 1] = "6"
        guard let reference = try train(np: nil, shards: nil, job: job, in: scratch, "uninterrupted") else { return }
        let dir = scratch.appendingPathComponent("resumed")
        var steps = [(4, "4", "2"), (2, "2", "4"), (3, "3", "6")]
        // The first run starts fresh (--no-resume); the others resume.
        let (np0, shards0, iterations0) = steps.removeFirst()
        var first = job
        first[first.firstIndex(of: "--iterations")! + 1] = iterations0
        let started = try DistributedTrain.train(np: np0, runDirectory: dir, job: first, extra: ["--shards", shards0], timeout: 120)
        XCTAssertEqual(started.status, 0, "\(started)")
        for (np, shards, iterations) in steps {
            var next = job
            next[next.firstIndex(of: "--iterations")! + 1] = iterations
            let result = try MPIJob.run(np: np, args: ["train"] + next + ["--run-dir", dir.path, "--shards", shards],
                                        timeout: 120)
            XCTAssertEqual(result.status, 0, "\(result)")
            XCTAssertTrue(result.stderr.contains("resuming from"), "np \(np): \(result.stderr)")
        }
        DistributedTrain.assertIdentical(reference, try DistributedTrain.output(of: dir), "resumed under 4, 2 and 3 ranks")
    }

    /// Shard counts that do not divide the ranks, and sharding in the second-order mode: every
    /// rank prints why and the job exits with status 64, before any meta-step. (The second-order
    /// case needs no rank count: each process refuses it in validate(), before MPI starts, so its
    /// lines carry no rank prefix, and mpirun may stop the others before they print.)
    func testImpossibleShardingIsRefusedOnEveryRank() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let cases: [([String], String, afterStart: Bool)] = [
            (["--shards", "2"], "2 shards do not divide 3 ranks", true),
            (["--shards", "3", "--mode", "second-order"], "Error: --shards 3 needs the first-order mode: the second-order meta-gradient cannot be sharded", false),
        ]
        for (extra, message, afterStart) in cases {
            let result = try DistributedTrain.train(np: 3, runDirectory: scratch.appendingPathComponent("refused"),
                                                    extra: extra, timeout: 60)
            XCTAssertEqual(result.status, 64, "\(extra): \(result)")
            if afterStart {
                for rank in 0..<3 {
                    XCTAssertTrue(result.stderr.contains("rank \(rank): --shards: ") && result.stderr.contains(message),
                                  "\(extra): rank \(rank) must say why: \(result.stderr)")
                }
            } else {
                // Every process refuses before MPI starts, but mpirun kills the others as soon as the
                // first one exits, so some may be gone before they print: one to three lines.
                let lines = result.stderr.components(separatedBy: message).count - 1
                XCTAssertTrue((1...3).contains(lines), "\(extra): a process must say why: \(result.stderr)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("refused/metrics.jsonl").path))
        }
        let bad = try MPIJob.runSingleton(args: ["train", "--shards", "0"], timeout: 30)
        XCTAssertEqual(bad.status, 64, "\(bad)")
        XCTAssertTrue(bad.stderr.contains("--shards must be a positive number of ranks or auto"), bad.stderr)
    }

    /// A sharded run logs its allgather time per meta-step; an unsharded one logs 0.
    func testMetricsCarryTheAllgatherTime() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let sharded = scratch.appendingPathComponent("sharded"), plain = scratch.appendingPathComponent("plain")
        XCTAssertEqual(try DistributedTrain.train(np: 2, runDirectory: sharded, job: Self.mlpJob, extra: ["--shards", "2"]).status, 0)
        XCTAssertEqual(try DistributedTrain.train(np: 2, runDirectory: plain, job: Self.mlpJob, extra: ["--shards", "1"]).status, 0)
        let exchange = try DistributedTrain.metrics(of: sharded).map { $0["exchange"] as? Double ?? -1 }
        XCTAssertEqual(exchange.count, 4)
        XCTAssertTrue(exchange.allSatisfy { $0 > 0 }, "\(exchange)")
        XCTAssertEqual(try DistributedTrain.metrics(of: plain).map { $0["exchange"] as? Double ?? -1 }, [0, 0, 0, 0])
    }
}
