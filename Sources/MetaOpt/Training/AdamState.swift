/// Adam (Kingma & Ba, 2015) on the flat φ buffer:
///   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  φ ← φ − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε).
/// Defaults are the paper's meta-optimizer settings as commonly used (β₁ 0.9, β₂ 0.999, ε 1e-8).
/// Every rank applies the identical step to the identical averaged gradient, so φ stays the same
/// everywhere; the arithmetic is in a fixed order, so it is also reproducible bit for bit.
public struct AdamState: Codable, Equatable, Sendable {
    public var step: Int
    public var firstMoment: [Float]
    public var secondMoment: [Float]
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8

    public init(count: Int) {
        step = 0
        firstMoment = Array(repeating: 0, count: count)
        secondMoment = Array(repeating: 0, count: count)
    }

    public mutating func apply(gradient: [Float], to phi: inout [Float], learningRate: Float) {
        precondition(gradient.count == phi.count && phi.count == firstMoment.count)
        step += 1
        let c1 = 1 / (1 - Float(Foundation.pow(Double(beta1), Double(step))))
        let c2 = 1 / (1 - Float(Foundation.pow(Double(beta2), Double(step))))
        for i in 0..<phi.count {
            let g = gradient[i]
            firstMoment[i] = beta1 * firstMoment[i] + (1 - beta1) * g
            secondMoment[i] = beta2 * secondMoment[i] + (1 - beta2) * g * g
            phi[i] -= learningRate * (firstMoment[i] * c1) / ((secondMoment[i] * c2).squareRoot() + epsilon)
        }
    }
}

import Foundation
