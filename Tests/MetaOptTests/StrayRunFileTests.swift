import Foundation
import Logging
@testable import MetaOpt
import XCTest

/// Odd files in a run directory that a run passes over, and says so once: a directory named like
/// a checkpoint, a checkpoint name whose step has too many digits, lines of metrics.jsonl that do
/// not parse.
final class StrayRunFileTests: XCTestCase {
    private func scratch() throws -> URL {
        URL(fileURLWithPath: try dataTestTemporaryDirectory(self))
    }

    /// 2 truncations per horizon: checkpoints at even meta-steps.
    private func config(iterations: Int) -> TrainingConfig {
        TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 4, unroll: 5, horizon: 10,
                       iterations: iterations, learningRate: 1e-2, seed: 3)
    }

    /// Trains to `iterations` (resuming when there is a checkpoint, unless `resume` is false) and
    /// returns the log lines.
    @discardableResult
    private func train(_ dir: URL, iterations: Int, resume: Bool = true) throws -> [String] {
        let collected = PlottingTests.Collected()
        let logger = Logger(label: "test") { _ in PlottingTests.CollectingHandler(collected: collected) }
        let run = try TrainingRun(config: config(iterations: iterations), communicator: LocalCommunicator(),
                                  options: .init(runDirectory: RunDirectory(dir), checkpointEvery: 2,
                                                 progressEvery: 100, plotEvery: nil),
                                  resume: resume, logger: logger)
        run.progress = { _ in }
        XCTAssertEqual(try run.run(), .finished)
        return collected.lines
    }

    /// A resume that finds no checkpoint (an attempt stopped before its first one) sets the
    /// earlier logs aside as --no-resume does (they were emptied without a word), but replaces no
    /// older run's *.previous.* files: with those there it moves nothing and says the logs start
    /// again. A start refused for its --init-from file moves nothing.
    func testAResumeWithoutACheckpointSetsTheLogsAsideWithoutReplacingAnOlderRun() throws {
        let dir = try scratch()
        let run = RunDirectory(dir)
        let fm = FileManager.default
        try train(dir, iterations: 2)
        let first = try Data(contentsOf: run.metrics)
        try fm.removeItem(at: run.checkpoints)
        // A refused start: nothing moves.
        var refused = config(iterations: 2)
        refused.initFrom = dir.appendingPathComponent("no-such-optimizer.json").path
        XCTAssertThrowsError(try TrainingRun(config: refused, communicator: LocalCommunicator(),
                                             options: .init(runDirectory: run, progressEvery: 100, plotEvery: nil),
                                             resume: true, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }))
        XCTAssertEqual(try Data(contentsOf: run.metrics), first)
        XCTAssertFalse(fm.fileExists(atPath: run.previousMetrics.path))

        let lines = try train(dir, iterations: 2)
        XCTAssertTrue(lines.contains("notice: no checkpoint to resume: moved the earlier run's metrics.jsonl to \(run.previousMetrics.path)"), "\(lines)")
        XCTAssertEqual(try Data(contentsOf: run.previousMetrics), first)

        // Again, with the older run's files in place: kept, the logs rewritten.
        try fm.removeItem(at: run.checkpoints)
        let again = try train(dir, iterations: 2)
        XCTAssertTrue(again.contains("notice: no checkpoint to resume: the logs start again from meta-step 0 (the *.previous.* files hold an older run's, kept)"), "\(again)")
        XCTAssertEqual(try Data(contentsOf: run.previousMetrics), first, "the older run's log is kept")
        func lineCount(_ data: Data) -> Int { data.split(separator: UInt8(ascii: "\n")).count }
        XCTAssertEqual(lineCount(try Data(contentsOf: run.metrics)), lineCount(first), "the attempt's lines once, redone")
    }

    /// Pruning used to warn "could not remove …: Is a directory" at every checkpoint.
    func testADirectoryNamedLikeACheckpointIsLeftAloneAndWarnedAboutOnce() throws {
        let dir = try scratch()
        try train(dir, iterations: 2)
        let store = CheckpointStore(directory: RunDirectory(dir).checkpoints)
        let userDirectory = store.url(step: 1)
        try FileManager.default.createDirectory(at: userDirectory, withIntermediateDirectories: false)
        try Data("mine".utf8).write(to: userDirectory.appendingPathComponent("notes.txt"))

        let lines = try train(dir, iterations: 12)  // checkpoints at 4, 6, 8, 10 and 12
        let warnings = lines.filter { $0.hasPrefix("warning") }
        XCTAssertEqual(warnings, ["warning: \(userDirectory.path) is a directory, not a checkpoint file: pruning leaves it alone (move it away to silence this)"])
        XCTAssertEqual(try store.checkpointFiles().map(\.step), [1, 8, 10, 12])
        XCTAssertEqual(try String(contentsOf: userDirectory.appendingPathComponent("notes.txt"), encoding: .utf8), "mine")
    }

    /// With no checkpoint to resume, a name the store cannot use is still said (it used to be
    /// passed over in silence), and the run starts afresh.
    func testACheckpointNameWithTooManyDigitsIsReportedAtAFreshStart() throws {
        let dir = try scratch()
        let checkpoints = RunDirectory(dir).checkpoints
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        let huge = checkpoints.appendingPathComponent("ckpt-12345678901234567890123.mopt")
        try Data("whatever".utf8).write(to: huge)
        let lines = try train(dir, iterations: 2)
        XCTAssertEqual(lines.filter { $0.hasPrefix("warning") },
                       ["warning: ignored \(huge.path): not a usable checkpoint name (its step has 23 digits; a step has at most 18); it is neither loaded nor pruned"])
        XCTAssertFalse(lines.contains { $0.contains("resuming") }, "\(lines)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: huge.path))
    }

    /// --no-resume sets a folder aside that holds only an unusable checkpoint name (it used to stay,
    /// without a word), as it does one with checkpoints.
    func testStartingOverSetsAsideAFolderWithAnUnusableCheckpointName() throws {
        let dir = try scratch()
        let run = RunDirectory(dir)
        try FileManager.default.createDirectory(at: run.checkpoints, withIntermediateDirectories: true)
        let name = "ckpt-12345678901234567890123.mopt"
        try Data("whatever".utf8).write(to: run.checkpoints.appendingPathComponent(name))
        let lines = try train(dir, iterations: 2, resume: false)
        XCTAssertTrue(lines.contains("notice: not resuming: moved the checkpoints of the earlier run to \(run.previousCheckpoints.path)"), "\(lines)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.previousCheckpoints.appendingPathComponent(name).path))
        XCTAssertEqual(try CheckpointStore(directory: run.checkpoints).unusableCheckpointNames(), [])
    }

    /// A resume drops the lines of metrics.jsonl that do not parse, as before, and now names
    /// them; every other line before the checkpoint stays byte for byte.
    func testUndecodableMetricsLinesAreNamedOnResume() throws {
        let dir = try scratch()
        try train(dir, iterations: 4)
        let metrics = RunDirectory(dir).metrics
        var original = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(original.count, 5)  // 4 lines and the empty rest after the last newline
        original[1] = "not json"
        original[2] = original[2].prefix(20)
        try original.joined(separator: "\n").write(to: metrics, atomically: true, encoding: .utf8)

        // The checkpoint at 4 is the last: a resume to 6 keeps the lines before it.
        let lines = try train(dir, iterations: 6)
        XCTAssertEqual(lines.filter { $0.hasPrefix("warning") },
                       ["warning: \(metrics.path): dropped 2 lines that do not parse (lines 2, 3), damaged: only what follows the checkpoint is redone, so what they held before it stays missing"])
        let kept = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(Array(kept.prefix(2)), [original[0], original[3]])
        XCTAssertEqual(try TrainingLog.load(runDirectory: dir).steps.map(\.iteration), [0, 3, 4, 5])
    }

    func testTruncateCountsLinesFromOneAndTheWarningShortensLongLists() throws {
        let url = try scratch().appendingPathComponent("metrics.jsonl")
        let valid = "{\"iteration\":0,\"mean_final_loss\":1.5,\"best\":true}\n{\"iteration\":2,\"mean_final_loss\":1.25,\"best\":true}\n"
        try Data(valid.utf8).write(to: url)
        XCTAssertEqual(try MetricsLog.truncate(url, lines: TrainingLog.Validation.self, before: 10), [])
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), valid, "a valid file stays byte for byte")
        XCTAssertNil(MetricsLog.undecodableLinesWarning(url, lines: []))

        // Blank lines are dropped without a word, but counted.
        try Data(("x\n\n" + valid + "{\"iteration\":\n").utf8).write(to: url)
        XCTAssertEqual(try MetricsLog.truncate(url, lines: TrainingLog.Validation.self, before: 10), [1, 5])
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), valid)

        // A last line without its newline is an append cut short (its meta-step is redone): dropped, not named.
        try Data((valid + "{\"iteration\":4,\"mean_fi").utf8).write(to: url)
        XCTAssertEqual(try MetricsLog.truncate(url, lines: TrainingLog.Validation.self, before: 10), [])
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), valid)

        XCTAssertEqual(MetricsLog.undecodableLinesWarning(url, lines: [7]),
                       "\(url.path): dropped 1 line that does not parse (line 7), damaged: only what follows the checkpoint is redone, so what it held before it stays missing")
        let many = try XCTUnwrap(MetricsLog.undecodableLinesWarning(url, lines: Array(3...10)))
        XCTAssertTrue(many.hasPrefix("\(url.path): dropped 8 lines that do not parse (lines 3, 4, 5, 6, 7 and 3 more), "), many)
    }
}
