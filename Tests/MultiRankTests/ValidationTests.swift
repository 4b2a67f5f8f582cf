import Foundation
import XCTest

/// `train --validate-every`: the scores and the best φ do not depend on the rank count, the score
/// is the mean final loss `evaluate` measures on the same functions, the best file holds the φ of
/// its meta-step, and a killed run resumed from a checkpoint writes the files an uninterrupted
/// run does.
final class ValidationTests: XCTestCase {
    /// The small quadratic job (2 truncations per horizon) for 10 meta-steps, scored every 2
    /// meta-steps on 5 functions (uneven over 3 ranks).
    private func job(iterations: Int = 10) -> [String] {
        var job = DistributedTrain.smallJob
        job[job.firstIndex(of: "--iterations")! + 1] = String(iterations)
        return job + ["--validate-every", "2", "--validation-functions", "5", "--validation-seed", "99"]
    }

    private struct Line: Decodable, Equatable {
        var iteration: Int
        var mean_final_loss: Double?
        var best: Bool
    }

    private func lines(_ dir: URL) throws -> [Line] {
        let data = try Data(contentsOf: dir.appendingPathComponent("validation.jsonl"))
        return try data.split(separator: UInt8(ascii: "\n")).map { try JSONDecoder().decode(Line.self, from: Data($0)) }
    }

    private struct BestFile: Decodable {
        struct Score: Decodable { var iteration: Int; var meanFinalLoss: Double; var functions: Int; var seed: UInt64 }
        var iteration: Int
        var phi: [Float]
        var validation: Score
    }

    private func best(_ dir: URL) throws -> (bytes: Data, file: BestFile) {
        // The bytes apart from the provenance, whose command line names the run's directory.
        let bytes = try Data(contentsOf: dir.appendingPathComponent("best-optimizer.json"))
        return (ProvenanceSupport.optimizerFileWithoutProvenance(bytes), try JSONDecoder().decode(BestFile.self, from: bytes))
    }

