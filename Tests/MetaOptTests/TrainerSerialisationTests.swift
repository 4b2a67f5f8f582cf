import Foundation
import XCTest
@testable import MetaOpt

/// The trainer state's one serialisation (`TrainerCounters`, Codable) through a checkpoint and the
/// rank-0 broadcast, and the JSON lines of metrics.jsonl and validation.jsonl.
final class TrainerSerialisationTests: XCTestCase {
    let config = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 2, unroll: 5,
                                horizon: 20, iterations: 10, seed: 3)

    /// A state whose every counter (whatever `TrainerCounters` holds) has its own value; the
    /// truncation stays 0, since only horizon boundaries are checkpointed.
    func distinctState() throws -> TrainerState {
        var state = TrainerState(config: config)
        var named = try TrainerCheckpoint.named(state.counters)
        // The meta-step the largest: no run takes more horizons, Adam steps or skips than meta-steps.
        for (offset, name) in named.keys.sorted().enumerated() {
            named[name] = name == "truncation" ? 0 : name == "iteration" ? 1_000 : 11 + 7 * offset
        }
        state.counters = try TrainerCheckpoint.counters(named: named, source: "test")
        state.phi = state.phi.indices.map { Float($0) * 0.25 - 1 }
        state.adam.firstMoment = state.phi.map { $0 / 3 }
        state.adam.secondMoment = state.phi.map { $0 * $0 }
        return state
    }

    func testEveryCounterRoundTripsThroughACheckpointFile() throws {
        let state = try distinctState()
        let checkpoint = try TrainerCheckpoint.make(state, config: config)
        let decoded = try Checkpoint<TrainingConfig>.decode(try checkpoint.encode(), source: "memory")
        XCTAssertEqual(try TrainerCheckpoint.state(from: decoded, source: "memory"), state)
    }

    /// The metadata layout of earlier versions: the iteration as metaStep, the skip counters and
    /// the others under their property names.
    func testCheckpointMetadataKeepsTheEarlierLayout() throws {
        var state = TrainerState(config: config)
        state.iteration = 40
        state.horizon = 8
        state.adamStep = 38
        state.skippedSteps = 2
        state.consecutiveSkips = 1
        let metadata = try TrainerCheckpoint.make(state, config: config).metadata
        XCTAssertEqual(metadata.metaStep, 40)
        XCTAssertEqual(metadata.counters, ["horizon": 8, "truncation": 0, "adamStep": 38])
        XCTAssertEqual(metadata.skipCounters, ["skippedSteps": 2, "consecutiveSkips": 1])
    }

    func testAMissingCounterIsNamed() throws {
        var checkpoint = try TrainerCheckpoint.make(try distinctState(), config: config)
        checkpoint.metadata.counters["adamStep"] = nil
        XCTAssertThrowsError(try TrainerCheckpoint.state(from: checkpoint, source: "old.mopt")) {
            XCTAssertEqual("\($0)", "old.mopt: the checkpoint has no \"adamStep\" counter")
        }
    }

    /// Counters, tensors and values that no run writes, in a file whose checksums hold (written
    /// by hand or by another program): refused naming the file, not a trap when the random keys
    /// are made (horizon -5) nor a run past its end (adamStep -1) nor a NaN φ trained on.
    func testCheckpointContentsNoRunWritesAreRefusedNamingTheFile() throws {
        let good = try TrainerCheckpoint.make(try distinctState(), config: config)
        func refused(_ damage: (inout Checkpoint<TrainingConfig>) throws -> Void, _ fragment: String, line: UInt = #line) throws {
            var checkpoint = good
            try damage(&checkpoint)
            XCTAssertThrowsError(try TrainerCheckpoint.state(from: checkpoint, source: "bad.mopt"), line: line) {
                XCTAssertTrue($0 is CheckpointResumeError, "\($0)", line: line)
                XCTAssertTrue("\($0)".hasPrefix("bad.mopt: ") && "\($0)".contains(fragment), "\($0)", line: line)
            }
        }
        try refused({ $0.metadata.counters["horizon"] = -5 }, "horizon -5 at meta-step 1000")
        try refused({ $0.metadata.counters["horizon"] = Int.max }, "horizon \(Int.max) at meta-step 1000")
        try refused({ $0.metadata.counters["adamStep"] = -1 }, "adamStep -1")
        try refused({ $0.metadata.skipCounters["consecutiveSkips"] = 100 }, "consecutiveSkips 100 with")
        try refused({ $0.metadata.globalMetaBatchSize = 16 }, "a meta-batch of 16, its configuration 4")
        try refused({ $0.tensors["adam.m"] = nil }, "no tensor named \"adam.m\"")
        // State of a build that keeps more (a newer one), which this one would drop.
        try refused({ $0.metadata.counters["futureCounter"] = 1 }, "counters this build of metaopt-dist does not know (futureCounter)")
        try refused({ $0.metadata.skipCounters["futureSkips"] = 0 }, "counters this build of metaopt-dist does not know (futureSkips)")
        try refused({ $0.tensors["adam.extra"] = .float32([1]) }, "tensors this build of metaopt-dist does not know (adam.extra)")
        try refused({ $0.metadata.seed = 8 }, "states seed 8, its configuration")
        try refused({ checkpoint in
            var phi = try checkpoint.float32("phi")
            phi[3] = .nan
            checkpoint.tensors["phi"] = .float32(phi)
        }, "φ holds nan at index 3")
        XCTAssertEqual(try TrainerCheckpoint.state(from: good, source: "good.mopt"), try distinctState())
    }

    /// The progress line printed meta-step counts modulo 2³² (`%d` of an Int): "iter 1/0" for
    /// --iterations 4294967296.
    func testTheProgressLineCountsPastTwoToTheThirtyTwo() {
        let report = StepReport(iteration: 4_294_967_296, horizon: 0, truncation: 0, metaLoss: 1, meanStepLoss: 1,
                                gradientNorm: 1, skipped: false, skippedTotal: 0, computeMax: 0, computeMean: 0,
                                computeMin: 0, wait: 0, allreduce: 0, exchange: 0, update: 0, stopRequested: false)
        let line = TrainingRun.progressLine(report, total: 1 << 40, rate: 1, remaining: 1)
        XCTAssertTrue(line.hasPrefix("iter 4294967297/1099511627776  loss 1 "), line)
    }

    func testBroadcastCarriesEveryField() throws {
        let root = ReplayCommunicator(rank: 0)
        var sent = try distinctState()
        try MetaTrainer.broadcast(&sent, communicator: root)
        let other = ReplayCommunicator(rank: 1)
        other.recorded = root.recorded
        var received = TrainerState(config: config)
        XCTAssertNotEqual(received, sent)
        try MetaTrainer.broadcast(&received, communicator: other)
        XCTAssertEqual(received, sent)
        XCTAssertTrue(other.recorded.isEmpty, "the receiver read every broadcast the root sent")
    }

    func testMetricsLineKeepsItsFormatAndReadsBack() throws {
        let report = StepReport(iteration: 7, horizon: 1, truncation: 2, metaLoss: 0.5, meanStepLoss: .nan,
                                gradientNorm: 1e-05, skipped: false, skippedTotal: 3, computeMax: 2, computeMean: 1.5,
                                computeMin: 1, wait: 0.25, allreduce: .infinity, exchange: 0.375, update: 0.125,
                                stopRequested: false)
        let line = try JSONLineEncoder().encode(MetricsLine(report, elapsed: 12.5, iterationsPerSecond: 100000000.0,
                                                            kernels: KernelCensus(.avx2)))
        XCTAssertEqual(line, "{\"iteration\":7,\"horizon\":1,\"truncation\":2,\"meta_loss\":0.5,\"mean_step_loss\":null,"
                       + "\"gradient_norm\":1e-05,\"skipped\":false,\"skipped_total\":3,\"compute_max\":2.0,\"compute_mean\":1.5,"
                       + "\"compute_min\":1.0,\"wait\":0.25,\"allreduce\":null,\"exchange\":0.375,\"update\":0.125,\"elapsed\":12.5,"
                       + "\"iterations_per_second\":100000000.0,\"kernels\":\"avx2\"}\n")
        let steps = try TrainingLog.parseMetrics(Data(line.utf8), source: "m.jsonl")
        XCTAssertEqual(steps, [TrainingLog.Step(iteration: 7, truncation: 2, metaLoss: 0.5, gradientNorm: 1e-05, skipped: false,
                                                computeMax: 2, computeMean: 1.5, computeMin: 1, wait: 0.25, allreduce: nil,
                                                update: 0.125, elapsed: 12.5)])
    }

    func testValidationLineKeepsItsFormatAndReadsBack() throws {
        let encoder = JSONLineEncoder()
        let score = ValidationScore(iteration: 10, meanFinalLoss: 0.75, functions: 4, seed: 1)
        let diverged = ValidationScore(iteration: 20, meanFinalLoss: .infinity, functions: 4, seed: 1)
        let text = try encoder.encode(ValidationLine(score, best: true, kernels: KernelCensus(.portable)))
            + encoder.encode(ValidationLine(diverged, best: false, kernels: KernelCensus(.portable)))
        XCTAssertEqual(text, "{\"iteration\":10,\"mean_final_loss\":0.75,\"best\":true,\"kernels\":\"portable\"}\n"
                       + "{\"iteration\":20,\"mean_final_loss\":null,\"best\":false,\"kernels\":\"portable\"}\n")
        XCTAssertEqual(try TrainingLog.parseValidation(Data(text.utf8), source: "v.jsonl"),
                       [TrainingLog.Validation(iteration: 10, meanFinalLoss: 0.75, best: true),
                        TrainingLog.Validation(iteration: 20, meanFinalLoss: nil, best: false)])
        XCTAssertEqual(ValidationLog.best(in: Data(text.utf8))?.iteration, 10)
        XCTAssertEqual(ValidationLog.best(in: Data(text.utf8))?.meanFinalLoss, 0.75)
        // Of equal scores the first is the best, as the run flagged it.
        let tie = try encoder.encode(ValidationLine(ValidationScore(iteration: 30, meanFinalLoss: 0.75, functions: 4, seed: 1),
                                                    best: false, kernels: KernelCensus(.portable)))
        XCTAssertEqual(ValidationLog.best(in: Data((text + tie).utf8))?.iteration, 10)
    }

    func testStringsAreEscaped() throws {
        struct Line: Encodable { var text: String }
        XCTAssertEqual(try JSONLineEncoder().encode(Line(text: "a\"b\\c\nd\u{1}")), "{\"text\":\"a\\\"b\\\\c\\nd\\u0001\"}\n")
    }

    /// Truncation keeps the earlier lines byte for byte and drops later ones and torn lines.
    func testTruncateKeepsEarlierLinesVerbatim() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("truncate-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        let lines = ["{\"iteration\":0,\"mean_final_loss\":1.50,\"best\":true}", "{\"iteration\":5,\"mean_final_loss\":null,\"best\":false}",
                     "{\"iteration\":10,\"mean_final_loss\":0.5,\"best\":true}", "{\"iteration\":3,\"mean_fi"]
        try Data(lines.joined(separator: "\n").utf8).write(to: url)
        try MetricsLog.truncate(url, lines: TrainingLog.Validation.self, before: 10)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), lines[0] + "\n" + lines[1] + "\n")
    }
}

/// Two ranks' view of the broadcasts: rank 0 records what it sends; a rank-1 communicator given
/// the recording receives it in order (every other collective does nothing).
final class ReplayCommunicator: TwoRankTestCommunicator {
    let rank: Int
    var recorded: [[UInt8]] = []
    init(rank: Int) { self.rank = rank }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        if rank == root {
            recorded.append(Array(buffer))
        } else {
            let bytes = recorded.removeFirst()
            precondition(bytes.count == buffer.count, "a broadcast of \(buffer.count) bytes received \(bytes.count)")
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
    }
}
