import Foundation
import XCTest

/// The warning of a fresh run whose mean step loss over its first 500 meta-steps is no lower than
/// at its start (docs/results.md, "When p = 5 training stalls"), through the program: said once by
/// a run that does not move, again by its resumption (whose metrics.jsonl gives the untrained
/// start back), and not by a resumed run without that log or a warm-started run, whose start is
/// trained.
final class StallWarningTests: XCTestCase {
    /// A small MLP that the learned optimizer cannot move (output scale 1e-6, meta learning rate
    /// 1e-9): every step's loss stays at ln 10 up to the minibatch's noise, a few seconds a run.
    static let stalledJob = ["train", "--task", "mlp", "--hidden-layers", "1", "--minibatch", "8", "--p", "5",
                             "--unroll", "2", "--horizon", "4", "--output-scale", "1e-6", "--learning-rate", "1e-9",
                             "--checkpoint-every", "0"]
    static let warning = "is no lower than at the start of the run"

    func testAStalledRunAndItsResumptionSaySoOnceAndAWarmStartedOneDoesNot() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
        }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let run = scratch.appendingPathComponent("run")
        let stalled = try MPIJob.runSingleton(args: Self.stalledJob + ["--iterations", "1000", "--run-dir", run.path],
                                              timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(stalled.status, 0, "\(stalled)")
        XCTAssertEqual(stalled.stderr.components(separatedBy: Self.warning).count - 1, 1, "once, not per window:\n\(stalled)")
        XCTAssertTrue(stalled.stderr.contains("warning metaopt-dist.train: the mean step loss of meta-steps 0–499, "), "\(stalled)")
        XCTAssertTrue(stalled.stderr.contains("no lower than at the start of the run (2.30"), "\(stalled)")
        XCTAssertTrue(stalled.stderr.contains(", meta-steps 0–1): "), "the first horizon:\n\(stalled)")
        XCTAssertTrue(stalled.stderr.contains("(\"When p = 5 training stalls\")"), "\(stalled)")

        let resumed = try MPIJob.runSingleton(args: Self.stalledJob + ["--iterations", "1500", "--resume", "--run-dir", run.path],
                                              timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(resumed.status, 0, "\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("at iteration 1000"), "the second run resumed at meta-step 1000:\n\(resumed)")
        XCTAssertEqual(resumed.stderr.components(separatedBy: Self.warning).count - 1, 1, "once:\n\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("the mean step loss of meta-steps 600–1099, "),
                      "at the first check after the resume, over logged and new meta-steps:\n\(resumed)")
        XCTAssertTrue(resumed.stderr.contains(", meta-steps 0–1): "), "the logged first horizon:\n\(resumed)")

        try FileManager.default.removeItem(at: run.appendingPathComponent("metrics.jsonl"))
        let unlogged = try MPIJob.runSingleton(args: Self.stalledJob + ["--iterations", "2000", "--resume", "--run-dir", run.path],
                                               timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(unlogged.status, 0, "\(unlogged)")
        XCTAssertTrue(unlogged.stderr.contains("at iteration 1500"), "\(unlogged)")
        XCTAssertFalse(unlogged.stderr.contains(Self.warning), "without the logged start there is no yardstick:\n\(unlogged)")

        let warm = try MPIJob.runSingleton(args: Self.stalledJob + ["--iterations", "500", "--init-from",
                                                                    run.appendingPathComponent("optimizer.json").path,
                                                                    "--run-dir", scratch.appendingPathComponent("warm").path],
                                           timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(warm.status, 0, "\(warm)")
        XCTAssertFalse(warm.stderr.contains(Self.warning), "nor is a warm-started run's:\n\(warm)")
    }
}
