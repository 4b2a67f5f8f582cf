import Foundation
import Logging
@testable import MetaOpt
import XCTest

/// A stop request during a validation abandons it within a step: nothing of it is written, the
/// run stops with the meta-steps it has done, and a rerun gives the files of an uninterrupted run.
/// An uninterrupted validation gives the same numbers as before (the stop checks only cut the
/// forward run into chunks, which the engine joins by exact copies).
final class StopDuringValidationTests: XCTestCase {
    private func scratch() throws -> URL {
        URL(fileURLWithPath: try dataTestTemporaryDirectory(self))
    }

    /// 2 truncations per horizon; validation at meta-steps 0, 2, 4 and 6.
    private let config = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 4, unroll: 5, horizon: 10,
                                        iterations: 6, learningRate: 1e-2, seed: 3,
                                        validation: ValidationConfig(every: 2, functions: 3, seed: 9))

    private let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Runs the configuration in `dir` after `prepare`; the run (and its lock on `dir`) is gone
    /// when this returns.
    private func train(_ dir: URL, config: TrainingConfig? = nil, resume: Bool,
                       prepare: (TrainingRun) -> Void = { _ in }) throws -> TrainingRun.Outcome {
        let run = try TrainingRun(config: config ?? self.config, communicator: LocalCommunicator(),
                                  options: .init(runDirectory: RunDirectory(dir), progressEvery: 100, plotEvery: nil),
                                  resume: resume, logger: quiet)
        run.progress = { _ in }
        prepare(run)
        return try run.run()
    }

    private func validationLines(_ dir: URL) throws -> [TrainingLog.Validation] {
        let data = FileManager.default.contents(atPath: RunDirectory(dir).validationLog.path) ?? Data()
        return try data.split(separator: UInt8(ascii: "\n")).map { try JSONDecoder().decode(TrainingLog.Validation.self, from: Data($0)) }
    }

    private func phi(_ url: URL) throws -> [UInt32] { try OptimizerFile.read(from: url).phi.map(\.bitPattern) }

    private func checkpointSteps(_ dir: URL) throws -> [Int] {
        try CheckpointStore(directory: RunDirectory(dir).checkpoints).checkpointFiles().map(\.step)
    }

    /// The uninterrupted run's validation lines, final φ and best φ.
    private func reference() throws -> (lines: [TrainingLog.Validation], phi: [UInt32], best: [UInt32]) {
        let dir = try scratch()
        XCTAssertEqual(try train(dir, resume: false), .finished)
        let run = RunDirectory(dir)
        return (try validationLines(dir), try phi(run.optimizer), try phi(run.bestOptimizer))
    }

    private func assertMatchesReference(_ dir: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try reference()
        XCTAssertEqual(try validationLines(dir), reference.lines, "validation.jsonl", file: file, line: line)
        XCTAssertEqual(reference.lines.map(\.iteration), [0, 2, 4, 6], file: file, line: line)
        XCTAssertEqual(try phi(RunDirectory(dir).optimizer), reference.phi, "optimizer.json", file: file, line: line)
        XCTAssertEqual(try phi(RunDirectory(dir).bestOptimizer), reference.best, "best-optimizer.json", file: file, line: line)
    }

    func testStoppedForwardRunReturnsNilAndAnUnstoppedOneTheSameCurves() throws {
        let family = try TaskSpec.quadratic(dimension: 10).makeFamily()
        let functions = (0..<3).map { family.sample(RandomKey(seed: 4, horizon: 0, task: $0)) }
        let optimizer = LearnedOptimizerConfig()
        let learned = LearnedOptimizer(config: optimizer, phi: optimizer.architecture.initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0)),
                                       maxCoordinatesPerBatch: 10)
        let whole = try learned.run(on: functions, steps: 300)
        let chunked = try XCTUnwrap(learned.run(on: functions, steps: 300, stopWhen: { false }))
        XCTAssertEqual(chunked.map { $0.map(\.bitPattern) }, whole.map { $0.map(\.bitPattern) })
        XCTAssertEqual(whole.map(\.count), [301, 301, 301])
        var asked = 0
        XCTAssertNil(try learned.run(on: functions, steps: 300, stopWhen: { asked += 1; return asked > 2 }))
        XCTAssertEqual(asked, 3, "asked before each chunk, and no more after the stop")
    }

    /// A stop during the first validation of a fresh run: nothing is written (no checkpoint, no
    /// score, no best file), and running again starts afresh and ends where an uninterrupted run does.
    func testStopDuringStartUpValidationWritesNothingAndARerunMatches() throws {
        let dir = try scratch()
        var validating = false
        XCTAssertEqual(try train(dir, resume: false) { run in
            run.activity = { validating = $0.name.hasPrefix("validation") }
            run.stopRequested = { validating }
        }, .stopped(iteration: 0))
        XCTAssertEqual(try checkpointSteps(dir), [])
        XCTAssertEqual(try validationLines(dir), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: RunDirectory(dir).bestOptimizer.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: RunDirectory(dir).optimizer.path))

        XCTAssertEqual(try train(dir, resume: true), .finished)
        try assertMatchesReference(dir)
    }

    /// A stop during the validation at meta-step 4: the checkpoint at 4 is written, the score is
    /// not; the resumed run validates φ at 4 before its first meta-step, so its files equal an
    /// uninterrupted run's.
    func testStopDuringALaterValidationCheckpointsAndTheResumeRepeatsIt() throws {
        let dir = try scratch()
        var stop = false
        XCTAssertEqual(try train(dir, resume: false) { run in
            run.activity = { if $0.name == "validation at meta-step 4" { stop = true } }
            run.stopRequested = { stop }
        }, .stopped(iteration: 4))
        XCTAssertEqual(try checkpointSteps(dir), [4])
        XCTAssertEqual(try validationLines(dir).map(\.iteration), [0, 2])

        var validatedFirst: String?
        XCTAssertEqual(try train(dir, resume: true) { run in
            run.activity = { if validatedFirst == nil { validatedFirst = $0.name } }
        }, .finished)
        XCTAssertEqual(validatedFirst, "validation at meta-step 4")
        try assertMatchesReference(dir)

        // A resume at a checkpoint whose validation is logged does not repeat it.
        var activities: [String] = []
        XCTAssertEqual(try train(dir, resume: true) { run in
            run.activity = { activities.append($0.name) }
        }, .finished)
        XCTAssertFalse(activities.contains { $0.hasPrefix("validation") }, "\(activities)")
        try assertMatchesReference(dir)
    }

    /// A skipped meta-step at 4 ends its horizon early: boundaries 0, 2, 4, 5, 7 and 9, and with
    /// validation every 4, scores at 0, 4 and 9. A stop at the boundary 5 checkpoints it. A whole
    /// horizon back from 5 is 3, before the multiple 4, which made the resumed run validate at 5
    /// as well; validation.jsonl says that 4 was scored, so the resumed run does not.
    func testResumeAtABoundaryThatASkipBroughtEarlyValidatesAsAnUninterruptedRun() throws {
        var skipping = config
        skipping.iterations = 9
        skipping.validation = ValidationConfig(every: 4, functions: 3, seed: 9)
        let nanAt4 = { (run: TrainingRun) in run.trainer.faults = [FaultInjection(iteration: 4, rank: 0, kind: .nan)] }

        let whole = try scratch()
        XCTAssertEqual(try train(whole, config: skipping, resume: false, prepare: nanAt4), .finished)
        XCTAssertEqual(try validationLines(whole).map(\.iteration), [0, 4, 9])

        let dir = try scratch()
        var stop = false
        XCTAssertEqual(try train(dir, config: skipping, resume: false) { run in
            nanAt4(run)
            run.activity = { if $0.name == "meta-step 4" { stop = true } }
            run.stopRequested = { stop }
        }, .stopped(iteration: 5))
        XCTAssertEqual(try checkpointSteps(dir), [5])
        XCTAssertEqual(try validationLines(dir).map(\.iteration), [0, 4])

        var activities: [String] = []
        XCTAssertEqual(try train(dir, config: skipping, resume: true) { run in
            nanAt4(run)
            run.activity = { activities.append($0.name) }
        }, .finished)
        XCTAssertEqual(activities.first, "meta-step 5", "no validation before the first meta-step")
        XCTAssertEqual(try validationLines(dir), try validationLines(whole), "validation.jsonl")
        let (run, reference) = (RunDirectory(dir), RunDirectory(whole))
        XCTAssertEqual(try phi(run.optimizer), try phi(reference.optimizer), "optimizer.json")
        XCTAssertEqual(try phi(run.bestOptimizer), try phi(reference.bestOptimizer), "best-optimizer.json")
    }
}
