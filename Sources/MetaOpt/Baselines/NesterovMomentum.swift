/// SGD with Nesterov momentum (NAG), in the formulation of PyTorch's `SGD(nesterov=True)`
/// (Sutskever et al. 2013, rewritten so that the gradient is taken at the current θ):
///
///     v ← μ v + g
///     θ ← θ − α (g + μ v)
///
/// with v₀ = 0 and μ = 0.9 by default.
///
/// Why this form: the classical statement of NAG evaluates the gradient at the look-ahead point
/// θ + μ v, which an `Optimizee` cannot provide without a second gradient evaluation per step.
/// The form above is the usual change of variables (θ stands for the look-ahead point), so every
/// step needs exactly one ∇f(θ) at the current θ, like every other optimizer here. It is the same
/// update as PyTorch with dampening 0 (PyTorch's first step sets v = g, which equals μ·0 + g).
/// μ = 0.9 is the customary default (and PyTorch/TensorFlow users' usual choice).
public struct NesterovMomentum: HandDesignedOptimizer {
    public var learningRate: Float
    /// μ.
    public var momentum: Float
    /// The velocity buffer v (empty until `reset(dimension:)`).
    public private(set) var velocity: [Float] = []

    public var kind: BaselineKind { .nag }
    public var hyperparameters: [String: Float] { ["momentum": momentum] }

    public init(learningRate: Float, momentum: Float = 0.9) {
        self.learningRate = learningRate
        self.momentum = momentum
    }

    public mutating func reset(dimension: Int) {
        velocity = [Float](repeating: 0, count: dimension)
    }

    public mutating func step(theta: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>) {
        requireEqualLengths(theta: theta.count, gradient: gradient.count)
        if velocity.count != theta.count { reset(dimension: theta.count) }
        let lr = learningRate, mu = momentum
        velocity.withUnsafeMutableBufferPointer { v in
            for i in 0..<theta.count {
                let g = gradient[i]
                let vi = mu * v[i] + g
                v[i] = vi
                theta[i] -= lr * (g + mu * vi)
            }
        }
    }
}
