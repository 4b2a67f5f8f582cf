import Foundation
import XCTest

/// CIFAR-10 through the command line (`--dataset cifar10 --data-dir DIR`), on a directory of small
/// files in the CIFAR binary format that the test writes itself (the real files cannot be fetched
/// here): the CNN trains a few meta-steps on the training split and is evaluated on the test split.
final class CIFARCommandTests: XCTestCase {
    /// `count` records: label byte `(first + i) % 10`, then 3 × 32 × 32 pixel bytes.
    static func records(_ count: Int, first: Int) -> Data {
        var bytes: [UInt8] = []
        for i in 0..<count {
            bytes.append(UInt8((first + i) % 10))
            bytes += (0..<3072).map { UInt8(truncatingIfNeeded: ($0 &* 13 &+ (first + i) &* 71) % 256) }
        }
        return Data(bytes)
    }

    func testTrainAndEvaluateOnCIFARFiles() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let data = scratch.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        for b in 1...5 { try Self.records(8, first: 10 * b).write(to: data.appendingPathComponent("data_batch_\(b).bin")) }
        try Self.records(10, first: 3).write(to: data.appendingPathComponent("test_batch.bin"))

        let run = scratch.appendingPathComponent("run")
        let train = try DistributedTrain.train(np: nil, runDirectory: run, job: [
            "--task", "cnn", "--dataset", "cifar10", "--data-dir", data.path, "--conv-channels", "4,4",
            "--fc-layers", "8", "--minibatch", "8", "--meta-batch", "1", "--unroll", "2", "--horizon", "4",
            "--iterations", "2", "--seed", "3"])
        XCTAssertEqual(train.status, 0, "\(train)")
        let config = try String(contentsOf: run.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssertTrue(config.contains("cifar10") && config.contains(data.path), config)

        let out = scratch.appendingPathComponent("eval")
        let evaluate = try MPIJob.runSingleton(args: [
            "evaluate", "--optimizer", run.appendingPathComponent("optimizer.json").path, "--functions", "1",
            "--steps", "3", "--tuning-functions", "1", "--baselines", "sgd", "--out", out.path])
        XCTAssertEqual(evaluate.status, 0, "\(evaluate)")
        let report = try String(contentsOf: out.appendingPathComponent("report.json"), encoding: .utf8)
        XCTAssertTrue(report.contains("cifar10"), report)

        // A truncated training file fails with a message that names it.
        let truncated = data.appendingPathComponent("data_batch_2.bin")
        try Self.records(3, first: 0).prefix(3 * 3073 - 10).write(to: truncated)
        let broken = try DistributedTrain.train(np: nil, runDirectory: scratch.appendingPathComponent("broken"), job: [
            "--task", "cnn", "--dataset", "cifar10", "--data-dir", data.path, "--iterations", "1"])
        XCTAssertNotEqual(broken.status, 0, "\(broken)")
        XCTAssertTrue((broken.stderr + broken.stdout).contains(truncated.path), "\(broken)")
    }

    /// A CNN with more 2×2 poolings than its images allow (32×32: five) is a usage error, refused
    /// with status 64 on every rank and by evaluate, and no run directory is written. Before,
    /// train ended with status 1, which launch/restart.sh restarts, and evaluate with status 1.
    func testTooManyPoolingsAreRefusedAsBadUsage() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let data = scratch.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        for b in 1...5 { try Self.records(4, first: b).write(to: data.appendingPathComponent("data_batch_\(b).bin")) }
        try Self.records(4, first: 0).write(to: data.appendingPathComponent("test_batch.bin"))
        let task = ["--task", "cnn", "--dataset", "cifar10", "--data-dir", data.path, "--fc-layers", "4", "--minibatch", "4"]
        let expected = "the CNN's 6 convolution layers (--conv-channels) each end in a 2×2 pooling, which halves the image: 32×32 images (cifar10) allow at most 5"
        let run = scratch.appendingPathComponent("run")
        let refused = try DistributedTrain.train(np: 2, runDirectory: run, job: task + [
            "--conv-channels", "2,2,2,2,2,2", "--meta-batch", "2", "--unroll", "2", "--horizon", "4", "--iterations", "1"])
        XCTAssertEqual(refused.status, 64, "\(refused)")
        // Each rank's message whole, on a line of its own: argument-parser's exit printed it in
        // pieces, which the two ranks interleaved mid-line in about one run of fifteen.
        XCTAssertEqual(refused.stderr.split(separator: "\n").filter { $0 == "Error: " + expected }.count, 2, "\(refused)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path), "a refused run wrote \(run.path)")

        // Five fit: a short run trains, and its optimizer is then evaluated on six.
        let fits = try DistributedTrain.train(np: nil, runDirectory: run, job: task + [
            "--conv-channels", "2,2,2,2,2", "--meta-batch", "1", "--unroll", "2", "--horizon", "4", "--iterations", "1"])
        XCTAssertEqual(fits.status, 0, "\(fits)")
        let evaluate = try MPIJob.runSingleton(args: [
            "evaluate", "--optimizer", run.appendingPathComponent("optimizer.json").path] + task + [
            "--conv-channels", "2,2,2,2,2,2", "--functions", "1", "--steps", "2", "--tuning-functions", "1",
            "--out", scratch.appendingPathComponent("eval").path])
        XCTAssertEqual(evaluate.status, 64, "\(evaluate)")
        XCTAssertTrue(evaluate.stderr.contains(expected), "\(evaluate)")
    }
}
