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

    /// Feeds `losses` from meta-step 0; the meta-steps at which a warning came, and the warnings.
    private func warnings(_ losses: [Double], window: Int = 20) -> [(Int, String)] {
        var watch = StallWatch(truncationsPerHorizon: 5, window: window)!
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
        // Learns, then falls back to ln 5 from meta-step 25 (the LSTM-sub stall): the window of
        // meta-steps 20–39 still holds five good ones, 40–59 is the first wholly stalled.
        let losses = (0..<80).map { i in i < 25 ? 1.6 - 0.04 * Double(i) : 1.609 }
        let found = warnings(losses)
        XCTAssertEqual(found.map(\.0), [59])
        XCTAssertTrue(found.first?.1.contains("meta-steps 40–59") ?? false, found.first?.1 ?? "")
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

    func testAHorizonOfMoreThanHalfAWindowIsNotWatched() {
        XCTAssertNil(StallWatch(truncationsPerHorizon: 300, window: 500))
        XCTAssertNotNil(StallWatch(truncationsPerHorizon: 250, window: 500))
    }
}
