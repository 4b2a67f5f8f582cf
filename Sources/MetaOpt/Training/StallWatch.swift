/// Notices a meta-training that is not making progress: the mean step loss of a whole window of
/// meta-steps no lower than that of the run's first horizon, when φ was still untrained.
///
/// The case it is for (docs/results.md, "When p = 5 training stalls"): a learned optimizer that
/// moves every first-layer weight of an MLP the same way saturates the sigmoid units, the loss
/// returns to ln(classes) and no meta-gradient reaches the part of φ that did it, so the run can
/// spend all its meta-steps there and end with status 0. Rank 0 feeds it every meta-step's report
/// and logs the warning it returns, once per run.
///
/// Only for a run that starts from an untrained φ at meta-step 0: after a resume or `--init-from`
/// the first horizon is a trained φ's, and a run that has converged would look stalled.
package struct StallWatch: Sendable {
    /// Meta-steps per window (500: the p = 5 stall shows within a few hundred meta-steps, and a
    /// window that long averages over the noise of two functions per meta-step).
    package let window: Int
    /// A window stalls when its mean is at least `ratio` × the first horizon's (0.99: a run that
    /// trains is below it within its first few hundred meta-steps; a stalled one sits within a
    /// fraction of a percent of ln(classes)).
    package let ratio: Double
    private let truncationsPerHorizon: Int
    private var firstHorizon = RunningMean()
    private var current = RunningMean()
    private var windowStart = 0
    private var warned = false

    /// nil when a horizon is more than half a window long: its first horizon would be most of
    /// the window it is compared with.
    package init?(truncationsPerHorizon: Int, window: Int = 500, ratio: Double = 0.99) {
        precondition(truncationsPerHorizon > 0 && window > 0 && ratio > 0)
        guard 2 * truncationsPerHorizon <= window else { return nil }
        self.truncationsPerHorizon = truncationsPerHorizon
        self.window = window
        self.ratio = ratio
    }

    /// Takes one meta-step's report (in order from meta-step 0); returns the warning to log when
    /// this meta-step completes the first window that stalled, nil otherwise. Skipped meta-steps
    /// (NaN loss) are left out of the means.
    package mutating func observe(_ report: StepReport) -> String? {
        let loss = report.meanStepLoss
        if loss.isFinite {
            if report.iteration < truncationsPerHorizon { firstHorizon.add(loss) }
            current.add(loss)
        }
        guard report.iteration + 1 - windowStart == window else { return nil }
        defer { current = RunningMean(); windowStart = report.iteration + 1 }
        guard !warned, let start = firstHorizon.mean, start > 0, let mean = current.mean, mean >= ratio * start else { return nil }
        warned = true
        return "the mean step loss of meta-steps \(windowStart)–\(report.iteration), \(Self.format(mean)), is no lower "
            + "than at the start of the run (\(Self.format(start)), meta-steps 0–\(truncationsPerHorizon - 1)): "
            + "the learned optimizer is not making progress. With --p 5 on an MLP this is the stall of "
            + "docs/results.md (\"When p = 5 training stalls\"), which a run may never leave: "
            + "stop it and start again with another --seed, or use --p 20"
    }

    private static func format(_ value: Double) -> String { String(format: "%.4g", value) }
}

/// A mean of the finite values added to it; nil before the first.
private struct RunningMean: Sendable {
    private var sum = 0.0
    private var count = 0
    mutating func add(_ value: Double) { sum += value; count += 1 }
    var mean: Double? { count > 0 ? sum / Double(count) : nil }
}
