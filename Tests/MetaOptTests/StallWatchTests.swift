import XCTest
@testable import MetaOpt

/// The stall warning of a fresh training run: a window of meta-steps whose mean step loss is no
/// lower than the untrained first horizon's (the p = 5 MLP stall of docs/results.md).
final class StallWatchTests: XCTestCase {
    private func report(_ iteration: Int, _ loss: Double) -> StepReport {
        StepReport(iteration: iteration, horizon: iteration / 5, truncation: iteration % 5, metaLoss: loss * 20,
                   meanStepLoss: loss, gradientNorm: 1, skipped: !loss.isFinite, skippedTotal: 0, computeMax: 0,
                   computeMean: 0, computeMin: 0, wait: 0, allreduce: 0, update: 0, stopRequested: false)
    }

    /// Feeds `losses` from meta-step 0 to a watch of 20-step windows checked every 4 (the
    /// program's 500 and 100, scaled down); the meta-steps at which a warning came, and the warnings.
    private func warnings(_ losses: [Double]) -> [(Int, String)] {
        var watch = StallWatch(truncationsPerHorizon: 5, window: 20, stride: 4)!
        return losses.enumerated().compactMap { i, loss in watch.observe(report(i, loss)).map { (i, $0) } }
    }

    func testAStalledRunIsNamedOnceAtTheEndOfItsFirstStalledWindow() {
        // The recorded shape of the stall: ln 10 from the start, with a brief dip.
        var losses = [Double](repeating: 2.303, count: 100)
        losses[7] = 2.2
        let found = warnings(losses)
        XCTAssertEqual(found.map(\.0), [19], "once, at the end of the first window")
        let text = found.first?.1 ?? ""
        XCTAssertTrue(text.contains("meta-steps 0–19"), text)
        XCTAssertTrue(text.contains("meta-steps 0–4"), text)
        XCTAssertTrue(text.contains("When p = 5 training stalls"), text)
    }

    func testARunThatTrainsThenStallsIsNamedAtTheWindowThatStalled() {
        // Learns, then falls back to ln 5 from meta-step 25 (the LSTM-sub stall). The first
        // horizon's mean is 1.52; the window of meta-steps 20–39 (1.387) still holds five good
        // meta-steps, that of 24–43 (1.561) one, and it is named: the window slides by a stride.
        let losses = (0..<80).map { i in i < 25 ? 1.6 - 0.04 * Double(i) : 1.609 }
        let found = warnings(losses)
        XCTAssertEqual(found.map(\.0), [43])
        XCTAssertTrue(found.first?.1.contains("meta-steps 24–43") ?? false, found.first?.1 ?? "")
    }

    func testATrainingRunIsNotNamed() {
        // Falls by 7.6 % over the first window, then levels off lower: not a stall (a run that
        // has converged is level, but below its start).
        let losses = (0..<100).map { i in 2.3 * (i < 20 ? 1 - 0.004 * Double(i) : 0.9) }
        XCTAssertTrue(warnings(losses).isEmpty)
        // The threshold: a window at 0.985 × the start passes, one at 0.995 × does not.
        XCTAssertTrue(warnings([Double](repeating: 1, count: 5) + [Double](repeating: 0.985, count: 15)).isEmpty)
        XCTAssertEqual(warnings([Double](repeating: 1, count: 5) + [Double](repeating: 0.995, count: 15)).count, 1)
    }

    func testSkippedMetaStepsAreLeftOut() {
        // NaN (skipped) meta-steps neither poison the means nor hide a stall.
        var losses = [Double](repeating: 2.303, count: 40)
        losses[2] = .nan
        losses[10] = .nan
        XCTAssertEqual(warnings(losses).map(\.0), [19])
        XCTAssertTrue(warnings([Double](repeating: .nan, count: 40)).isEmpty, "no finite loss: nothing to compare")
    }

