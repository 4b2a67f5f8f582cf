import Foundation
import Logging
@testable import MetaOpt
import XCTest

/// A resume of a long run read metrics.jsonl whole twice on rank 0: once to drop what follows the
/// checkpoint, at start-up, and again at the live plot's first drawing, inside a meta-step. With
/// 2.5 million lines (1 GB) the second read took past the 60 s deadline of the ranks waiting in
/// the meta-step's collective, and they ended the job; the first held the log five times over and
/// would pass the 300 s start-up deadline at about twice that length.
final class LongLogResumeTests: XCTestCase {
    private func scratch() throws -> URL {
        URL(fileURLWithPath: try dataTestTemporaryDirectory(self))
    }

    private func lines(_ iterations: Range<Int>) -> String {
        iterations.map { "{\"iteration\":\($0),\"meta_loss\":\(1.0 / Double($0 + 1))}\n" }.joined()
    }

    func testTruncationGivesTheKeptStepsAndTheLengthItLeaves() throws {
        let url = try scratch().appendingPathComponent("metrics.jsonl")
        // A blank line and a torn append among them: dropped, the file rewritten.
        try Data((lines(0..<3) + "\n" + lines(3..<6) + "{\"iteration\":6,\"me").utf8).write(to: url)
        let cut = try MetricsLog.truncated(url, lines: TrainingLog.Step.self, before: 4)
        XCTAssertEqual(cut.kept.map(\.iteration), [0, 1, 2, 3])
        XCTAssertEqual(cut.undecodable, [])
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), lines(0..<4))
        XCTAssertEqual(cut.bytes, try Data(contentsOf: url).count)
        // Nothing to drop: the file stays as it is (not written again), its length given.
        let before = try FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber] as? Int
        let again = try MetricsLog.truncated(url, lines: TrainingLog.Step.self, before: 10)
        XCTAssertEqual(again.kept.count, 4)
        XCTAssertEqual(again.bytes, cut.bytes)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber] as? Int, before,
                       "a rewrite replaces the file")
        // A last line without its newline is kept with one.
        try Data((lines(0..<2) + "{\"iteration\":2,\"meta_loss\":0.5}").utf8).write(to: url)
        let unterminated = try MetricsLog.truncated(url, lines: TrainingLog.Step.self, before: 10)
        XCTAssertEqual(unterminated.kept.map(\.iteration), [0, 1, 2])
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), lines(0..<2) + "{\"iteration\":2,\"meta_loss\":0.5}\n")
        XCTAssertEqual(unterminated.bytes, try Data(contentsOf: url).count)
        // A blank line alone goes too.
        try Data((lines(0..<2) + "\n" + lines(2..<3)).utf8).write(to: url)
        XCTAssertEqual(try MetricsLog.truncated(url, lines: TrainingLog.Step.self, before: 10).bytes, lines(0..<3).utf8.count)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), lines(0..<3))
    }

    /// The live plot starts from the steps the resume read and reads on from where they end: the
    /// lines before are not read again (here overwritten with bytes that do not parse, which a
    /// second read would refuse).
    func testTheLivePlotReadsOnlyWhatFollowsTheStepsItIsGiven() throws {
        let dir = try scratch()
        let run = RunDirectory(dir)
        try Data(lines(0..<4).utf8).write(to: run.metrics)
        let cut = try MetricsLog.truncated(run.metrics, lines: TrainingLog.Step.self, before: 4)
        try Data((String(repeating: "x", count: cut.bytes - 1) + "\n" + lines(4..<6)).utf8).write(to: run.metrics)
        let collected = PlottingTests.Collected()
        let logger = Logger(label: "test") { _ in PlottingTests.CollectingHandler(collected: collected) }
        let plot = LivePlot(runDirectory: run, interval: 1e9, logger: logger, logged: cut.kept, loggedBytes: cut.bytes)
        plot.refresh()
        XCTAssertEqual(collected.lines.filter { $0.contains("plot.svg") }, [])
        let svg = try String(contentsOf: run.plot, encoding: .utf8)
        XCTAssertTrue(svg.contains(": 6 meta-steps"), "the figure counts the given steps and the new ones")
    }

    /// Every rank learns the logs' length before rank 0 reads them, and waits for it that much
    /// longer, in a collective of the start-up, with or without validation (without, the other
    /// ranks went on into the first meta-step, whose deadline is the start-up's 300 s).
    func testTheRanksWaitForTheLogsByTheirLength() throws {
        try checkTheRanksWaitForTheLogs(validates: true)
        try checkTheRanksWaitForTheLogs(validates: false)
        XCTAssertEqual(RunActivity.readingLogs(bytes: 1_000_000_000).automaticDeadline(medianStep: nil), 800)
        XCTAssertEqual(RunActivity.readingLogs(bytes: 1_000_000_000).automaticDeadline(medianStep: 0.01), 800)
    }

    private func checkTheRanksWaitForTheLogs(validates: Bool) throws {
        let dir = try scratch().appendingPathComponent("run")
        let run = RunDirectory(dir)
        func train(iterations: Int) throws -> [RunActivity] {
            var seen: [RunActivity] = []
            let config = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 4, unroll: 5, horizon: 10,
                                        iterations: iterations, learningRate: 1e-2, seed: 3,
                                        validation: validates ? ValidationConfig(every: 2, functions: 2, seed: 9) : nil)
            let training = try TrainingRun(config: config, communicator: LocalCommunicator(),
                                           options: .init(runDirectory: run, checkpointEvery: 2, progressEvery: 100, plotEvery: nil),
                                           resume: true, activity: { seen.append($0) })
            training.progress = { _ in }
            XCTAssertEqual(try training.run(), .finished)
            return seen
        }
        XCTAssertEqual(try train(iterations: 2).prefix(2), [RunActivity.readingLogs(bytes: 0), .startUp], "a fresh start reads no log")
        let logs = validates ? [run.metrics, run.validationLog] : [run.metrics]
        let bytes = try logs.map { try Data(contentsOf: $0).count }.reduce(0, +)
        XCTAssertGreaterThan(bytes, 0)
        XCTAssertEqual(TrainingRun.logBytes(of: run), Int64(bytes))
        XCTAssertEqual(try train(iterations: 4).prefix(2), [RunActivity.readingLogs(bytes: bytes), .startUp], "the resume's")
    }
}
