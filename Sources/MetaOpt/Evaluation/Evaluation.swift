import Foundation

/// Runs several optimizers on the same evaluation functions and summarises the result.
public enum Evaluation {
    /// The seed `evaluate` draws held-out functions from when given none: the training seed +
    /// 1000003 (wrapping), another than the validation functions' default (+ 2000003).
    public static func defaultSeed(trainingSeed: UInt64) -> UInt64 { trainingSeed &+ 1_000_003 }

    /// Runs every optimizer on `functions` for `steps` updates and builds the report.
    ///
    /// Every optimizer sees the same `functions` array, each starting from its own θ₀. Baselines with
    /// a grid-searched learning rate should be built with `BaselineOptimizer(tuned:)` from the
    /// `tuning` results passed here, so that the report records both.
    /// - Throws: `EvaluationError` for empty inputs, duplicate names, malformed curves, and
    ///   whatever an optimizer throws.
    ///
    /// `progress` hears of every finished function (or batch, for the learned optimizer), optimizer
    /// by optimizer, each pass starting with 0 done.
    public static func run(optimizers: [any EvaluatedOptimizer], functions: [any Optimizee], steps: Int,
                           tuning: [LearningRateSearchResult] = [],
                           metadata: [String: String] = [:],
                           progress: EvaluationProgress.Handler? = nil) throws -> EvaluationReport {
        guard steps >= 0 else { throw EvaluationError.invalidSteps(steps) }
        guard !functions.isEmpty else { throw EvaluationError.noFunctions }
        guard !optimizers.isEmpty else { throw EvaluationError.noOptimizers }
        var seen = Set<String>()
        for o in optimizers where !seen.insert(o.name).inserted { throw EvaluationError.duplicateName(o.name) }
        let curves = try optimizers.map { optimizer in
            func report(_ done: Int) {
                progress?(EvaluationProgress(optimizer: optimizer.name, phase: .evaluating,
                                             functionsDone: done, functionCount: functions.count))
            }
            report(0)
            let losses = try optimizer.run(on: functions, steps: steps, progress: report)
            guard losses.count == functions.count, losses.allSatisfy({ $0.count == steps + 1 }) else {
                throw EvaluationError.malformedCurves(optimizer: optimizer.name, expectedFunctions: functions.count,
                                                      expectedLength: steps + 1)
            }
            return OptimizerCurves(name: optimizer.name,
                                   learningRate: (optimizer as? BaselineOptimizer)?.learningRate,
                                   losses: losses.map(normalizedDivergence))
        }
        return try EvaluationReport(steps: steps, curves: curves, tuning: tuning, metadata: metadata)
    }

    /// Enforces the divergence rule of the `EvaluatedOptimizer` contract: from the first non-finite
    /// loss on, every entry is `+∞`.
    public static func normalizedDivergence(_ curve: [Float]) -> [Float] {
        guard let first = curve.firstIndex(where: { !$0.isFinite }) else { return curve }
        var c = curve
        for t in first..<c.count { c[t] = .infinity }
        return c
    }

    /// The functions `evaluate` runs: `functions` held-out ones, drawn from `spec` on `split` (an
    /// image task's test data, unless model selection asks for another split) with `seed`, and
    /// `tuningFunctions` on which the baselines' learning rates are tuned, drawn from the
    /// training data with `tuningSeed(evaluationSeed:)`, so that no baseline is tuned on what it
    /// is scored on. `family` makes a spec's family (`evaluate` lets the CNN's two parameter
    /// groups share one optimizer there).
    package static func functionSets(_ spec: TaskSpec, split: DatasetSplit, seed: UInt64, functions: Int, tuningFunctions: Int,
                                     family: (TaskSpec) throws -> any TaskFamily) rethrows
        -> (heldOut: [any Optimizee], tuning: [any Optimizee]) {
        (sampleFunctions(from: try family(spec.onSplit(split)), seed: seed, count: functions),
         sampleFunctions(from: try family(spec.onSplit(.train)), seed: tuningSeed(evaluationSeed: seed), count: tuningFunctions))
    }

    /// The seed of `functionSets`' tuning functions (the report's "tuning_seed").
    package static func tuningSeed(evaluationSeed: UInt64) -> UInt64 { evaluationSeed &+ 1 }

