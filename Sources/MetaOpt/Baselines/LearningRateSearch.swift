import Foundation

/// Grid search for a baseline's learning rate on *training* functions (paper: "the learning rates
/// for all baselines were tuned").
///
/// Score of a learning rate α: the mean over the training functions of the **final loss**
/// ℓ_steps (the loss after the last update, i.e. exactly what the evaluation summary compares),
/// computed in Double. A function whose run diverged (non-finite loss) makes the score `+∞`.
/// The chosen α has the lowest score; on an exact tie the smaller α wins (the more conservative
/// choice). If every α diverged the search throws `EvaluationError.allDiverged`.
///
/// Use functions sampled with a seed different from the evaluation seed (see
/// `Evaluation.sampleFunctions(from:seed:count:)`), and the same number of steps as the evaluation.
public struct LearningRateSearch: Sendable {
    /// The default grid: 1 and 3 in every decade from 1e-4 to 3 (10 values, ≈ half-decade spacing):
    /// 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1, 3.
    public static let defaultGrid: [Float] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3]

    /// `pointsPerDecade` values per decade, 10^(k / pointsPerDecade), from `lower` to `upper`
    /// inclusive (both rounded to the nearest grid point).
    public static func logarithmicGrid(from lower: Double, to upper: Double, pointsPerDecade: Int) -> [Float] {
        precondition(lower > 0 && upper >= lower && pointsPerDecade > 0)
        let p = Double(pointsPerDecade)
        let first = Int((log10(lower) * p).rounded())
        let last = Int((log10(upper) * p).rounded())
        return (first...last).map { Float(pow(10, Double($0) / p)) }
    }

    public var grid: [Float]
    /// Steps per run; use the evaluation's number of steps.
    public var steps: Int

    public init(grid: [Float] = LearningRateSearch.defaultGrid, steps: Int) {
        self.grid = grid
        self.steps = steps
    }

    /// Searches the learning rate of `kind` on `functions`; `progress` hears of every finished
    /// function (phase `.tuning`, learning rates in ascending order).
    public func run(kind: BaselineKind, on functions: [any Optimizee],
                    progress: EvaluationProgress.Handler? = nil) throws -> LearningRateSearchResult {
        try run(kind: kind, name: kind.displayName, on: functions, progress: progress) { BaselineOptimizer(kind: kind, learningRate: $0) }
    }

    /// General form: `makeOptimizer(α)` builds the optimizer to score for learning rate α.
    public func run(kind: BaselineKind, name: String, on functions: [any Optimizee],
                    progress: EvaluationProgress.Handler? = nil,
                    makeOptimizer: (Float) -> any EvaluatedOptimizer) throws -> LearningRateSearchResult {
        guard !grid.isEmpty else { throw EvaluationError.emptyGrid }
        guard !functions.isEmpty else { throw EvaluationError.noFunctions }
        guard steps >= 0 else { throw EvaluationError.invalidSteps(steps) }
        for lr in grid where !(lr > 0 && lr.isFinite) { throw EvaluationError.invalidLearningRate(lr) }
        let sorted = grid.sorted()
        var scores: [LearningRateScore] = []
        for (index, lr) in sorted.enumerated() {
            let optimizer = makeOptimizer(lr)
            func report(_ done: Int) {
                progress?(EvaluationProgress(optimizer: name, phase: .tuning(learningRate: lr, rate: index + 1, rates: sorted.count),
                                             functionsDone: done, functionCount: functions.count))
            }
            report(0)
            let curves = try optimizer.run(on: functions, steps: steps, progress: report)
            guard curves.count == functions.count, curves.allSatisfy({ $0.count == steps + 1 }) else {
                throw EvaluationError.malformedCurves(optimizer: optimizer.name, expectedFunctions: functions.count,
                                                      expectedLength: steps + 1)
            }
            let finals = curves.map { $0[steps] }
            let diverged = finals.filter { !$0.isFinite }.count
            let mean = diverged > 0 ? Double.infinity : finals.reduce(0.0) { $0 + Double($1) } / Double(finals.count)
            scores.append(LearningRateScore(learningRate: lr, meanFinalLoss: mean, divergedFunctions: diverged))
        }
        // Strict `<` over ascending α: the smaller α wins ties.
        var best: LearningRateScore? = nil
        for s in scores where s.meanFinalLoss.isFinite {
            if best == nil || s.meanFinalLoss < best!.meanFinalLoss { best = s }
        }
        guard let chosen = best else { throw EvaluationError.allDiverged(optimizer: name, grid: sorted) }
        return LearningRateSearchResult(kind: kind, optimizer: name, learningRate: chosen.learningRate,
                                        steps: steps, trainingFunctions: functions.count, scores: scores,
                                        atGridEdge: chosen.learningRate == sorted.first || chosen.learningRate == sorted.last)
    }
}

/// One grid point of a learning-rate search.
public struct LearningRateScore: Codable, Sendable, Equatable {
    public var learningRate: Float
    /// Mean final loss over the training functions; `+∞` if any of them diverged.
    public var meanFinalLoss: Double
    /// How many training functions diverged at this learning rate.
    public var divergedFunctions: Int

    public init(learningRate: Float, meanFinalLoss: Double, divergedFunctions: Int) {
        self.learningRate = learningRate
        self.meanFinalLoss = meanFinalLoss
        self.divergedFunctions = divergedFunctions
    }
}

/// The outcome of a learning-rate search, written into the results.
public struct LearningRateSearchResult: Codable, Sendable, Equatable {
    public var kind: BaselineKind
    /// Display name of the optimizer (as in the evaluation).
    public var optimizer: String
    /// The chosen learning rate.
    public var learningRate: Float
    /// Steps per run during the search.
    public var steps: Int
    /// Number of training functions.
    public var trainingFunctions: Int
    /// Every grid point, in ascending learning rate.
    public var scores: [LearningRateScore]
    /// True if the chosen rate is the smallest or largest of the grid (the grid may be too narrow).
    public var atGridEdge: Bool
    /// The fixed hyperparameters besides the learning rate (the kind's defaults unless given).
    public var hyperparameters: [String: Float]

    public init(kind: BaselineKind, optimizer: String, learningRate: Float, steps: Int, trainingFunctions: Int,
                scores: [LearningRateScore], atGridEdge: Bool, hyperparameters: [String: Float]? = nil) {
        self.kind = kind
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.steps = steps
        self.trainingFunctions = trainingFunctions
        self.scores = scores
        self.atGridEdge = atGridEdge
        self.hyperparameters = hyperparameters ?? kind.make(learningRate: learningRate).hyperparameters
    }
}