    func testOnlyRunsWhoseFirstHorizonIsAYardstickAreWatched() throws {
        let plain = TrainingConfig(task: .quadratic(dimension: 4))
        XCTAssertTrue(StallWatch.watches(plain))
        var scaled = plain
        scaled.lossScaling = LogScaleRange(symmetric: 1)
        XCTAssertFalse(StallWatch.watches(scaled), "a few draws of the loss scale against hundreds")
        scaled.lossNormalization = .initialLoss
        XCTAssertTrue(StallWatch.watches(scaled), "each function divided by its own start")
        scaled.lossNormalization = .truncationStart
        XCTAssertFalse(StallWatch.watches(scaled), "each truncation divided by its own start")
        var arguments = TaskArguments()
        arguments.mixture = "quadratic; rosenbrock"
        var mixture = TrainingConfig(task: TaskSpec(try MixtureTask(arguments: arguments)))
        XCTAssertFalse(StallWatch.watches(mixture), "families of other loss units")
        mixture.lossNormalization = .initialLoss
        XCTAssertTrue(StallWatch.watches(mixture))
    }

    /// metrics.jsonl lines of meta-steps `range` at mean step loss `loss` (meta-loss 20 × it:
    /// 20 unrolled steps), nil for a skipped step.
    private func logged(_ range: Range<Int>, _ loss: Double?) -> [TrainingLog.Step] {
        range.map { TrainingLog.Step(iteration: $0, truncation: $0 % 5, metaLoss: loss.map { 20 * $0 }, gradientNorm: 1, skipped: loss == nil) }
    }

    func testAResumedRunReplaysItsLoggedMetaStepsAndNamesAStallAtItsNextCheck() {
        // Resumed at meta-step 30 of a stall (the first horizon's 2.303 and every step since):
        // the window of 16–35 is the first check after the resume, and it is named there,
        // although the stall filled a window at 19, before the interruption.
        var watch = StallWatch(truncationsPerHorizon: 5, window: 20, stride: 4)!
        XCTAssertTrue(watch.replay(logged(0..<28, 2.303) + logged(28..<30, nil), unroll: 20))
        let found = (30..<60).compactMap { i in watch.observe(report(i, 2.303)).map { (i, $0) } }
        XCTAssertEqual(found.map(\.0), [31])
        XCTAssertTrue(found.first?.1.contains("meta-steps 12–31") ?? false, found.first?.1 ?? "")
        XCTAssertTrue(found.first?.1.contains("(2.303, meta-steps 0–4)") ?? false, "the logged first horizon: \(found.first?.1 ?? "")")

        // A run that trained before the resume is not named after it.
        var trained = StallWatch(truncationsPerHorizon: 5, window: 20, stride: 4)!
        XCTAssertTrue(trained.replay(logged(0..<5, 2.303) + logged(5..<30, 1.5), unroll: 20))
        XCTAssertTrue((30..<60).compactMap { trained.observe(report($0, 1.5)) }.isEmpty)
    }

    func testAResumedRunWhoseLogDoesNotGoBackToTheStartIsNotWatched() {
        var watch = StallWatch(truncationsPerHorizon: 5, window: 20, stride: 4)!
        XCTAssertFalse(watch.replay(logged(5..<30, 2.303), unroll: 20), "the first horizon missing")
        XCTAssertFalse(watch.replay(logged(0..<10, 2.303) + logged(11..<30, 2.303), unroll: 20), "a line missing")
        var config = TrainingConfig(task: .quadratic(dimension: 4))
        config.unroll = 20
        XCTAssertNotNil(TrainingRun.stallWatch(config: config, logged: [], startIteration: 0), "a fresh start")
        XCTAssertNil(TrainingRun.stallWatch(config: config, logged: [], startIteration: 30), "a resume without its log")
        XCTAssertNil(TrainingRun.stallWatch(config: config, logged: logged(0..<20, 2.303), startIteration: 30),
                     "a log that ends before the checkpoint")
        XCTAssertNotNil(TrainingRun.stallWatch(config: config, logged: logged(0..<30, 2.303), startIteration: 30))
        config.initFrom = "trained.json"
        XCTAssertNil(TrainingRun.stallWatch(config: config, logged: [], startIteration: 0), "a warm start is trained")
    }

    func testAHorizonOfMoreThanHalfAWindowIsNotWatched() {
        XCTAssertNil(StallWatch(truncationsPerHorizon: 300, window: 500))
        XCTAssertNotNil(StallWatch(truncationsPerHorizon: 250, window: 500))
    }
}