    /// `count` functions of `family` with keys (seed, horizon, task = 0 ..< count).
    ///
    /// Use one seed for the learning-rate search (training functions) and a different one for the
    /// evaluation, so that the baselines are not tuned on the functions they are scored on.
    public static func sampleFunctions(from family: any TaskFamily, seed: UInt64, count: Int,
                                       horizon: Int = 0) -> [any Optimizee] {
        (0..<count).map { family.sample(RandomKey(seed: seed, horizon: horizon, task: $0)) }
    }

    /// Grid-searches the learning rate of each baseline on `trainingFunctions`, with `refinements`
    /// rounds of midpoints around each best rate (`LearningRateSearch`).
    public static func tuneBaselines(_ kinds: [BaselineKind], trainingFunctions: [any Optimizee], steps: Int,
                                     grid: [Float] = LearningRateSearch.defaultGrid, refinements: Int = 0,
                                     progress: EvaluationProgress.Handler? = nil) throws -> [LearningRateSearchResult] {
        let search = LearningRateSearch(grid: grid, steps: steps, refinements: refinements)
        return try kinds.map { try search.run(kind: $0, on: trainingFunctions, progress: progress) }
    }
}

/// All loss curves of one optimizer.
public struct OptimizerCurves: Codable, Sendable, Equatable {
    public var name: String
    /// The learning rate, for baselines.
    public var learningRate: Float?
    /// `losses[function][t]`, t = 0 … steps (see `EvaluatedOptimizer` for the contract).
    public var losses: [[Float]]

    public init(name: String, learningRate: Float? = nil, losses: [[Float]]) {
        self.name = name
        self.learningRate = learningRate
        self.losses = losses
    }
}

/// The final-loss summary of one optimizer.
public struct OptimizerSummary: Codable, Sendable, Equatable {
    public var name: String
    public var learningRate: Float?
    /// Mean of ℓ_steps over the functions (`+∞` if any run diverged).
    public var meanFinalLoss: Double
    /// Median of ℓ_steps over the functions (diverged runs count as `+∞`).
    public var medianFinalLoss: Double
    /// Functions won: 1 per function where this optimizer alone has the lowest final loss; a tie for
    /// the lowest among k optimizers gives each 1/k. A function where every optimizer diverged is
    /// won by nobody.
    public var wins: Double
    /// `wins / functionCount`.
    public var winShare: Double
    /// Functions on which the run diverged (non-finite loss).
    public var divergedFunctions: Int
}

/// Statistics across functions of the loss at one step for one optimizer.
public struct StepStatistics: Codable, Sendable, Equatable {
    public var step: Int
    public var optimizer: String
    public var mean: Double
    public var median: Double
    public var q25: Double
    public var q75: Double
}

/// Everything an evaluation produced: the raw curves, the tuning that chose the baselines'
/// learning rates, and the summary. Encoded as the results JSON.
public struct EvaluationReport: Codable, Sendable, Equatable {
    /// Format tag of the JSON.
    public var format: String
    /// Number of updates; every curve has `steps + 1` losses.
    public var steps: Int
    public var functionCount: Int
    /// Free-form facts about the run (family, seeds, commit, ...), written into the JSON.
    public var metadata: [String: String]
    public var curves: [OptimizerCurves]
    public var tuning: [LearningRateSearchResult]
    public var summary: [OptimizerSummary]
    /// Definitions of the quantities, so that the JSON explains itself.
    public var definitions: [String: String]
    /// The process that evaluated (`metaopt-dist evaluate`: version, commit, command line, kernels);
    /// nil when the caller did not say (and in reports written before provenance existed).
    public var provenance: Provenance?
    /// The provenance of the evaluated optimizer file (the process that trained it), when it has one.
    public var optimizerProvenance: Provenance?

    public static let formatTag = "metaopt-dist.evaluation.v1"

    static let standardDefinitions: [String: String] = [
        "loss": "losses[f][t] = evaluationLoss(theta_t, step t) for t = 0...steps; theta_0 is the function's initial point, theta_t the point after t updates; +Infinity from the first non-finite loss on (diverged); 32-bit floats, widened to 64 bits for every statistic",
        "finalLoss": "losses[f][steps]",
        "wins": "per function, 1 for the optimizer with the lowest final loss; a tie among k optimizers gives 1/k each; a function where all diverged is won by nobody",
        "tuning": "learning rate with the lowest mean final loss over training functions (sampled with a different seed), ties to the smaller rate; any diverged training function makes a rate's score +Infinity",
        "quantiles": "linear interpolation between closest ranks (NumPy default); diverged runs count as +Infinity",
    ]

