import Foundation
import XCTest

/// `train --init-from`: φ starts from a trained-optimizer file, on every rank and for any rank
/// count; a checkpoint of the warm-started run wins over the file on resume; a file of another
/// architecture or a missing file stops every rank with a message naming the file.
final class WarmStartTests: XCTestCase {
    /// The same small quadratic job as the distributed-training tests, drawn with another seed so
    /// that the warm-started runs see functions the source run did not.
    private func job(iterations: Int, seed: Int = 8) -> [String] {
        var job = DistributedTrain.smallJob
        job[job.firstIndex(of: "--iterations")! + 1] = String(iterations)
        job[job.firstIndex(of: "--seed")! + 1] = String(seed)
        return job
    }

    /// Trains the source optimizer (6 meta-steps, one process) and returns its file.
    private func sourceOptimizer(in scratch: URL) throws -> URL {
        let dir = scratch.appendingPathComponent("source")
        let run = try DistributedTrain.train(np: nil, runDirectory: dir)
        XCTAssertEqual(run.status, 0, "\(run)")
        return dir.appendingPathComponent("optimizer.json")
    }

    func testWarmStartBeginsAtTheFilesPhiForAnyRankCount() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let source = try sourceOptimizer(in: scratch)
        let sourcePhi = try DistributedTrain.output(of: source.deletingLastPathComponent()).phi

        // No meta-steps: the written optimizer is the file's φ, bit for bit.
        let copy = scratch.appendingPathComponent("copy")
        let zero = try DistributedTrain.train(np: 2, runDirectory: copy, job: job(iterations: 0),
                                              extra: ["--init-from", source.path])
        XCTAssertEqual(zero.status, 0, "\(zero)")
        XCTAssertTrue(zero.stderr.contains("starting φ from \(source.path)"), "\(zero)")
        let copied = try DistributedTrain.output(of: copy).phi
        XCTAssertEqual(copied.count, sourcePhi.count)
        let differing = zip(copied, sourcePhi).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "φ values that differ from the file's after 0 meta-steps")

        // Four meta-steps from the file: the same φ under 1 and 3 ranks, and not the φ of the same
        // run started fresh.
        var outputs: [DistributedTrain.Output] = []
        for np in [1, 3] {
            let dir = scratch.appendingPathComponent("warm-np\(np)")
            let run = try DistributedTrain.train(np: np, runDirectory: dir, job: job(iterations: 4),
                                                 extra: ["--init-from", source.path], extraMPIArgs: ["--oversubscribe"])
            XCTAssertEqual(run.status, 0, "\(run)")
            outputs.append(try DistributedTrain.output(of: dir))
        }
        DistributedTrain.assertIdentical(outputs[0], outputs[1], "warm start under 1 and 3 ranks")
        XCTAssertNotEqual(outputs[0].phi, sourcePhi, "four meta-steps must move φ")
        let fresh = scratch.appendingPathComponent("fresh")
        let freshRun = try DistributedTrain.train(np: 2, runDirectory: fresh, job: job(iterations: 4))
        XCTAssertEqual(freshRun.status, 0, "\(freshRun)")
        XCTAssertNotEqual(try DistributedTrain.output(of: fresh).phi, outputs[0].phi)
    }

    /// A warm-started run that is continued resumes its own checkpoint, not the file: 4 meta-steps,
    /// then resumed to 6, ends on the φ of 6 uninterrupted warm-started meta-steps.
    func testResumeOfAWarmStartedRunUsesItsCheckpoint() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let source = try sourceOptimizer(in: scratch)
        let whole = scratch.appendingPathComponent("whole")
        let wholeRun = try DistributedTrain.train(np: 2, runDirectory: whole, job: job(iterations: 6),
                                                  extra: ["--init-from", source.path])
        XCTAssertEqual(wholeRun.status, 0, "\(wholeRun)")

        let split = scratch.appendingPathComponent("split")
        let first = try DistributedTrain.train(np: 2, runDirectory: split, job: job(iterations: 4),
                                               extra: ["--init-from", source.path])
        XCTAssertEqual(first.status, 0, "\(first)")
        let args = ["train"] + job(iterations: 6) + ["--run-dir", split.path, "--init-from", source.path]
        let resumed = try MPIJob.run(np: 2, args: args, timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(resumed.status, 0, "\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("resuming from"), "\(resumed)")
        XCTAssertFalse(resumed.stderr.contains("starting φ from"), "\(resumed)")
        DistributedTrain.assertIdentical(try DistributedTrain.output(of: whole), try DistributedTrain.output(of: split),
                                         "6 warm-started meta-steps, whole and resumed after 4")
    }

    func testAnotherArchitectureOrAMissingFileStopsEveryRank() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let source = try sourceOptimizer(in: scratch)
        let wide = try DistributedTrain.train(np: 2, runDirectory: scratch.appendingPathComponent("wide"),
                                              job: job(iterations: 2), extra: ["--init-from", source.path, "--hidden-size", "10"])
        XCTAssertEqual(wide.status, 65, "a restart would be refused the same way: \(wide)")
        XCTAssertTrue(wide.stderr.contains("\(source.path) holds an optimizer with architecture hidden size 20"), "\(wide)")
        XCTAssertTrue(wide.stderr.contains("this run configures hidden size 10"), "\(wide)")

        let missing = scratch.appendingPathComponent("no-such-optimizer.json")
        let none = try DistributedTrain.train(np: 2, runDirectory: scratch.appendingPathComponent("none"),
                                              job: job(iterations: 2), extra: ["--init-from", missing.path])
        XCTAssertEqual(none.status, 65, "\(none)")
        XCTAssertTrue(none.stderr.contains("\(missing.path) cannot be read"), "\(none)")
    }
}
