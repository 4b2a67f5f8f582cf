/// A weighted mixture of task families: every draw of `functionsPerDraw` consecutive functions
/// (one block of the meta-batch) comes from one component, chosen with probability
/// weight / Σ weights from the key (seed, horizon, task ÷ functionsPerDraw) alone, so the mixture,
/// like every function, does not depend on which rank samples it.
///
/// The mixture's functions all use one learned optimizer: a component whose optimizees have
/// several parameter groups (the CNN's convolution and fully connected parameters) is run with
/// every group on optimizer 0 (`SharedOptimizerOptimizee`). One optimizer for everything is what a
/// generalist is meant to be, and it keeps φ's layout the same for every mixture.
public struct MixtureFamily: TaskFamily {
    /// The components with their (positive) weights, in the mixture's order.
    public let components: [(weight: Double, family: any TaskFamily)]
    /// Consecutive task indices that share one draw: the block size in meta-training, 1 for
    /// validation and evaluation (each function draws its own component).
    public let functionsPerDraw: Int

    public init(components: [(weight: Double, family: any TaskFamily)], functionsPerDraw: Int = 1) {
        precondition(!components.isEmpty && components.allSatisfy { $0.weight > 0 && $0.weight.isFinite },
                     "a mixture needs components with positive, finite weights")
        precondition(functionsPerDraw >= 1, "functionsPerDraw must be positive")
        self.components = components
        self.functionsPerDraw = functionsPerDraw
    }

    public var name: String { "mix" }
    public var optimizerCount: Int { 1 }
    /// The components' checksums chained (nil when no component has data).
    public var dataFingerprint: UInt64? {
        let parts = components.compactMap(\.family.dataFingerprint)
        guard !parts.isEmpty else { return nil }
        return parts.withUnsafeBytes { ImageDataset.hash($0, seed: 0) }
    }

    /// The component that task `key.task` comes from.
    public func componentIndex(for key: RandomKey) -> Int {
        let total = components.reduce(0.0) { $0 + $1.weight }
        let drawKey = RandomKey(seed: key.seed, horizon: Int(key.horizon), task: Int(key.task) / functionsPerDraw)
        var stream = drawKey.stream(.mixtureComponent)
        let u = stream.uniform(0, total)
        var cumulative = 0.0
        for (i, c) in components.enumerated() {
            cumulative += c.weight
            if u < cumulative { return i }
        }
        return components.count - 1  // u rounded up to the total
    }

    public func sample(_ key: RandomKey) -> any Optimizee {
        let function = components[componentIndex(for: key)].family.sample(key)
        return function.parameterGroups.count == 1 && function.parameterGroups[0].optimizer == 0
            ? function : SharedOptimizerOptimizee(base: function)
    }
}

/// The same function with every coordinate on learned optimizer 0: how a one-optimizer φ (a
/// mixture's) runs a family that has several parameter groups, such as the CNN.
public struct SharedOptimizerOptimizee: ForwardingOptimizee {
    public let base: any Optimizee

    public init(base: any Optimizee) { self.base = base }

    public var parameterGroups: [ParameterGroup] { [ParameterGroup(range: 0..<base.dimension, optimizer: 0)] }
    public func initialParameters() -> [Float] { base.initialParameters() }
}

/// A family whose functions all run on learned optimizer 0 (`SharedOptimizerOptimizee`): a
/// mixture's one-optimizer φ evaluated on a family with several parameter groups.
public struct SharedOptimizerFamily: TaskFamily {
    public let base: any TaskFamily

    public init(base: any TaskFamily) { self.base = base }

    public var name: String { base.name }
    public var optimizerCount: Int { 1 }
    public var dataFingerprint: UInt64? { base.dataFingerprint }
    public func sample(_ key: RandomKey) -> any Optimizee { SharedOptimizerOptimizee(base: base.sample(key)) }
}
