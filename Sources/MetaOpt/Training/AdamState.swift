/// Adam on the flat φ buffer (`AdamRule`; the paper's meta-optimizer settings as commonly used:
/// β₁ 0.9, β₂ 0.999, ε 1e-8). Every rank applies the identical step to the identical averaged
/// gradient, so φ stays the same everywhere. The step count t lives with the trainer's other
/// counters (`TrainerCounters.adamStep`).
public struct AdamState: Codable, Equatable, Sendable {
    public var firstMoment: [Float]
    public var secondMoment: [Float]
    package var rule = AdamRule()

    public init(count: Int) {
        firstMoment = Array(repeating: 0, count: count)
        secondMoment = Array(repeating: 0, count: count)
    }

    /// Adam step number `step` (t, from 1) on `phi`. `gradient`, `phi` and the moments must have
    /// the same count: another is a programmer error and traps (a state from elsewhere is checked
    /// by `MetaTrainer`, which throws instead).
    public mutating func apply(gradient: [Float], to phi: inout [Float], learningRate: Float, step: Int) {
        let rule = rule
        gradient.withUnsafeBufferPointer { g in
            phi.withUnsafeMutableBufferPointer { p in
                firstMoment.withUnsafeMutableBufferPointer { m in
                    secondMoment.withUnsafeMutableBufferPointer { v in
                        rule.apply(step: step, learningRate: learningRate, gradient: g, parameters: p,
                                   firstMoment: m, secondMoment: v)
                    }
                }
            }
        }
    }
}
