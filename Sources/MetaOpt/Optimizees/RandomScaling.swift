import Foundation

/// An optimizee with every coordinate rescaled: f̃(θ̃) = f(c ⊙ θ̃), so ∇f̃(θ̃) = c ⊙ ∇f(c ⊙ θ̃) and
/// θ̃₀ = θ₀ ⊘ c (the optimization starts at the same point of f).
///
/// This is Lv, Jiang and Li's "random scaling" (*Learning Gradient Descent: Better Generalization and
/// Longer Horizons*, ICML 2017): meta-training on functions whose coordinates are stretched by random
/// factors shows the learned optimizer gradients and curvatures over a wider range of scales than
/// one network's, so it does not learn "small gradient ⇒ small step" from one architecture. A
/// coordinate with c < 1 has a smaller gradient and needs a step 1/c times larger in θ̃ for the
/// same move in θ — the situation of a deeper network's weights at the start of training.
///
/// Only meta-training uses it; evaluations run on the unscaled functions.
public struct RandomlyScaledOptimizee: WrappingOptimizee {
    public let base: any Optimizee
    /// c, one factor per coordinate.
    public let scales: [Float]
    private let scratch: ScaledPoint

    /// `base` with coordinate i stretched by `scales[i]` (every factor positive and finite).
    public init(base: any Optimizee, scales: [Float]) {
        precondition(scales.count == base.dimension, "\(scales.count) scales for \(base.dimension) coordinates")
        precondition(scales.allSatisfy { $0 > 0 && $0.isFinite }, "scales must be positive and finite")
        self.base = base
        self.scales = scales
        scratch = ScaledPoint(count: base.dimension)
    }

    /// `base` with factors c_i = exp(u_i), u_i uniform in `logRange`, drawn from
    /// `key.stream(.parameterScaling)`; the range [0, 0] gives c = 1.
    public init(base: any Optimizee, logRange: LogScaleRange, key: RandomKey) {
        var stream = key.stream(.parameterScaling)
        let scales = (0..<base.dimension).map { _ in
            Float(Foundation.exp(stream.uniform(logRange.lower, logRange.upper)))
        }
        self.init(base: base, scales: scales)
    }

    public var dimension: Int { base.dimension }
    public var parameterGroups: [ParameterGroup] { base.parameterGroups }

    public func initialParameters() -> [Float] {
        zip(base.initialParameters(), scales).map { $0 / $1 }
    }

    public func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                                gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        let point = scratch.stretch(theta, by: scales)
        let loss = base.lossAndGradient(at: point, step: step, gradient: gradient)
        for i in 0..<dimension { gradient[i] *= scales[i] }
        return loss
    }

    public func evaluationLoss(at theta: UnsafeBufferPointer<Float>, step: Int) -> Float {
        base.evaluationLoss(at: scratch.stretch(theta, by: scales), step: step)
    }

    public func lossAndGradientInDouble(at theta: UnsafeBufferPointer<Double>, step: Int,
                                        gradient: UnsafeMutableBufferPointer<Double>) -> Double {
        let point = (0..<dimension).map { Double(scales[$0]) * theta[$0] }
        let loss = point.withUnsafeBufferPointer { base.lossAndGradientInDouble(at: $0, step: step, gradient: gradient) }
        for i in 0..<dimension { gradient[i] *= Double(scales[i]) }
        return loss
    }
}

/// c ⊙ θ̃, computed into one buffer allocated with the optimizee (the unroll loop allocates nothing).
private final class ScaledPoint {
    let buffer: UnsafeMutableBufferPointer<Float>
    init(count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: 0)
    }
    deinit { buffer.deallocate() }

    func stretch(_ theta: UnsafeBufferPointer<Float>, by scales: [Float]) -> UnsafeBufferPointer<Float> {
        precondition(theta.count == buffer.count, "θ has \(theta.count) coordinates, expected \(buffer.count)")
        for i in 0..<buffer.count { buffer[i] = scales[i] * theta[i] }
        return UnsafeBufferPointer(buffer)
    }
}
