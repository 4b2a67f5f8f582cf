import Foundation
import XCTest

/// A mixture of families under mpirun (issue #19): each block draws its family from its key, so φ
/// is the same bit for bit on 1, 2 and 3 ranks (with the meta-loss normalised and a mixed
/// validation set); an interrupted run resumes to the same φ; `evaluate --task` scores the
/// mixture's one-optimizer φ on a single family, the CNN included.
final class MixtureTrainingTests: XCTestCase {
    /// Quadratics, a small sigmoid and a small ReLU MLP and a small CNN, in 6 blocks of one
    /// function (2 per rank at -np 3): a few seconds per run.
    static let job = ["--task", "mix",
                      "--mixture", "quadratic; mlp hidden-layers=4 minibatch=8; mlp hidden-layers=4 activation=relu minibatch=8; cnn conv-channels=2 fc-layers=4 minibatch=4",
                      "--meta-batch", "6", "--block-size", "1", "--unroll", "2", "--horizon", "4", "--iterations", "4",
                      "--seed", "5", "--loss-normalization", "initial-loss",
                      "--validate-every", "2", "--validation-functions", "3"]

    func testMixturePhiIsIdenticalOnOneTwoAndThreeRanks() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        var reference: DistributedTrain.Output?
        var validation: Data?
        for np in [1, 2, 3] {
            let dir = scratch.appendingPathComponent("np\(np)")
            let result = try DistributedTrain.train(np: np, runDirectory: dir, job: Self.job)
            XCTAssertEqual(result.status, 0, "-np \(np):\n\(result)")
            guard result.status == 0 else { continue }
            let output = try DistributedTrain.output(of: dir)
            XCTAssertTrue(output.phi.allSatisfy(\.isFinite))
            let scores = try Data(contentsOf: dir.appendingPathComponent("validation.jsonl"))
            if let reference, let validation {
                DistributedTrain.assertIdentical(reference, output, "-np \(np) against -np 1")
                XCTAssertEqual(String(decoding: scores, as: UTF8.self), String(decoding: validation, as: UTF8.self),
                               "-np \(np): validation scores")
            } else {
                reference = output
                validation = scores
            }
        }
        // The families really differ from block to block: 4 meta-steps on 6 blocks drew several.
        let config = try String(contentsOf: scratch.appendingPathComponent("np1/config.json"), encoding: .utf8)
        XCTAssertTrue(config.contains(#""mixture": "1*quadratic dimension=10; 1*mlp hidden-layers=4 activation=sigmoid"#), config)
        XCTAssertTrue(config.contains(#""loss-normalization": "initial-loss""#), config)

        // On by default for a mixture only; "none" turns it off and is written out.
        for (args, expected) in [(["--task", "mix"], "initial-loss"), (["--task", "mix", "--loss-normalization", "none"], "none")] {
            let run = try MPIJob.runSingleton(args: ["train", "--print-config"] + args)
            XCTAssertTrue(run.stdout.contains(#""loss-normalization": "\#(expected)""#), "\(args):\n\(run)")
        }
        let quadratic = try MPIJob.runSingleton(args: ["train", "--print-config"])
        XCTAssertFalse(quadratic.stdout.contains("loss-normalization"), "\(quadratic)")

        // Resumed halfway on 2 ranks: the same φ as the uninterrupted run.
        let resumed = scratch.appendingPathComponent("resumed")
        var half = Self.job
        half[half.firstIndex(of: "--iterations")! + 1] = "2"
        for (args, label) in [(half, "first half"), (Self.job, "second half")] {
            let run = try MPIJob.run(np: 2, args: ["train"] + args + ["--run-dir", resumed.path], timeout: DistributedTrain.jobTimeout)
            XCTAssertEqual(run.status, 0, "\(label):\n\(run)")
        }
        if let reference {
            XCTAssertEqual(try DistributedTrain.output(of: resumed).phi.map(\.bitPattern), reference.phi.map(\.bitPattern),
                           "resumed φ against the uninterrupted run")
        }

        // The generalist on one family at a time, the CNN's two parameter groups on its one optimizer.
        let optimizer = scratch.appendingPathComponent("np1/optimizer.json").path
        for family in [["--task", "quadratic"], ["--task", "cnn", "--conv-channels", "2", "--fc-layers", "4", "--minibatch", "4"]] {
            let out = scratch.appendingPathComponent("eval-\(family[1])")
            let run = try MPIJob.runSingleton(args: ["evaluate", "--optimizer", optimizer, "--functions", "2", "--steps", "3",
                                                     "--baselines", "none", "--quiet", "--out", out.path] + family)
            XCTAssertEqual(run.status, 0, "evaluate \(family[1]):\n\(run)")
            let report = try String(contentsOf: out.appendingPathComponent("report.json"), encoding: .utf8)
            XCTAssertTrue(report.contains(family[1] == "cnn" ? "cnn(" : "quadratic(dimension: 10)"), "evaluate \(family[1])")
        }
    }

    /// `truncation-start` scales each truncation by losses every shard and rank computes alike:
    /// the same φ on 1 and 3 ranks, and not the φ of `initial-loss`.
    func testTruncationStartNormalisationIsTheSameOnOneAndThreeRanks() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        var job = Self.job
        job[job.firstIndex(of: "initial-loss")!] = "truncation-start"
        var outputs: [DistributedTrain.Output] = []
        for (np, args) in [(1, job), (3, job), (1, Self.job)] {
            let dir = scratch.appendingPathComponent("np\(np)-\(outputs.count)")
            let result = try DistributedTrain.train(np: np, runDirectory: dir, job: args)
            XCTAssertEqual(result.status, 0, "-np \(np):\n\(result)")
            guard result.status == 0 else { return }
            outputs.append(try DistributedTrain.output(of: dir))
        }
        DistributedTrain.assertIdentical(outputs[0], outputs[1], "truncation-start: -np 3 against -np 1")
        XCTAssertNotEqual(outputs[0].phi.map(\.bitPattern), outputs[2].phi.map(\.bitPattern),
                          "truncation-start and initial-loss train different φ")
    }
}
