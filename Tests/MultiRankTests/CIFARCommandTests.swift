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
}
