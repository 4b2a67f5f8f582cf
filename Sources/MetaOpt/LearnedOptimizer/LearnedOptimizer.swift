/// A trained learned optimizer (architecture and φ) as an `EvaluatedOptimizer`: it runs the
/// functions in batches through the forward-only engine, following the loss-curve contract of
/// `EvaluatedOptimizer` (ℓ_t = evaluationLoss(θ_t, step t), t = 0…steps).
public struct LearnedOptimizer: EvaluatedOptimizer, Sendable {
    public var name: String
    public let config: LearnedOptimizerConfig
    public let phi: [Float]
    /// Functions are batched so that one batch holds at most this many coordinates (memory:
    /// about 1.2 kB per coordinate for the two history slots of the forward-only engine with two
    /// layers of 20).
    public var maxCoordinatesPerBatch: Int

    public init(config: LearnedOptimizerConfig, phi: [Float], name: String = "LSTM", maxCoordinatesPerBatch: Int = 160_000) {
        precondition(config.architecture.parameterCount == phi.count, "φ does not fit the architecture")
        self.config = config
        self.phi = phi
        self.name = name
        self.maxCoordinatesPerBatch = maxCoordinatesPerBatch
    }

    public init(file: OptimizerFile, name: String = "LSTM") {
        self.init(config: file.optimizer, phi: file.phi, name: name)
    }

    public func run(on optimizees: [any Optimizee], steps: Int) throws -> [[Float]] {
        try run(on: optimizees, steps: steps) { _ in }
    }

    /// Reports after every batch of functions (all functions of a batch finish together).
    public func run(on optimizees: [any Optimizee], steps: Int, progress: (Int) -> Void) throws -> [[Float]] {
        guard steps >= 0 else { throw EvaluationError.invalidSteps(steps) }
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
            let engine = architecture.makeEngine(tasks: batch, unroll: 1)
            var state = engine.initialState()
            // One forward-only run; θ_t is read where the engine holds it, without copying state.
            var batchCurves = state.theta.withUnsafeBufferPointer { theta in
                batch.indices.map { [Self.loss(batch[$0], theta, engine, $0, step: 0)] }
            }
            phi.withUnsafeBufferPointer { p in
                engine.run(phi: p, state: &state, steps: steps) { t, _, theta in
                    for b in batch.indices { batchCurves[b].append(Self.loss(batch[b], theta, engine, b, step: t)) }
                }
            }
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
