import Foundation

/// The same function times a constant: f̃(θ) = a·f(θ), ∇f̃ = a·∇f, same θ₀.
///
/// A meta-training augmentation: an optimizer whose steps follow the gradient's size (SGD, NAG) must
/// change its steps by 1/a, while one that normalises per coordinate (Adam, RMSprop) takes the same
/// steps for any a. Training on random a rewards the second kind. The meta-loss sums f̃, so
/// functions with large a weigh more in the meta-gradient. Only meta-training uses it.
public struct RandomLossScaleOptimizee: WrappingOptimizee {
    public let base: any Optimizee
    /// a.
    public let factor: Float

    public init(base: any Optimizee, factor: Float) {
        precondition(factor > 0 && factor.isFinite, "the loss factor must be positive and finite")
        self.base = base
        self.factor = factor
    }

    /// a = exp(u), u uniform in `logRange`, drawn from `key.stream(.lossScaling)`.
    public init(base: any Optimizee, logRange: LogScaleRange, key: RandomKey) {
        var stream = key.stream(.lossScaling)
        self.init(base: base, factor: Float(Foundation.exp(stream.uniform(logRange.lower, logRange.upper))))
    }

    public var dimension: Int { base.dimension }
    public var parameterGroups: [ParameterGroup] { base.parameterGroups }
    public func initialParameters() -> [Float] { base.initialParameters() }

    public func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                                gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        let loss = base.lossAndGradient(at: theta, step: step, gradient: gradient)
        for i in 0..<dimension { gradient[i] *= factor }
        return factor * loss
    }

    public func evaluationLoss(at theta: UnsafeBufferPointer<Float>, step: Int) -> Float {
        factor * base.evaluationLoss(at: theta, step: step)
    }

    public func lossAndGradientInDouble(at theta: UnsafeBufferPointer<Double>, step: Int,
                                        gradient: UnsafeMutableBufferPointer<Double>) -> Double {
        let loss = base.lossAndGradientInDouble(at: theta, step: step, gradient: gradient)
        for i in 0..<dimension { gradient[i] *= Double(factor) }
        return Double(factor) * loss
    }
}
