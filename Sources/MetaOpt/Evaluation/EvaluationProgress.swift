import Foundation

/// Where an evaluation or a learning-rate search stands: passed to a progress callback after each
/// finished function (the learned optimizer: each finished batch of functions), and with 0 done
/// when an optimizer (or one learning rate of a search) starts on its functions.
public struct EvaluationProgress: Sendable, Equatable {
    public typealias Handler = (EvaluationProgress) -> Void

    public enum Phase: Sendable, Equatable {
        /// Grid search of a baseline's learning rate on training functions: the `rate`-th of
        /// `rates` learning rates (ascending).
        case tuning(learningRate: Float, rate: Int, rates: Int)
        /// The evaluation proper, on the held-out functions.
        case evaluating
    }

    public var optimizer: String
    public var phase: Phase
    public var functionsDone: Int
    public var functionCount: Int

    public init(optimizer: String, phase: Phase, functionsDone: Int, functionCount: Int) {
        self.optimizer = optimizer
        self.phase = phase
        self.functionsDone = functionsDone
        self.functionCount = functionCount
    }
}

/// Turns progress events into a one-line status with an estimate of the time left for the whole
/// job, for a front end to show (the library prints nothing).
///
/// The estimate counts *function runs* (one optimizer on one function for all steps) still to
/// come per optimizer, from a plan made at the start, times that optimizer's measured seconds per
/// run; an optimizer not measured yet (the learned optimizer, during the tuning of the baselines)
/// is assumed as fast as the average so far, so the estimate firms up once every optimizer has run.
public final class EvaluationProgressMeter {
    /// Function runs planned per optimizer name.
    public let planned: [String: Int]
    private var done: [String: Int] = [:]
    private var spent: [String: Double] = [:]
    private var lastTime: Double?
    private var lastDone = 0

    public init(planned: [String: Int]) {
        self.planned = planned
    }

    /// The plan of `evaluate`: each baseline tuned on `tuningFunctions` functions per grid point
    /// and then run on the `functions` held-out functions, as every learned optimizer is.
    public static func plan(learned: [String], baselines: [String], gridSize: Int, tuningFunctions: Int,
                            functions: Int) -> [String: Int] {
        var plan: [String: Int] = [:]
        for name in learned { plan[name, default: 0] += functions }
        for name in baselines { plan[name, default: 0] += gridSize * tuningFunctions + functions }
        return plan
    }

    /// Records `event`, seen at `now` (seconds from any fixed origin), and returns the status line,
    /// e.g. "tuning Adam, lr 0.003 (4/10): 12/20 functions, ETA 1m05s" or
    /// "evaluating LSTM: 40/100 functions, ETA 12s".
    @discardableResult
    public func update(_ event: EvaluationProgress, now: Double) -> String {
        if event.functionsDone == 0 || event.functionsDone < lastDone {
            lastDone = 0
        } else if event.functionsDone > lastDone, let lastTime {
            spent[event.optimizer, default: 0] += now - lastTime
            done[event.optimizer, default: 0] += event.functionsDone - lastDone
            lastDone = event.functionsDone
        }
        lastTime = now
        return line(event)
    }

    /// Seconds still to go for the whole plan, or nil before anything has finished.
    public func remainingSeconds() -> Double? {
        let totalDone = done.values.reduce(0, +)
        guard totalDone > 0 else { return nil }
        let average = spent.values.reduce(0, +) / Double(totalDone)
        var left = 0.0
        for (name, runs) in planned {
            let finished = done[name] ?? 0
            let rate = finished > 0 ? spent[name, default: 0] / Double(finished) : average
            left += Double(max(0, runs - finished)) * rate
        }
        return left
    }

    func line(_ event: EvaluationProgress) -> String {
        let what: String
        switch event.phase {
        case let .tuning(lr, rate, rates):
            what = "tuning \(event.optimizer), lr \(String(format: "%g", lr)) (\(rate)/\(rates))"
        case .evaluating:
            what = "evaluating \(event.optimizer)"
        }
        let eta = remainingSeconds().map(formatDuration) ?? "?"
        return "\(what): \(event.functionsDone)/\(event.functionCount) functions, ETA \(eta)"
    }
}
