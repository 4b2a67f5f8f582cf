/// Plain gradient descent: `θ ← θ − α g`.
///
/// No state, no hyperparameters besides α.
public struct SGD: HandDesignedOptimizer {
    public var learningRate: Float
    public var kind: BaselineKind { .sgd }
    public var hyperparameters: [String: Float] { [:] }

    public init(learningRate: Float) {
        self.learningRate = learningRate
    }

    public mutating func reset(dimension: Int) {}

    public mutating func step(theta: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>) {
        requireEqualLengths(theta: theta.count, gradient: gradient.count)
        let lr = learningRate
        for i in 0..<theta.count {
            theta[i] -= lr * gradient[i]
        }
    }
}
