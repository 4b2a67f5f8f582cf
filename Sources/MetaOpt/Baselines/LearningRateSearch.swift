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
/// A best α at an end of the grid, strictly better than its neighbour, says the grid is too narrow:
/// the search then adds the next point beyond that end, continuing the grid's pattern per decade
/// (after 3 on the default grid come 10, 30, …; before 1e-4 come 3e-5, 1e-5, …), and repeats, up to
/// `maxExtensions` points each way, so that the chosen α ends inside the searched range.
///
/// The grid's spacing (about 3× between neighbours on the default grid) leaves a baseline up to
/// √3× off its best rate. `refinements` rounds then try, around the best rate so far, the
/// geometric midpoints between it and its two neighbours (two significant digits), so that each
/// round halves the spacing on a log scale: 2 rounds reach about 1.3× on the default grid, at the
/// cost of up to 4 more scored rates per baseline. Default 0: the plain grid, which the tables of
/// docs/results.md used unless they say otherwise.
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
    /// Points the search may add beyond each end of `grid` (6: three decades on the default grid).
    public var maxExtensions: Int
    /// Rounds of midpoints around the best rate after the grid and its extensions (0: none).
    public var refinements: Int
    /// The most rounds `metaopt-dist evaluate --refine` takes: 3^(1/2^6) ≈ 1.017, past what the
    /// tuning functions' noise can tell apart.
    public static let maxRefinements = 6

    public init(grid: [Float] = LearningRateSearch.defaultGrid, steps: Int, maxExtensions: Int = 6, refinements: Int = 0) {
        self.grid = grid
        self.steps = steps
        self.maxExtensions = maxExtensions
        self.refinements = refinements
    }

    /// The geometric mean of two rates to two significant digits (0.3 and 1 give 0.55), or
    /// unrounded where rounding would land on or past either of them; nil when no Float lies
    /// strictly between them.
    static func midpoint(_ a: Float, _ b: Float) -> Float? {
        let (low, high) = (min(a, b), max(a, b))
        let exact = (Double(low) * Double(high)).squareRoot()
        let unit = pow(10, (log10(exact)).rounded(.down) - 1)
        for candidate in [Float((exact / unit).rounded() * unit), Float(exact)] where candidate > low && candidate < high {
            return candidate
        }
        return nil
    }

    /// The point after the largest of `ascending`, continuing its pattern per decade: ten times the
    /// point one decade below it (with k points in the top decade, 10 × the k-th from the top).
    static func nextAbove(_ ascending: [Float]) -> Float {
        let top = ascending[ascending.count - 1]
        let perDecade = ascending.filter { $0 > top / 10 * 1.001 }.count
        return Self.decimalScaled(ascending[ascending.count - perDecade], by: 10)
    }

    /// The point before the smallest of `ascending`, continuing its pattern per decade.
    static func nextBelow(_ ascending: [Float]) -> Float {
        let bottom = ascending[0]
        let perDecade = ascending.filter { $0 < bottom * 10 / 1.001 }.count
        return Self.decimalScaled(ascending[perDecade - 1], by: 0.1)
    }

    /// `rate` × `factor` (a power of ten) as the Float nearest the scaled decimal that `rate`
    /// prints as: Float's 3e-4 / 10 is 3.0000001e-05, which the report then printed.
    static func decimalScaled(_ rate: Float, by factor: Double) -> Float {
        Float((Double(rate.description) ?? Double(rate)) * factor)
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
        precondition(refinements >= 0, "refinements must not be negative")
        for lr in grid where !(lr > 0 && lr.isFinite) { throw EvaluationError.invalidLearningRate(lr) }
        var rates = grid.sorted()
        var scores: [LearningRateScore] = []
        func score(_ lr: Float) throws -> LearningRateScore {
            let optimizer = makeOptimizer(lr)
            let rank = rates.firstIndex(of: lr)! + 1
            func report(_ done: Int) {
                progress?(EvaluationProgress(optimizer: name, phase: .tuning(learningRate: lr, rate: rank, rates: rates.count),
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
            return LearningRateScore(learningRate: lr, meanFinalLoss: mean, divergedFunctions: diverged)
        }
        /// The best rate's index; strict `<` over ascending α: the smaller α wins ties.
        func bestIndex() throws -> Int {
            var best: Int? = nil
            for (i, s) in scores.enumerated() where s.meanFinalLoss.isFinite {
                if best == nil || s.meanFinalLoss < scores[best!].meanFinalLoss { best = i }
            }
            guard let best else { throw EvaluationError.allDiverged(optimizer: name, grid: rates) }
            return best
        }
        for lr in rates { scores.append(try score(lr)) }
        var addedAbove = 0, addedBelow = 0, refined = 0
        while true {
            let chosen = try bestIndex()
            let last = scores.count - 1
            if chosen == last, last > 0, scores[last].meanFinalLoss < scores[last - 1].meanFinalLoss,
               addedAbove < maxExtensions {
                let lr = Self.nextAbove(rates)
                rates.append(lr)
                scores.append(try score(lr))
                addedAbove += 1
            } else if chosen == 0, last > 0, scores[0].meanFinalLoss < scores[1].meanFinalLoss, addedBelow < maxExtensions {
                let lr = Self.nextBelow(rates)
                rates.insert(lr, at: 0)
                scores.insert(try score(lr), at: 0)
                addedBelow += 1
            } else if refined < refinements {
                // The midpoints on both sides of the best rate, the lower first.
                refined += 1
                let best = scores[chosen].learningRate
                let sides = [chosen - 1, chosen + 1].filter(scores.indices.contains).map { scores[$0].learningRate }
                for lr in sides.compactMap({ Self.midpoint(best, $0) }) where !rates.contains(lr) {
                    let index = rates.firstIndex { $0 > lr } ?? rates.count
                    rates.insert(lr, at: index)
                    scores.insert(try score(lr), at: index)
                }
            } else {
                let rate = scores[chosen].learningRate
                return LearningRateSearchResult(kind: kind, optimizer: name, learningRate: rate,
                                                steps: steps, trainingFunctions: functions.count, scores: scores,
                                                atGridEdge: chosen == 0 || chosen == last)
            }
        }
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
    /// Every rate searched (the grid and its extensions), in ascending learning rate.
    public var scores: [LearningRateScore]
    /// True if the chosen rate is the smallest or largest rate searched, extensions included (a tie
    /// with its neighbour, or `maxExtensions` reached: the range may still be too narrow).
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