    func testScoresAndBestPhiAreTheSameForAnyRankCountAndMeanWhatEvaluateMeasures() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        var runs: [URL] = []
        for np in [1, 3] {
            let dir = scratch.appendingPathComponent("np\(np)")
            let run = try DistributedTrain.train(np: np, runDirectory: dir, job: job(), extraMPIArgs: ["--oversubscribe"])
            XCTAssertEqual(run.status, 0, "\(run)")
            runs.append(dir)
        }
        let log = try lines(runs[0])
        XCTAssertEqual(log.map(\.iteration), [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(try lines(runs[1]), log, "validation.jsonl under 1 and 3 ranks")
        XCTAssertEqual(try best(runs[0]).bytes, try best(runs[1]).bytes, "best-optimizer.json under 1 and 3 ranks")

        // The flags mark each new minimum; the file holds the lowest score.
        var lowest = Double.infinity
        for line in log {
            let loss = try XCTUnwrap(line.mean_final_loss)
            XCTAssertEqual(line.best, loss < lowest, "best flag at meta-step \(line.iteration)")
            lowest = min(lowest, loss)
        }
        let (_, file) = try best(runs[0])
        XCTAssertEqual(file.validation.meanFinalLoss, lowest)
        XCTAssertEqual(file.iteration, file.validation.iteration)
        XCTAssertEqual(file.validation.functions, 5)
        XCTAssertEqual(file.validation.seed, 99)

        // The best file's φ is the φ after its meta-step: a run stopped there writes it.
        let stopped = scratch.appendingPathComponent("stopped")
        let stop = try DistributedTrain.train(np: 2, runDirectory: stopped, job: job(iterations: file.iteration))
        XCTAssertEqual(stop.status, 0, "\(stop)")
        XCTAssertEqual(try DistributedTrain.output(of: stopped).phi, file.phi)

        // `evaluate` on the same 5 functions (seed 99, one horizon of 10 steps) measures the same
        // mean final loss (it batches the functions together, so allow rounding).
        let out = scratch.appendingPathComponent("eval")
        let evaluation = try MPIJob.runSingleton(args: [
            "evaluate", "--optimizer", runs[0].appendingPathComponent("best-optimizer.json").path, "--functions", "5",
            "--steps", "10", "--seed", "99", "--baselines", "none", "--out", out.path])
        XCTAssertEqual(evaluation.status, 0, "\(evaluation)")
        struct Report: Decodable { struct Curves: Decodable { var losses: [[Float]] }; var curves: [Curves] }
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: out.appendingPathComponent("report.json")))
        let finals = report.curves[0].losses.map { Double($0.last!) }
        XCTAssertEqual(finals.count, 5)
        XCTAssertEqual(finals.reduce(0, +) / 5, lowest, accuracy: 1e-5 * lowest)
    }

    /// A tie is not a new best: with a learning rate so small that φ never changes (10⁻³⁰, far
    /// below half an ulp of any φ value), every validation scores the same, so only the first is
    /// flagged and best-optimizer.json stays at meta-step 0, the first of equal scores, as
    /// `ValidationLog.best` (a resume) also takes it.
    func testEqualScoresKeepTheFirstBest() throws {
        try DistributedTrain.requireMPIRun()
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("np1")
        let run = try DistributedTrain.train(np: 1, runDirectory: dir, job: job(iterations: 6), extra: ["--learning-rate", "1e-30"])
        XCTAssertEqual(run.status, 0, "\(run)")
        let log = try lines(dir)
        XCTAssertEqual(log.map(\.iteration), [0, 2, 4, 6])
        XCTAssertEqual(Set(log.map(\.mean_final_loss)).count, 1, "φ did not move, so every score is the same: \(log)")
        XCTAssertEqual(log.map(\.best), [true, false, false, false])
        XCTAssertEqual(try best(dir).file.iteration, 0)
    }

    /// Killed after the validation at meta-step 6 and before any checkpoint after meta-step 4:
    /// the resume drops the log lines after 4, keeps the best file (the φ of meta-step 6 or
    /// earlier) and ends with the files of the uninterrupted run.
    func testKilledRunResumesToTheUninterruptedFiles() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let whole = scratch.appendingPathComponent("whole")
        let uninterrupted = try DistributedTrain.train(np: 2, runDirectory: whole, job: job(), extra: ["--checkpoint-every", "4"])
        XCTAssertEqual(uninterrupted.status, 0, "\(uninterrupted)")

        let split = scratch.appendingPathComponent("split")
        let killed = try DistributedTrain.train(np: 2, runDirectory: split, job: job(),
                                                extra: ["--checkpoint-every", "4", "--inject-fault", "kill@7:1"])
        XCTAssertNotEqual(killed.status, 0, "\(killed)")
        XCTAssertEqual(try lines(split).map(\.iteration), [0, 2, 4, 6], "validated up to meta-step 6 before the kill")
        let args = ["train"] + job() + ["--run-dir", split.path, "--checkpoint-every", "4"]
        let resumed = try MPIJob.run(np: 2, args: args, timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(resumed.status, 0, "\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("resuming from"), "\(resumed)")
        XCTAssertEqual(try lines(split), try lines(whole), "validation.jsonl, resumed and uninterrupted")
        XCTAssertEqual(try best(split).bytes, try best(whole).bytes, "best-optimizer.json, resumed and uninterrupted")
    }

    /// A resume whose validation.jsonl was lost flags as "best" only scores better than the one
    /// best-optimizer.json holds from before the resumed meta-step. With a learning rate so small
    /// that φ never changes (as in testEqualScoresKeepTheFirstBest), every score equals meta-step
    /// 0's: after the resume each was logged "new best" and flagged so, while the file rightly
    /// kept meta-step 0.
    func testALostValidationLogDoesNotFlagWorseScoresAsBest() throws {
        try DistributedTrain.requireMPIRun()
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let still = ["--learning-rate", "1e-30", "--checkpoint-every", "4"]
        let first = try DistributedTrain.train(np: nil, runDirectory: dir, job: job(iterations: 8), extra: still)
        XCTAssertEqual(first.status, 0, "\(first)")
        XCTAssertEqual(try lines(dir).map(\.best), [true, false, false, false, false])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("validation.jsonl"))
        let resumed = try MPIJob.run(np: 1, args: ["train"] + job(iterations: 12) + ["--run-dir", dir.path] + still,
                                     timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(resumed.status, 0, "\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("resuming from"), "\(resumed)")
        let after = try lines(dir)
        XCTAssertEqual(after.last?.iteration, 12, "\(resumed)")
        XCTAssertEqual(after.filter(\.best).map(\.iteration), [], "\(after)")
        XCTAssertFalse(resumed.stderr.contains("(new best)"), "\(resumed)")
        XCTAssertEqual(try best(dir).file.iteration, 0)
    }

    /// A NaN at meta-step 4 ends that horizon early (boundaries 4, 5, 7, 9); with validation
    /// every 4 the scores are at 0, 4 and 9 (the last meta-step). A run killed at meta-step 6
    /// resumes from its checkpoint at the boundary 5; under 3 ranks it does not score 5 (the
    /// boundary before it was 4, not a horizon back) and ends with the files of an uninterrupted
    /// run. A run of 5 meta-steps scores 5: its last.
    func testResumeAtABoundaryASkipBroughtEarlyWritesTheUninterruptedFiles() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        func skippingJob(iterations: Int) -> [String] {
            var job = job(iterations: iterations)
            job[job.firstIndex(of: "--validate-every")! + 1] = "4"
            return job + ["--inject-fault", "nan@4:1"]
        }
        let whole = scratch.appendingPathComponent("whole")
        let uninterrupted = try DistributedTrain.train(np: 2, runDirectory: whole, job: skippingJob(iterations: 9))
        XCTAssertEqual(uninterrupted.status, 0, "\(uninterrupted)")
        XCTAssertEqual(try lines(whole).map(\.iteration), [0, 4, 9])

        let short = scratch.appendingPathComponent("short")
        let shortRun = try DistributedTrain.train(np: 2, runDirectory: short, job: skippingJob(iterations: 5))
        XCTAssertEqual(shortRun.status, 0, "\(shortRun)")
        XCTAssertEqual(try lines(short).map(\.iteration), [0, 4, 5])

        let split = scratch.appendingPathComponent("split")
        let first = try DistributedTrain.train(np: 2, runDirectory: split, job: skippingJob(iterations: 9),
                                               extra: ["--checkpoint-every", "1", "--inject-fault", "kill@6:1"])
        XCTAssertNotEqual(first.status, 0, "\(first)")
        XCTAssertEqual(try lines(split).map(\.iteration), [0, 4])
        let resumed = try MPIJob.run(np: 3, args: ["train"] + skippingJob(iterations: 9) + ["--run-dir", split.path],
                                     timeout: DistributedTrain.jobTimeout, extraMPIArgs: ["--oversubscribe"])
        XCTAssertEqual(resumed.status, 0, "\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("resuming from") && resumed.stderr.contains("ckpt-0000000005.mopt"), "\(resumed)")
        XCTAssertEqual(try lines(split), try lines(whole), "validation.jsonl, resumed and uninterrupted")
        XCTAssertEqual(try best(split).bytes, try best(whole).bytes, "best-optimizer.json, resumed and uninterrupted")
        XCTAssertEqual(try DistributedTrain.output(of: split).phi, try DistributedTrain.output(of: whole).phi)
    }

    /// `evaluate --split train` draws the held-out functions from the training split (other
    /// images, so other losses from the same θ₀) and says so in the report; quadratics refuse it.
    func testEvaluateSplitTrainUsesTheTrainingImages() throws {
        try DistributedTrain.requireMPIRun()
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
        }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let source = scratch.appendingPathComponent("source")
        let train = try DistributedTrain.train(np: nil, runDirectory: source)
        XCTAssertEqual(train.status, 0, "\(train)")
        let optimizer = source.appendingPathComponent("optimizer.json").path

        struct Report: Decodable {
            struct Curves: Decodable { var losses: [[Float]] }
            var curves: [Curves]
            var metadata: [String: String]
        }
        var reports: [String: Report] = [:]
        for split in ["train", "test"] {
            let out = scratch.appendingPathComponent(split)
            let run = try MPIJob.runSingleton(args: ["evaluate", "--optimizer", optimizer, "--task", "mlp", "--functions", "2",
                                                     "--steps", "1", "--baselines", "none", "--split", split, "--out", out.path])
            XCTAssertEqual(run.status, 0, "\(run)")
            reports[split] = try JSONDecoder().decode(Report.self, from: Data(contentsOf: out.appendingPathComponent("report.json")))
        }
        XCTAssertEqual(reports["train"]?.metadata["held_out_split"], "train")
        XCTAssertNil(reports["test"]?.metadata["held_out_split"])
        let initial = { (split: String) in reports[split]!.curves[0].losses.map { $0[0] } }
        XCTAssertEqual(initial("train").count, 2)
        XCTAssertNotEqual(initial("train"), initial("test"), "the same θ₀ on other images gives other losses")

        let quadratic = try MPIJob.runSingleton(args: ["evaluate", "--optimizer", optimizer, "--split", "train",
                                                       "--out", scratch.appendingPathComponent("q").path])
        XCTAssertNotEqual(quadratic.status, 0, "\(quadratic)")
        XCTAssertTrue(quadratic.stderr.contains("--split applies to image tasks only"), "\(quadratic)")
        let mixture = try MPIJob.runSingleton(args: ["evaluate", "--optimizer", optimizer, "--task", "mix", "--mixture", "quadratic; rosenbrock",
                                                     "--split", "train", "--out", scratch.appendingPathComponent("m").path])
        XCTAssertEqual(mixture.status, 64, "\(mixture)")
        XCTAssertTrue(mixture.stderr.contains("this mixture has no image family"), "\(mixture)")
    }

    func testBadValidationOptionsAreRefused() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        for (extra, message) in [(["--validate-every", "-1"], "--validate-every must be a number of meta-steps, or 0 for no validation (got -1)"),
                                 (["--validate-every", "2", "--validation-seed", "7"], "the validation seed must differ from the training seed"),
                                 (["--validation-seed", "7"], "the validation seed must differ from the training seed"),
                                 (["--validate-every", "0", "--validation-functions", "3"],
                                  "--validation-functions and --validation-seed do not apply with --validate-every 0 (no validation)"),
                                 (["--task", "rosenbrock", "--validation-functions", "3"],
                                  "--validation-functions and --validation-seed need --validate-every (task rosenbrock does not validate by default)")] {
            let run = try MPIJob.runSingleton(args: ["train"] + DistributedTrain.smallJob + ["--run-dir", scratch.path] + extra)
            XCTAssertNotEqual(run.status, 0, "\(extra): \(run)")
            XCTAssertTrue(run.stderr.contains(message), "\(extra): \(run)")
        }
    }
}
