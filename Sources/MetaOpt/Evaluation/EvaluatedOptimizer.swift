/// Anything that can be compared in an evaluation: the baselines and the learned optimizer.
///
/// ## The loss curve contract (every implementation must follow it)
/// `run(on:steps:)` starts every function at θ₀ = `initialParameters()` and returns, per function,
/// `steps + 1` losses `[ℓ₀, ℓ₁, …, ℓ_steps]` where
///
///     ℓ_t = optimizee.evaluationLoss(at: θ_t, step: t)
///
/// i.e. ℓ₀ is the loss at θ₀ and ℓ_t the loss after the t-th update. The update from θ_t to θ_{t+1}
/// uses the gradient from `lossAndGradient(at: θ_t, step: t, …)`, so for a stochastic optimizee ℓ_t
/// is measured on the same minibatch t as the gradient that leaves θ_t (for the default
/// `evaluationLoss` it is exactly the value `lossAndGradient` returns there).
///
/// A non-finite loss means the run diverged: from the first non-finite ℓ_t on, every remaining entry
/// is `+∞` (the run may stop there). NaN is never reported. (`Evaluation.run` enforces this rule
/// on the curves it receives, so a learned optimizer that returns NaN is still summarised right.)
///
/// The API is batched (all functions at once) because the learned optimizer runs all functions as
/// one batch; hand-designed baselines simply loop.
public protocol EvaluatedOptimizer {
    /// Name in tables, plots and files; unique within one evaluation.
    var name: String { get }
    /// Losses `[function][t]`, `t = 0 … steps`, following the contract above.
    func run(on optimizees: [any Optimizee], steps: Int) throws -> [[Float]]
    /// The same, calling `progress(done)` whenever more functions are finished (`done` of
    /// `optimizees.count`, increasing; at least once, at the end). The default runs
    /// `run(on:steps:)` and reports once.
    func run(on optimizees: [any Optimizee], steps: Int, progress: (Int) -> Void) throws -> [[Float]]
}

extension EvaluatedOptimizer {
    public func run(on optimizees: [any Optimizee], steps: Int, progress: (Int) -> Void) throws -> [[Float]] {
        let curves = try run(on: optimizees, steps: steps)
        progress(optimizees.count)
        return curves
    }
}

/// A hand-designed baseline with a fixed learning rate, as an `EvaluatedOptimizer`: each function
/// is optimised independently from θ₀ with freshly reset optimizer state.
public struct BaselineOptimizer: EvaluatedOptimizer, Sendable {
    public var kind: BaselineKind
    public var learningRate: Float
    public var name: String

    /// - Parameter name: defaults to `kind.displayName`.
    public init(kind: BaselineKind, learningRate: Float, name: String? = nil) {
        self.kind = kind
        self.learningRate = learningRate
        self.name = name ?? kind.displayName
    }

    /// The baseline with the learning rate chosen by a grid search.
    public init(tuned result: LearningRateSearchResult) {
        self.init(kind: result.kind, learningRate: result.learningRate)
    }

    public func run(on optimizees: [any Optimizee], steps: Int) throws -> [[Float]] {
        try run(on: optimizees, steps: steps) { _ in }
    }

    /// Reports after every function.
    public func run(on optimizees: [any Optimizee], steps: Int, progress: (Int) -> Void) throws -> [[Float]] {
        guard steps >= 0 else { throw EvaluationError.invalidSteps(steps) }
        var optimizer = kind.make(learningRate: learningRate)
        return try optimizees.enumerated().map { index, f in
            let curve = try Self.curve(of: &optimizer, on: f, index: index, steps: steps)
            progress(index + 1)
            return curve
        }
    }

    /// Runs `optimizer` (reset first) on one function; the curve follows the `EvaluatedOptimizer`
    /// contract.
    public static func curve(of optimizer: inout any HandDesignedOptimizer, on f: any Optimizee,
                             index: Int = 0, steps: Int) throws -> [Float] {
        let n = f.dimension
        var theta = f.initialParameters()
        guard theta.count == n else {
            throw EvaluationError.dimensionMismatch(function: index, dimension: n, parameters: theta.count)
        }
        optimizer.reset(dimension: n)
        var gradient = [Float](repeating: 0, count: n)
        var losses = [Float](repeating: .infinity, count: steps + 1)
        theta.withUnsafeMutableBufferPointer { th in
            gradient.withUnsafeMutableBufferPointer { g in
                let current = UnsafeBufferPointer(th)
                for t in 0...steps {
                    let loss = f.evaluationLoss(at: current, step: t)
                    guard loss.isFinite else { return }  // diverged: the rest stays +∞
                    losses[t] = loss
                    if t == steps { return }
                    _ = f.lossAndGradient(at: current, step: t, gradient: g)
                    optimizer.step(theta: th, gradient: UnsafeBufferPointer(g))
                }
            }
        }
        return losses
    }
}

/// Errors of evaluations and learning-rate searches.
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    case invalidSteps(Int)
    case noFunctions
    case noOptimizers
    case duplicateName(String)
    case dimensionMismatch(function: Int, dimension: Int, parameters: Int)
    /// An `EvaluatedOptimizer` returned curves of the wrong shape.
    case malformedCurves(optimizer: String, expectedFunctions: Int, expectedLength: Int)
    /// A function's parameter group asks for a learned optimizer the file does not have (a CNN,
    /// with two groups, run by a φ of one optimizer).
    case unknownOptimizer(function: Int, optimizer: Int, available: Int)
    /// A function's parameter groups do not tile 0..<dimension in order (`Optimizee.parameterGroups`).
    case invalidParameterGroups(function: Int, problem: String)
    case emptyGrid
    case invalidLearningRate(Float)
    /// Every learning rate of the grid diverged on the training functions.
    case allDiverged(optimizer: String, grid: [Float])

    public var description: String {
        switch self {
        case .invalidSteps(let s): return "the number of steps must be at least 0 (got \(s))"
        case .noFunctions: return "no functions to evaluate on"
        case .noOptimizers: return "no optimizers to evaluate"
        case .duplicateName(let n): return "two optimizers are named '\(n)'; names must be unique"
        case let .dimensionMismatch(f, d, p):
            return "function \(f): dimension is \(d) but initialParameters() has \(p) values"
        case let .malformedCurves(o, n, l):
            return "optimizer '\(o)' must return \(n) curves of \(l) losses each (steps + 1)"
        case let .unknownOptimizer(f, o, a):
            return "function \(f) has a parameter group for learned optimizer \(o); the optimizer has \(a) (0..<\(a))"
        case let .invalidParameterGroups(f, problem): return "function \(f): \(problem)"
        case .emptyGrid: return "the learning-rate grid is empty"
        case .invalidLearningRate(let lr): return "learning rates must be positive and finite (got \(lr))"
        case let .allDiverged(o, grid):
            return "\(o): every learning rate of the grid \(grid) diverged on the training functions"
        }
    }
}
