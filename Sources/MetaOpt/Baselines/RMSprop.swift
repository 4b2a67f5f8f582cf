import Foundation

/// RMSprop (Tieleman & Hinton 2012, lecture 6.5):
///
///     s ← ρ s + (1 − ρ) g²
///     θ ← θ − α g / (√s + ε)
///
/// with s₀ = 0, ρ = 0.9, ε = 1e-8, no momentum, not centred.
///
/// Why these defaults: ρ = 0.9 is the decay of the original lecture and of TensorFlow's
/// `RMSPropOptimizer`, which the paper's experiments (2016, TensorFlow) used; PyTorch's default is
/// 0.99. ε is added outside the square root as in PyTorch and Keras (TensorFlow 1 added it inside,
/// with 1e-10, and started s at 1); with s₀ = 0 the first step has size ≈ α/√(1 − ρ) ≈ 3.16 α per
/// coordinate. Since α is tuned by grid search, these choices only shift the best α.
public struct RMSprop: HandDesignedOptimizer {
    public var learningRate: Float
    /// ρ, the decay of the running mean of g².
    public var decay: Float
    /// ε, added to √s.
    public var epsilon: Float
    /// The running mean of squared gradients s (empty until `reset(dimension:)`).
    public private(set) var meanSquare: [Float] = []

    public var kind: BaselineKind { .rmsprop }
    public var hyperparameters: [String: Float] { ["decay": decay, "epsilon": epsilon] }

    public init(learningRate: Float, decay: Float = 0.9, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.decay = decay
        self.epsilon = epsilon
    }

    public mutating func reset(dimension: Int) {
        meanSquare = [Float](repeating: 0, count: dimension)
    }

    public mutating func step(theta: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>) {
        requireEqualLengths(theta: theta.count, gradient: gradient.count)
        if meanSquare.count != theta.count { reset(dimension: theta.count) }
        let lr = learningRate, rho = decay, eps = epsilon
        meanSquare.withUnsafeMutableBufferPointer { s in
            for i in 0..<theta.count {
                let g = gradient[i]
                let si = rho * s[i] + (1 - rho) * g * g
                s[i] = si
                theta[i] -= lr * g / (si.squareRoot() + eps)
            }
        }
    }
}
