/// A contiguous range of an optimizee's coordinates that one learned optimizer acts on.
/// Most optimizees have one group; the paper's CNN has two (convolution and fully connected
/// parameters, each with its own LSTM).
public struct ParameterGroup: Hashable, Sendable, Codable {
    public var range: Range<Int>
    /// Index of the learned optimizer (LSTM) that updates these coordinates.
    public var optimizer: Int
    public init(range: Range<Int>, optimizer: Int) {
        self.range = range
        self.optimizer = optimizer
    }
}

/// One sampled function f: Rⁿ → R that a (learned or hand-designed) optimizer minimises.
///
/// `step` selects the step's minibatch where f is stochastic; a deterministic function ignores it.
/// Implementations derive all randomness from the `RandomKey` they were sampled with, so the same
/// key gives the same function on any rank.
public protocol Optimizee {
    /// Number of coordinates n of θ.
    var dimension: Int { get }
    /// Which learned optimizer updates which coordinates; the ranges tile 0..<dimension in order
    /// (`LearnedOptimizer.run` and `MetaTrainer` throw on a function whose groups do not).
    var parameterGroups: [ParameterGroup] { get }
    /// θ₀: `dimension` values (`LearnedOptimizer.run` and `MetaTrainer` throw on a function whose
    /// θ₀ has another count).
    func initialParameters() -> [Float]
    /// f(θ) on step `step`'s minibatch; writes ∇f(θ) into `gradient` (count = dimension).
    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                         gradient: UnsafeMutableBufferPointer<Float>) -> Float
    /// The loss reported in evaluations at step `step` (by default the same minibatch loss).
    func evaluationLoss(at theta: UnsafeBufferPointer<Float>, step: Int) -> Float
    /// The same in Double precision, for finite-difference checks. The default goes through the
    /// Float routine; families that can afford it compute in Double.
    func lossAndGradientInDouble(at theta: UnsafeBufferPointer<Double>, step: Int,
                                 gradient: UnsafeMutableBufferPointer<Double>) -> Double
}

extension Optimizee {
    public var parameterGroups: [ParameterGroup] { [ParameterGroup(range: 0..<dimension, optimizer: 0)] }

    public func evaluationLoss(at theta: UnsafeBufferPointer<Float>, step: Int) -> Float {
        var scratch = [Float](repeating: 0, count: dimension)
        return scratch.withUnsafeMutableBufferPointer { lossAndGradient(at: theta, step: step, gradient: $0) }
    }

    public func lossAndGradientInDouble(at theta: UnsafeBufferPointer<Double>, step: Int,
                                        gradient: UnsafeMutableBufferPointer<Double>) -> Double {
        let t = theta.map { Float($0) }
        var g = [Float](repeating: 0, count: dimension)
        let loss = t.withUnsafeBufferPointer { tp in
            g.withUnsafeMutableBufferPointer { lossAndGradient(at: tp, step: step, gradient: $0) }
        }
        for i in 0..<dimension { gradient[i] = Double(g[i]) }
        return Double(loss)
    }
}

/// An optimizee whose Hessian is available, for the exact second-order meta-gradient.
public protocol SecondOrderOptimizee: Optimizee {
    /// Writes H(θ)·v into `result` (H the Hessian of f at θ on step `step`'s minibatch).
    func hessianVectorProduct(at theta: UnsafeBufferPointer<Float>, step: Int,
                              vector: UnsafeBufferPointer<Double>, result: UnsafeMutableBufferPointer<Double>)
}

/// A named contiguous slice of an optimizee's θ (one weight matrix or bias vector).
public struct NamedTensor: Hashable, Sendable {
    public var name: String
    public var range: Range<Int>
    public init(name: String, range: Range<Int>) {
        self.name = name
        self.range = range
    }

    /// Whether every tensor lies inside a θ of `dimension` coordinates.
    public static func allFit(_ tensors: [NamedTensor], dimension: Int) -> Bool {
        tensors.allSatisfy { $0.range.lowerBound >= 0 && $0.range.upperBound <= dimension }
    }
}

/// An optimizee whose θ is a sequence of named tensors (weight matrices, bias vectors), for
/// per-tensor reports and augmentations.
public protocol TensorNamedOptimizee: Optimizee {
    /// θ's tensors in layout order; their ranges tile 0..<dimension.
    var tensors: [NamedTensor] { get }
}

/// An optimizee whose loss and gradient are written once, in Double, reading θ and writing ∇f
/// coordinate by coordinate through closures; the Float and the Double entry points of `Optimizee`
/// both come from that one function (`lossAndGradient(reading:writing:)`).
protocol DoubleEvaluatedOptimizee: Optimizee {
    /// f(θ), with ∂f/∂θᵢ passed to `write(i, value)` for every coordinate i.
    func lossAndGradient(reading theta: (Int) -> Double, writing write: (Int, Double) -> Void) -> Double
}

extension DoubleEvaluatedOptimizee {
    @inline(__always)
    public func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                                gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        Float(lossAndGradient(reading: { Double(theta[$0]) }, writing: { gradient[$0] = Float($1) }))
    }

    @inline(__always)
    public func lossAndGradientInDouble(at theta: UnsafeBufferPointer<Double>, step: Int,
                                        gradient: UnsafeMutableBufferPointer<Double>) -> Double {
        lossAndGradient(reading: { theta[$0] }, writing: { gradient[$0] = $1 })
    }
}

/// An optimizee made from another one (an augmentation's or a mixture's wrapper), so that checks
/// of the function a family sampled can look through the wrappers to it.
protocol WrappingOptimizee: Optimizee {
    /// The optimizee this one is made from.
    var base: any Optimizee { get }
}

/// An optimizee that is another one's function: its dimension, f and ∇f are `base`'s, passed
/// through unchanged; the conforming type changes only where it starts (θ₀) or which learned
/// optimizer runs which coordinates.
protocol ForwardingOptimizee: WrappingOptimizee {}

extension ForwardingOptimizee {
    public var dimension: Int { base.dimension }

    public func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                                gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        base.lossAndGradient(at: theta, step: step, gradient: gradient)
    }

    public func evaluationLoss(at theta: UnsafeBufferPointer<Float>, step: Int) -> Float {
        base.evaluationLoss(at: theta, step: step)
    }

    public func lossAndGradientInDouble(at theta: UnsafeBufferPointer<Double>, step: Int,
                                        gradient: UnsafeMutableBufferPointer<Double>) -> Double {
        base.lossAndGradientInDouble(at: theta, step: step, gradient: gradient)
    }
}

/// A distribution over optimizees, sampled by key.
public protocol TaskFamily: Sendable {
    /// Short name used on the command line and in files ("quadratic", "mlp", ...).
    var name: String { get }
    /// Number of learned optimizers (LSTMs) this family's optimizees use.
    var optimizerCount: Int { get }
    /// The function for `key` (run seed, horizon index, global task index).
    func sample(_ key: RandomKey) -> any Optimizee
    /// A checksum of the data the functions are drawn from (an image family's pixels and labels),
    /// which the ranks of a job compare at start: the configuration alone cannot tell that two
    /// hosts hold different copies of a data set's files. nil for families drawn from keys alone.
    var dataFingerprint: UInt64? { get }
}

extension TaskFamily {
    public var dataFingerprint: UInt64? { nil }
}
