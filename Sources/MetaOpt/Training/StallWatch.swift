/// Notices a meta-training that is not making progress: the mean step loss over the last window
/// of meta-steps no lower than that of the run's first horizon, when φ was still untrained.
///
/// The case it is for (docs/results.md, "When p = 5 training stalls"): a learned optimizer that
/// moves every first-layer weight of an MLP the same way saturates the sigmoid units, the loss
/// returns to ln(classes) and little meta-gradient reaches the part of φ that did it, so the run
/// can spend all its meta-steps there and end with status 0. Rank 0 feeds it every meta-step's
/// report and logs the warning it returns, once per process.
///
/// Only for a run that started from an untrained φ at meta-step 0 (after `--init-from` the first
/// horizon is a trained φ's, and a run that has converged would look stalled), and only where the
/// first horizon's loss is a fair yardstick (`watches(_:)`). A resumed run is watched when its
/// metrics.jsonl still holds every meta-step before the checkpoint (`replay`), which gives the
/// untrained φ's first horizon back.
package struct StallWatch: Sendable {
    /// Meta-steps per window (500: averages over the noise of two functions per meta-step, and a
    /// p = 5 stall holds for hundreds of meta-steps).
    package let window: Int
    /// The window is checked at the end of every `stride` meta-steps (100: a stall is named at
    /// most 100 meta-steps after it has filled a window).
    package let stride: Int
    /// A window stalls when its mean is at least `ratio` × the first horizon's (0.99: every run
    /// that trained stayed at 0.85 × or below in docs/results.md's runs; stalled ones sit within
    /// a percent of ln(classes)).
    package let ratio: Double
    private let truncationsPerHorizon: Int
    private var firstHorizon = RunningMean()
    /// The means of the last window / stride strides, oldest first.
    private var strides: [RunningMean] = []
    private var current = RunningMean()
    private var warned = false

    /// nil when a horizon is more than half a window long: its first horizon would be most of the
    /// window it is compared with.
    package init?(truncationsPerHorizon: Int, window: Int = 500, stride: Int = 100, ratio: Double = 0.99) {
        precondition(truncationsPerHorizon > 0 && stride > 0 && window % stride == 0 && window >= stride && ratio > 0)
        guard 2 * truncationsPerHorizon <= window else { return nil }
        self.truncationsPerHorizon = truncationsPerHorizon
        self.window = window
        self.stride = stride
        self.ratio = ratio
    }

    /// Whether `config`'s first horizon is a fair yardstick for its later losses. Not with
    /// `--loss-scaling` or an unnormalised mixture: the first horizon holds a meta-batch's few
    /// draws of a heavy-tailed loss scale, a window hundreds, so a run that trains could look
    /// stalled. Not with `truncation-start` normalisation: every truncation's loss is relative
    /// to its own start, and a converged function's stays near 1. `initial-loss` normalisation
    /// divides each function's losses by its own start, which takes the loss scale out.
    package static func watches(_ config: TrainingConfig) -> Bool {
        switch config.lossNormalization {
        case .initialLoss: return true
        case .truncationStart: return false
        case nil: return config.lossScaling == nil && !(config.task.settings is MixtureTask)
        }
    }

    /// Takes one meta-step's report (in order from meta-step 0); returns the warning to log when
    /// this meta-step ends the first window that stalled, nil otherwise. Skipped meta-steps (NaN
    /// loss) are left out of the means.
    package mutating func observe(_ report: StepReport) -> String? {
        observe(iteration: report.iteration, meanStepLoss: report.meanStepLoss)
    }

    /// Takes a resumed run's logged meta-steps, which must be meta-steps 0, 1, … up to the
    /// checkpoint, each line's meta-loss divided by `unroll` as `StepReport.meanStepLoss` is (a
    /// skipped step's is null). Returns false, having taken nothing, when one is missing (a
    /// metrics.jsonl deleted or damaged): without the first horizon there is no yardstick. A stall
    /// the logged steps end in is named at the next check, within `stride` meta-steps, also when
    /// the interrupted process had named it (its log may be gone with it).
    package mutating func replay(_ steps: [TrainingLog.Step], unroll: Int) -> Bool {
        guard steps.indices.allSatisfy({ steps[$0].iteration == $0 }) else { return false }
        for step in steps {
            _ = observe(iteration: step.iteration, meanStepLoss: step.metaLoss.map { $0 / Double(unroll) } ?? .nan)
        }
        warned = false
        return true
    }

    private mutating func observe(iteration: Int, meanStepLoss loss: Double) -> String? {
        if loss.isFinite {
            if iteration < truncationsPerHorizon { firstHorizon.add(loss) }
            current.add(loss)
        }
        guard (iteration + 1) % stride == 0 else { return nil }
        strides.append(current)
        current = RunningMean()
        if strides.count > window / stride { strides.removeFirst() }
        guard !warned, strides.count == window / stride, let start = firstHorizon.mean, start > 0,
              let mean = RunningMean(strides).mean, mean >= ratio * start else { return nil }
        warned = true
        return "the mean step loss of meta-steps \(iteration + 1 - window)–\(iteration), \(Self.format(mean)), "
            + "is no lower than at the start of the run (\(Self.format(start)), meta-steps 0–\(truncationsPerHorizon - 1)): "
            + "the learned optimizer is not making progress. With --p 5 on an MLP this is the stall of "
            + "docs/results.md (\"When p = 5 training stalls\"), which a run may never leave: "
            + "stop it and start again with another --seed, or use --p 20"
    }

    private static func format(_ value: Double) -> String { String(format: "%.4g", value) }
}

/// A mean of the values added to it; nil before the first.
private struct RunningMean: Sendable {
    private var sum = 0.0
    private var count = 0
    init() {}
    /// The mean of all the values of `parts` together.
    init(_ parts: [RunningMean]) {
        for part in parts { sum += part.sum; count += part.count }
    }
    mutating func add(_ value: Double) { sum += value; count += 1 }
    var mean: Double? { count > 0 ? sum / Double(count) : nil }
}
