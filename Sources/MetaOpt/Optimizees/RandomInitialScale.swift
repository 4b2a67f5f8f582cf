import Foundation

/// The same function started from a rescaled point: every tensor of θ₀ (weight matrix, bias vector)
/// is multiplied by its own factor s, so a network starts with, say, tiny first-layer weights and
/// large output weights. f and ∇f are untouched.
///
/// A meta-training augmentation: with one initialisation scale, every layer of the training network
/// has gradients of one typical size, and the learned optimizer can tie its step size to that
/// (docs/results.md, "Why the 2-layer test fails"). Random per-tensor scales show it hidden layers
/// whose units start out alike, and output layers whose gradients are small, within the same
/// one-hidden-layer family. Only meta-training uses it; evaluations start from the unscaled θ₀.
public struct RandomInitialScaleOptimizee: ForwardingOptimizee {
    public let base: any Optimizee
    public let tensors: [NamedTensor]
    /// s, one factor per tensor.
    public let factors: [Float]

    /// `base` with θ₀'s tensor k multiplied by `factors[k]`.
    public init(base: any Optimizee, tensors: [NamedTensor], factors: [Float]) {
        precondition(tensors.count == factors.count, "\(factors.count) factors for \(tensors.count) tensors")
        precondition(NamedTensor.allFit(tensors, dimension: base.dimension), "a tensor lies outside θ")
        self.init(unfitted: base, tensors: tensors, factors: factors)
    }

    /// Factors s_k = exp(u_k), u_k uniform in `logRange`, drawn from `key.stream(.initialScaling)`.
    /// Tensors come from the optimizee where it names them; otherwise θ is one tensor.
    ///
    /// This is how meta-training wraps every function of a family, also one of your own, so it
    /// does not trap where `base` does not fit itself (named tensors outside θ, a θ₀ of another
    /// length): θ₀ is then left unscaled, and the trainer's shape check
    /// (`Optimizee.shapeProblem(start:)`) throws `TrainingError.invalidConfiguration` naming it.
    public init(base: any Optimizee, logRange: LogScaleRange, key: RandomKey) {
        let tensors = (base as? any TensorNamedOptimizee)?.tensors
            ?? [NamedTensor(name: "theta", range: 0..<base.dimension)]
        var stream = key.stream(.initialScaling)
        let factors = tensors.map { _ in Float(Foundation.exp(stream.uniform(logRange.lower, logRange.upper))) }
        self.init(unfitted: base, tensors: tensors, factors: factors)
    }

    /// Both initialisers' end, without the check that the tensors fit `base` (the sampling one
    /// leaves a θ₀ they do not fit unscaled instead: `initialParameters`).
    private init(unfitted base: any Optimizee, tensors: [NamedTensor], factors: [Float]) {
        precondition(factors.allSatisfy { $0 > 0 && $0.isFinite }, "factors must be positive and finite")
        self.base = base
        self.tensors = tensors
        self.factors = factors
    }

    public var parameterGroups: [ParameterGroup] { base.parameterGroups }

    public func initialParameters() -> [Float] {
        var theta = base.initialParameters()
        guard theta.count == base.dimension, NamedTensor.allFit(tensors, dimension: theta.count) else { return theta }
        for (tensor, s) in zip(tensors, factors) {
            for i in tensor.range { theta[i] *= s }
        }
        return theta
    }
}
