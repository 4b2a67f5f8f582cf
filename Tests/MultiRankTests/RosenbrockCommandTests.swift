import Foundation
import XCTest

/// The Rosenbrock family through the command line: trained and evaluated like the others.
final class RosenbrockCommandTests: XCTestCase {
    func testTrainAndEvaluate() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let run = scratch.appendingPathComponent("run")
        let train = try DistributedTrain.train(np: nil, runDirectory: run, job: [
            "--task", "rosenbrock", "--dimension", "3", "--meta-batch", "4", "--block-size", "2", "--unroll", "5",
            "--horizon", "10", "--iterations", "3", "--seed", "5"])
        XCTAssertEqual(train.status, 0, "\(train)")
        let config = try String(contentsOf: run.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssertTrue(config.contains(#""task": "rosenbrock""#) && config.contains(#""dimension": 3"#)
                      && config.contains(#""preprocessing": "log-sign""#), config)

        let out = scratch.appendingPathComponent("eval")
        let evaluate = try MPIJob.runSingleton(args: [
            "evaluate", "--optimizer", run.appendingPathComponent("optimizer.json").path, "--functions", "2",
            "--steps", "5", "--tuning-functions", "1", "--baselines", "sgd,adam", "--out", out.path])
        XCTAssertEqual(evaluate.status, 0, "\(evaluate)")
        struct Report: Decodable {
            struct Curve: Decodable { var name: String }
            var curves: [Curve]
            var metadata: [String: String]
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: out.appendingPathComponent("report.json")))
        XCTAssertEqual(report.metadata["task"], "rosenbrock(dimension: 3)")
        XCTAssertEqual(report.curves.count, 3, "the learned optimizer and two baselines")

        // No data split to choose.
        let split = try MPIJob.runSingleton(args: [
            "evaluate", "--optimizer", run.appendingPathComponent("optimizer.json").path, "--split", "train",
            "--out", scratch.appendingPathComponent("split").path])
        XCTAssertNotEqual(split.status, 0, "\(split)")
        XCTAssertTrue(split.stderr.contains("the rosenbrock task has no data split"), "\(split)")
    }
}
