import Foundation

/// Adam (Kingma & Ba 2015, Algorithm 1) with bias correction, as a hand-designed baseline: the
/// update is `AdamRule`'s (shared with φ's meta-optimizer), with m₀ = v₀ = 0 and the paper's
/// defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
public struct Adam: HandDesignedOptimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// First-moment estimate m (empty until `reset(dimension:)`).
    public private(set) var firstMoment: [Float] = []
    /// Second-moment estimate v.
    public private(set) var secondMoment: [Float] = []
    /// Number of steps taken since the last reset (t).
    public private(set) var stepCount = 0

    public var kind: BaselineKind { .adam }
    public var hyperparameters: [String: Float] { ["beta1": beta1, "beta2": beta2, "epsilon": epsilon] }

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    public mutating func reset(dimension: Int) {
        firstMoment = [Float](repeating: 0, count: dimension)
        secondMoment = [Float](repeating: 0, count: dimension)
        stepCount = 0
    }

    public mutating func step(theta: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>) {
        requireEqualLengths(theta: theta.count, gradient: gradient.count)
        if firstMoment.count != theta.count { reset(dimension: theta.count) }
        stepCount += 1
        let rule = AdamRule(beta1: beta1, beta2: beta2, epsilon: epsilon), t = stepCount, lr = learningRate
        firstMoment.withUnsafeMutableBufferPointer { m in
            secondMoment.withUnsafeMutableBufferPointer { v in
                rule.apply(step: t, learningRate: lr, gradient: gradient, parameters: theta, firstMoment: m, secondMoment: v)
            }
        }
    }
}
