import Foundation
import MetaOpt

/// Logistic regression on generated data, an optimizee defined outside metaopt-dist:
/// f(w, b) = (1/n) Σ_k [log(1 + e^{z_k}) − y_k z_k],  z_k = w·x_k + b,
/// with x_k standard normal in R^d, labels y_k ∈ {0, 1} drawn with probability σ(w*·x_k) for a
/// true w* ~ N(0, 4/d · I), and (w, b) = 0 at the start. θ is [w (d values), b (1 value)]; the
/// whole data set is one batch, so f does not depend on the step.
public struct LogisticRegression: Optimizee, Sendable {
    public let features: Int
    public let examples: Int
    /// x_k row by row (examples × features), and the labels.
    let inputs: [Float]
    let labels: [Float]

    /// The data set drawn from `key` (its `.function` stream).
    public init(features: Int = 20, examples: Int = 100, key: RandomKey) {
        self.features = features
        self.examples = examples
        var random = key.stream(.function)
        let truth = (0..<features).map { _ in random.normal() * 2 / Double(features).squareRoot() }
        var inputs: [Float] = [], labels: [Float] = []
        for _ in 0..<examples {
            let x = (0..<features).map { _ in random.normal() }
            let z = zip(x, truth).reduce(0) { $0 + $1.0 * $1.1 }
            inputs += x.map { Float($0) }
            labels.append(random.uniform() < 1 / (1 + exp(-z)) ? 1 : 0)
        }
        self.inputs = inputs
        self.labels = labels
    }

    /// The named tensors of θ, in order: the weights w and the bias b.
    public var tensors: [LearnedOptimizer.Tensor] {
        [.init(name: "weights", count: features), .init(name: "bias", count: 1)]
    }

    public var dimension: Int { features + 1 }

    public func initialParameters() -> [Float] { [Float](repeating: 0, count: dimension) }

    public func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                                gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        for i in 0..<dimension { gradient[i] = 0 }
        var loss: Float = 0
        for k in 0..<examples {
            var z = theta[features]
            for i in 0..<features { z += theta[i] * inputs[k * features + i] }
            // log(1 + e^z) computed without overflow.
            loss += max(z, 0) + log1p(exp(-abs(z))) - labels[k] * z
            let residual = (1 / (1 + exp(-z)) - labels[k]) / Float(examples)
            for i in 0..<features { gradient[i] += residual * inputs[k * features + i] }
            gradient[features] += residual
        }
        return loss / Float(examples)
    }

    /// f and ∇f for named tensors ["weights": w, "bias": [b]].
    public func lossAndGradient(at parameters: [String: [Float]]) -> (loss: Float, gradients: [String: [Float]]) {
        let theta = parameters["weights"]! + parameters["bias"]!
        var gradient = [Float](repeating: 0, count: dimension)
        let loss = theta.withUnsafeBufferPointer { t in
            gradient.withUnsafeMutableBufferPointer { lossAndGradient(at: t, step: 0, gradient: $0) }
        }
        return (loss, ["weights": Array(gradient[..<features]), "bias": [gradient[features]]])
    }
}

/// Logistic-regression problems of one size, a new data set per key.
public struct LogisticRegressionFamily: TaskFamily {
    public var features: Int
    public var examples: Int

    public init(features: Int = 20, examples: Int = 100) {
        self.features = features
        self.examples = examples
    }

    public var name: String { "logistic-regression" }
    /// One learned optimizer updates w and b.
    public var optimizerCount: Int { 1 }

    public func sample(_ key: RandomKey) -> any Optimizee {
        LogisticRegression(features: features, examples: examples, key: key)
    }
}
