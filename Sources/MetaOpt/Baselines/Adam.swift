import Foundation

/// Adam (Kingma & Ba 2015, Algorithm 1), with bias correction:
///
///     t ← t + 1
///     m ← β₁ m + (1 − β₁) g
///     v ← β₂ v + (1 − β₂) g²
///     m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
///     θ ← θ − α m̂ / (√v̂ + ε)
///
/// with m₀ = v₀ = 0 and the paper's defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (also the defaults
/// of PyTorch and TensorFlow). The bias corrections 1 − βᵗ are computed in Double.
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
        precondition(theta.count == gradient.count, "theta and gradient differ in length")
        if firstMoment.count != theta.count { reset(dimension: theta.count) }
        stepCount += 1
        let b1 = beta1, b2 = beta2, eps = epsilon, lr = learningRate
        let correction1 = Float(1 - pow(Double(b1), Double(stepCount)))
        let correction2 = Float(1 - pow(Double(b2), Double(stepCount)))
        firstMoment.withUnsafeMutableBufferPointer { m in
            secondMoment.withUnsafeMutableBufferPointer { v in
                for i in 0..<theta.count {
                    let g = gradient[i]
                    let mi = b1 * m[i] + (1 - b1) * g
                    let vi = b2 * v[i] + (1 - b2) * g * g
                    m[i] = mi
                    v[i] = vi
                    let mHat = mi / correction1
                    let vHat = vi / correction2
                    theta[i] -= lr * mHat / (vHat.squareRoot() + eps)
                }
            }
        }
    }
}
