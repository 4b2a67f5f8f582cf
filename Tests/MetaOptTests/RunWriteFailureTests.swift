import Foundation
import Logging
@testable import MetaOpt
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Write failures of a training run (the fault-tolerance audit): a checkpoint folder that cannot
/// be written is refused at start, a final checkpoint that fails keeps the trained optimizer, a
/// failed log line names its file, and a lost best-optimizer.json is said to be lost.
final class RunWriteFailureTests: XCTestCase {
    private func scratch() throws -> URL {
        URL(fileURLWithPath: try dataTestTemporaryDirectory(self))
    }

    /// 2 truncations per horizon; with validation at meta-steps 0, 2, 4 and 6.
    private func config(iterations: Int = 6, validation: Bool = false) -> TrainingConfig {
        TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 4, unroll: 5, horizon: 10,
                       iterations: iterations, learningRate: 1e-2, seed: 3,
                       validation: validation ? ValidationConfig(every: 2, functions: 3, seed: 9) : nil)
    }

    private func makeRun(_ dir: URL, _ config: TrainingConfig, checkpointEvery: Int = 0, resume: Bool = false,
                         logger: Logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) throws -> TrainingRun {
        let run = try TrainingRun(config: config, communicator: LocalCommunicator(),
                                  options: .init(runDirectory: RunDirectory(dir), checkpointEvery: checkpointEvery,
                                                 progressEvery: 100, plotEvery: nil),
                                  resume: resume, logger: logger)
        run.progress = { _ in }
        return run
    }

    /// A RUN_DIR/checkpoints that cannot hold a checkpoint is refused before training; it used to
    /// fail at the final checkpoint, after every meta-step, and with --checkpoint-every 0 lose
    /// the whole result.
    func testACheckpointFolderThatCannotBeWrittenIsRefusedAtStart() throws {
        let dir = try scratch()
        let checkpoints = RunDirectory(dir).checkpoints
        XCTAssertTrue(FileManager.default.createFile(atPath: checkpoints.path, contents: Data("not a folder".utf8)))
        XCTAssertThrowsError(try makeRun(dir, config())) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("refusing to start") && message.contains(checkpoints.path), message)
            XCTAssertTrue(message.contains("\(checkpoints.path): is a regular file, not a directory"), message)
            // It would be met again: status 65, which launch/restart.sh does not restart.
            XCTAssertEqual((error as? CheckpointResumeError)?.repeatsOnRestart, true, message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: RunDirectory(dir).metrics.path), "refused before training")

        // An existing folder that cannot be written; an immutable one stops root too (where the
        // file system has the flag).
        try FileManager.default.removeItem(at: checkpoints)
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        guard geteuid() != 0 ? chmod(checkpoints.path, 0o555) == 0 : chattr("+i", checkpoints.path) else {
            throw XCTSkip("cannot make a folder read-only here")
        }
        defer { if geteuid() != 0 { chmod(checkpoints.path, 0o755) } else { _ = chattr("-i", checkpoints.path) } }
        XCTAssertThrowsError(try makeRun(dir, config())) { error in
            XCTAssertTrue("\(error)".contains("refusing to start, a file of this run could not be written: \(checkpoints.path)/"), "\(error)")
            XCTAssertEqual((error as? CheckpointResumeError)?.repeatsOnRestart, true, "\(error)")
        }
    }

    /// A full disk or a failing device may be gone after a restart (status 1); a path that is no
    /// place for a file, or a directory the run may not write, is not (status 65).
    func testOnlyAWriteRefusalThatWouldComeBackStopsRestarts() {
        func io(_ code: Int32) -> CheckpointError { CheckpointError(file: "f", problem: .io(operation: "open", errno: code)) }
        XCTAssertTrue(TrainingRun.writeRefusalRepeats(CheckpointError(file: "f/", problem: .invalidArgument("names a directory"))))
        XCTAssertTrue(TrainingRun.writeRefusalRepeats(io(EROFS)))
        XCTAssertTrue(TrainingRun.writeRefusalRepeats(io(EACCES)))
        XCTAssertTrue(TrainingRun.writeRefusalRepeats(io(ENAMETOOLONG)))
        XCTAssertFalse(TrainingRun.writeRefusalRepeats(io(ENOSPC)))
        XCTAssertFalse(TrainingRun.writeRefusalRepeats(io(EIO)))
        XCTAssertFalse(TrainingRun.writeRefusalRepeats(CocoaError(.fileWriteUnknown)))
        // export's and plot's writes fail as result-file errors (they were status 1, retried).
        XCTAssertTrue(TrainingRun.writeRefusalRepeats(ResultFileError.system("cannot write f", EACCES)))
        XCTAssertTrue(TrainingRun.writeRefusalRepeats(ResultFileError.system("cannot write f", EROFS)))
        XCTAssertFalse(TrainingRun.writeRefusalRepeats(ResultFileError.system("cannot write f", ENOSPC)))
    }

    private func chattr(_ flag: String, _ path: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["chattr", flag, path]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// A final checkpoint that fails after the start-up check (here the folder became a file)
    /// still leaves the trained optimizer, then fails with the checkpoint's error.
    func testAFailedFinalCheckpointKeepsTheTrainedOptimizer() throws {
        let dir = try scratch()
        let run = try makeRun(dir, config())
        let checkpoints = RunDirectory(dir).checkpoints
        try? FileManager.default.removeItem(at: checkpoints)
        XCTAssertTrue(FileManager.default.createFile(atPath: checkpoints.path, contents: Data()))
        XCTAssertThrowsError(try run.run()) { error in
            XCTAssertTrue("\(error)".contains(checkpoints.path), "the checkpoint's error: \(error)")
        }
        let file = try OptimizerFile.read(from: RunDirectory(dir).optimizer)
        XCTAssertEqual(file.iteration, 6)
        XCTAssertEqual(file.phi.map(\.bitPattern), run.trainer.state.phi.map(\.bitPattern))
    }

    /// A line that cannot be appended (a full disk: /dev/full) names the file and the reason; it
    /// was a bare Foundation error ("NSCocoaErrorDomain Code=640").
    func testAFailedLogLineNamesTheFile() throws {
        let log = try MetricsLog(url: URL(fileURLWithPath: "/dev/full"))
        struct Line: Encodable { var iteration: Int }
        XCTAssertThrowsError(try log.append(Line(iteration: 1))) { error in
            XCTAssertEqual("\(error)", "cannot append a line to /dev/full: \(String(cString: strerror(ENOSPC)))")
        }
    }

    /// The torn last line a failed append may leave is dropped on resume, the others kept.
    func testATornLastLineIsDroppedOnResume() throws {
        let url = try scratch().appendingPathComponent("metrics.jsonl")
        let whole = "{\"iteration\":0,\"mean_final_loss\":1.5,\"best\":true}\n{\"iteration\":2,\"mean_final_loss\":1.25,\"best\":true}\n"
        try Data((whole + "{\"iteration\":4,\"mean_fi").utf8).write(to: url)
        try MetricsLog.truncate(url, lines: TrainingLog.Validation.self, before: 10)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), whole)
    }

    /// A resume that finds best-optimizer.json deleted warns that validation.jsonl's best is lost,
    /// never says there is no finite score, and writes a new file only for a validation that beats
    /// the logged best.
    func testAMissingBestOptimizerIsReportedOnResume() throws {
        let dir = try scratch()
        // In a scope of its own: the run holds the directory's lock while it lives.
        let logged = try {
            let first = try makeRun(dir, config(iterations: 4, validation: true), checkpointEvery: 2)
            XCTAssertEqual(try first.run(), .finished)
            return try XCTUnwrap(first.bestLogged)
        }()
        let best = RunDirectory(dir).bestOptimizer
        try FileManager.default.removeItem(at: best)

        let collected = PlottingTests.Collected()
        let logger = Logger(label: "test") { _ in PlottingTests.CollectingHandler(collected: collected) }
        let resumed = try makeRun(dir, config(iterations: 6, validation: true), checkpointEvery: 2, resume: true, logger: logger)
        XCTAssertNil(resumed.bestScore)
        XCTAssertEqual(resumed.bestLogged?.iteration, logged.iteration)
        XCTAssertTrue(collected.lines.contains {
            $0.hasPrefix("warning") && $0.contains("\(best.path) is missing although validation.jsonl records a best at meta-step \(logged.iteration)")
                && $0.contains("its φ cannot be recovered")
        }, "\(collected.lines)")
        XCTAssertEqual(try resumed.run(), .finished)
        XCTAssertFalse(collected.lines.contains { $0.contains("no finite score") }, "\(collected.lines)")
        let validation = try XCTUnwrap(collected.lines.last { $0.contains("validation at meta-step 6") })
        if let newBest = resumed.bestScore {
            XCTAssertLessThan(newBest.meanFinalLoss, logged.meanFinalLoss, "only a better φ is written")
            XCTAssertEqual(try OptimizerFile.read(from: best).validation, newBest)
        } else {
            XCTAssertTrue(validation.contains("best \(logged.meanFinalLoss) at meta-step \(logged.iteration), whose φ best-optimizer.json no longer holds"), validation)
            XCTAssertFalse(FileManager.default.fileExists(atPath: best.path))
        }
    }
}