    /// Validates the curves' shapes (`shapeProblem`) and computes the summary.
    public init(steps: Int, curves: [OptimizerCurves], tuning: [LearningRateSearchResult] = [],
                metadata: [String: String] = [:]) throws {
        // The function count of new curves is the first curve's.
        let n = curves.first?.losses.count ?? 0
        switch Self.shapeProblem(steps: steps, functionCount: n, curves: curves) {
        case nil: break
        case .invalidSteps: throw EvaluationError.invalidSteps(steps)
        case .noCurves: throw EvaluationError.noOptimizers
        case .noFunctions: throw EvaluationError.noFunctions
        case .duplicateName(let name): throw EvaluationError.duplicateName(name)
        case .wrongFunctionCount(let optimizer, _), .wrongCurveLength(let optimizer, _, _):
            throw EvaluationError.malformedCurves(optimizer: optimizer, expectedFunctions: n, expectedLength: steps + 1)
        }
        self.format = Self.formatTag
        self.steps = steps
        self.functionCount = n
        self.metadata = metadata
        self.curves = curves
        self.tuning = tuning
        self.definitions = Self.standardDefinitions
        self.summary = Self.summarise(curves: curves, steps: steps, functionCount: n)
    }

    /// Why curves do not have the shape a report needs, the first problem found.
    enum ShapeProblem: Equatable {
        /// Negative, or too large for `steps + 1` losses to be counted.
        case invalidSteps
        case noCurves
        /// The function count is below 1.
        case noFunctions
        case duplicateName(String)
        /// An optimizer's curves are for `functions` functions, not the report's function count.
        case wrongFunctionCount(optimizer: String, functions: Int)
        /// One curve has `losses` losses, not `steps` + 1.
        case wrongCurveLength(optimizer: String, function: Int, losses: Int)
    }

    /// The one check of a report's shape: what `init` requires of new curves and `load` of a
    /// file's (whose readers index every curve by function and step, and would trap on a short
    /// one). `functionCount`: the count every optimizer's curves must have.
    static func shapeProblem(steps: Int, functionCount: Int, curves: [OptimizerCurves]) -> ShapeProblem? {
        guard steps >= 0 && steps < Int.max else { return .invalidSteps }
        guard !curves.isEmpty else { return .noCurves }
        guard functionCount >= 1 else { return .noFunctions }
        var seen = Set<String>()
        for c in curves {
            guard seen.insert(c.name).inserted else { return .duplicateName(c.name) }
            guard c.losses.count == functionCount else {
                return .wrongFunctionCount(optimizer: c.name, functions: c.losses.count)
            }
            if let f = c.losses.firstIndex(where: { $0.count != steps + 1 }) {
                return .wrongCurveLength(optimizer: c.name, function: f, losses: c.losses[f].count)
            }
        }
        return nil
    }

    static func summarise(curves: [OptimizerCurves], steps: Int, functionCount n: Int) -> [OptimizerSummary] {
        let finals = curves.map { c in c.losses.map { LossStatistics.sanitized($0[steps]) } }
        var wins = [Double](repeating: 0, count: curves.count)
        for f in 0..<n {
            let values = finals.map { $0[f] }
            let best = values.min()!
            guard best < .infinity else { continue }
            let winners = values.indices.filter { values[$0] == best }
            for w in winners { wins[w] += 1 / Double(winners.count) }
        }
        return curves.indices.map { o in
            let sorted = finals[o].sorted()
            return OptimizerSummary(name: curves[o].name, learningRate: curves[o].learningRate,
                                    meanFinalLoss: LossStatistics.mean(finals[o]),
                                    medianFinalLoss: LossStatistics.quantile(sorted: sorted, 0.5),
                                    wins: wins[o], winShare: wins[o] / Double(n),
                                    divergedFunctions: finals[o].filter { !$0.isFinite }.count)
        }
    }

    /// Mean, median and quartiles across functions at every step, optimizer by optimizer.
    public func stepStatistics() -> [StepStatistics] {
        curves.flatMap { c in statistics(of: c) }
    }

    /// The per-step statistics of one optimizer's curves, t = 0 … steps.
    public func statistics(of c: OptimizerCurves) -> [StepStatistics] {
        (0...steps).map { t in
            let s = LossStatistics.summary(c.losses.map { $0[t] })
            return StepStatistics(step: t, optimizer: c.name, mean: s.mean, median: s.median, q25: s.q25, q75: s.q75)
        }
    }
}
