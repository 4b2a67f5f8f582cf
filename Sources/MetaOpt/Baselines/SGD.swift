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
        // fatalError, not precondition: an optimized build drops a precondition's message.
        if theta.count != gradient.count {
            fatalError("SGD.step: theta has \(theta.count) values and gradient \(gradient.count); they must be equally long")
        }
        let lr = learningRate
        for i in 0..<theta.count {
            theta[i] -= lr * gradient[i]
        }
    }
}
