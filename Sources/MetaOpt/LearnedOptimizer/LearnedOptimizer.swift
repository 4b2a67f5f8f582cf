import Dispatch

/// A trained learned optimizer (architecture and φ) as an `EvaluatedOptimizer`: it runs the
/// functions in batches through the forward-only engine, following the loss-curve contract of
/// `EvaluatedOptimizer` (ℓ_t = evaluationLoss(θ_t, step t), t = 0…steps).
public struct LearnedOptimizer: EvaluatedOptimizer, Sendable {
    public var name: String
    public let config: LearnedOptimizerConfig
    public let phi: [Float]
    /// Functions are batched so that one batch holds at most this many coordinates (memory: 672
    /// bytes per coordinate, plus the padding of the last tile, in the forward-only engine with two
    /// layers of 20 and two inputs: X of both layers in two slots, c, u, θ and ∇f in two slots).
    public var maxCoordinatesPerBatch: Int
    public static let defaultMaxCoordinatesPerBatch = 160_000

    /// Traps, with a message also in release builds, when φ does not fit `config` or `config` is
    /// unusable (`config.problems()` lists why): both are programmer errors; `OptimizerFile.read`
    /// checks a file's before it gets here.
    public init(config: LearnedOptimizerConfig, phi: [Float], name: String = "LSTM", maxCoordinatesPerBatch: Int = defaultMaxCoordinatesPerBatch) {
        // fatalError, not precondition: an optimized build drops a precondition's message.
        if let problem = config.problems().first { fatalError("LearnedOptimizer: unusable architecture: \(problem)") }
        if config.architecture.parameterCount != phi.count {
            fatalError("LearnedOptimizer: φ has \(phi.count) values; the architecture \(config.summary) needs \(config.architecture.parameterCount)")
        }
        self.config = config
        self.phi = phi
        self.name = name
        self.maxCoordinatesPerBatch = maxCoordinatesPerBatch
    }

    /// The optimizer a file holds. Traps as `init(config:phi:)` does when the file's fields were
    /// changed after `OptimizerFile.read` so that they no longer fit.
    public init(file: OptimizerFile, name: String = "LSTM") {
        self.init(config: file.optimizer, phi: file.phi, name: name)
    }

    public func run(on optimizees: [any Optimizee], steps: Int) throws -> [[Float]] {
        try run(on: optimizees, steps: steps) { _ in }
    }

    /// Reports after every batch of functions (all functions of a batch finish together). As the
    /// `EvaluatedOptimizer` contract says, a curve is `+∞` from its first non-finite loss on (the
    /// engine's own curve would go on with NaN).
    public func run(on optimizees: [any Optimizee], steps: Int, progress: (Int) -> Void) throws -> [[Float]] {
        // Without a stop condition every batch runs to the end.
        try run(on: optimizees, steps: steps, progress: progress, stopWhen: nil)!.map(Evaluation.normalizedDivergence)
    }

    /// The loss curves, or nil when `stopWhen` turned true before every step was done: it is asked
    /// between chunks of steps (one step at first, doubling while a chunk takes under 10 ms), so
    /// that a stop signal ends even a long run of huge functions within a step or about 20 ms.
    /// The engine stores and reloads its state between chunks by exact copies, so the curves are
    /// the same bits as in one call.
    package func run(on optimizees: [any Optimizee], steps: Int, stopWhen: @escaping () -> Bool) throws -> [[Float]]? {
        try run(on: optimizees, steps: steps, progress: { _ in }, stopWhen: stopWhen)
    }

    private func run(on optimizees: [any Optimizee], steps: Int, progress: (Int) -> Void,
                     stopWhen: (() -> Bool)?) throws -> [[Float]]? {
        guard steps >= 0 else { throw EvaluationError.invalidSteps(steps) }
        _ = try KernelPath.resolved(nil)  // a wrong METAOPT_KERNELS throws here, not in the engine
        if let (f, o) = config.firstUnknownOptimizer(in: optimizees) {
            throw EvaluationError.unknownOptimizer(function: f, optimizer: o, available: config.optimizerCount)
        }
        // Functions of one's own may break the shape the engine relies on (it would trap, or
        // step outside θ): an error, as in the baselines' runs (which throw the same one for a θ₀
        // of the wrong length).
        for (f, function) in optimizees.enumerated() {
            switch function.shapeProblem(start: function.initialParameters()) {
            case nil: break
            case let .startLength(dimension, values)?:
                throw EvaluationError.dimensionMismatch(function: f, dimension: dimension, parameters: values)
            case let problem?: throw EvaluationError.invalidParameterGroups(function: f, problem: "\(problem)")
            }
        }
        let architecture = config.architecture
        var curves: [[Float]] = []
        var start = 0
        while start < optimizees.count {
            var end = start + 1, coordinates = optimizees[start].dimension
            while end < optimizees.count && coordinates + optimizees[end].dimension <= maxCoordinatesPerBatch {
                coordinates += optimizees[end].dimension
                end += 1
            }
            let batch = Array(optimizees[start..<end])
            let engine = architecture.makeForwardEngine(tasks: batch)
            var state = engine.initialState()
            // One forward-only run; θ_t is read where the engine holds it, without copying state.
            var batchCurves = state.theta.withUnsafeBufferPointer { theta in
                batch.indices.map { [Self.loss(batch[$0], theta, engine, $0, step: 0)] }
            }
            let stopped = phi.withUnsafeBufferPointer { p -> Bool in
                let observe = { (t: Int, _: [Float], theta: UnsafeBufferPointer<Float>) in
                    for b in batch.indices { batchCurves[b].append(Self.loss(batch[b], theta, engine, b, step: t)) }
                }
                guard let stopWhen else {
                    engine.run(phi: p, state: &state, steps: steps, observe: observe)
                    return false
                }
                // Chunks that double while one takes under 10 ms: a stop is seen within about
                // 20 ms or one step, and the engine's per-call overhead stays negligible.
                var done = 0, chunk = 1
                while done < steps {
                    if stopWhen() { return true }
                    let n = min(chunk, steps - done)
                    let start = DispatchTime.now().uptimeNanoseconds
                    engine.run(phi: p, state: &state, steps: n, observe: observe)
                    done += n
                    if DispatchTime.now().uptimeNanoseconds - start < 10_000_000 { chunk *= 2 }
                }
                return false
            }
            if stopped { return nil }
            curves += batchCurves
            progress(end)
            start = end
        }
        return curves
    }

    private static func loss(_ f: any Optimizee, _ theta: UnsafeBufferPointer<Float>, _ engine: any MetaGradientEngine<Float>,
                             _ b: Int, step: Int) -> Float {
        f.evaluationLoss(at: UnsafeBufferPointer(rebasing: theta[engine.coordinates(ofTask: b)]), step: step)
    }
}
