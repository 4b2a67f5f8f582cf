import Foundation

/// Adam's update (Kingma & Ba 2015, Algorithm 1) on flat Float buffers, the one implementation
/// behind φ's meta-optimizer (`AdamState`) and the hand-designed baseline (`Adam`):
///
///     m ← β₁ m + (1 − β₁) g
///     v ← β₂ v + (1 − β₂) g²
///     θ ← θ − α (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
///
/// with the paper's defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (also PyTorch's and TensorFlow's).
/// βᵗ is computed in Double; the rest in Float, in a fixed order, so every rank that applies the
/// same step to the same gradient gets the same bits.
package struct AdamRule: Codable, Equatable, Sendable {
    package var beta1: Float
    package var beta2: Float
    package var epsilon: Float

    package init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// Step number `step` (t, from 1): updates the moments and `parameters` in place. All four
    /// buffers have the same count.
    package func apply(step: Int, learningRate: Float, gradient: UnsafeBufferPointer<Float>,
                      parameters: UnsafeMutableBufferPointer<Float>,
                      firstMoment: UnsafeMutableBufferPointer<Float>, secondMoment: UnsafeMutableBufferPointer<Float>) {
        precondition(gradient.count == parameters.count && firstMoment.count == parameters.count
                     && secondMoment.count == parameters.count, "Adam's buffers differ in length")
        // The bias corrections as factors 1 / (1 − βᵗ), so the loop multiplies.
        let c1 = 1 / (1 - Float(Foundation.pow(Double(beta1), Double(step))))
        let c2 = 1 / (1 - Float(Foundation.pow(Double(beta2), Double(step))))
        let b1 = beta1, b2 = beta2, eps = epsilon
        for i in 0..<parameters.count {
            let g = gradient[i]
            let m = b1 * firstMoment[i] + (1 - b1) * g
            let v = b2 * secondMoment[i] + (1 - b2) * g * g
            firstMoment[i] = m
            secondMoment[i] = v
            parameters[i] -= learningRate * (m * c1) / ((v * c2).squareRoot() + eps)
        }
    }
}
