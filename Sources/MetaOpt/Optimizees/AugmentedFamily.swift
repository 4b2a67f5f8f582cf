/// A change applied to every function meta-training samples, to widen what the learned optimizer
/// sees without changing the task it is evaluated on.
public enum TaskAugmentation: Sendable, Equatable {
    /// f(c ⊙ θ) with per-coordinate factors c = exp(U[lower, upper)) (`RandomlyScaledOptimizee`).
    case randomScaling(LogScaleRange)
    /// θ₀ with each tensor multiplied by exp(U[lower, upper)) (`RandomInitialScaleOptimizee`).
    case randomInitialScale(LogScaleRange)
    /// a·f with one factor a = exp(U[lower, upper)) per function (`RandomLossScaleOptimizee`).
    case randomLossScale(LogScaleRange)

    /// The range of its log-factors.
    public var range: LogScaleRange {
        switch self {
        case .randomScaling(let range), .randomInitialScale(let range), .randomLossScale(let range): return range
        }
    }

    /// `function` changed, with factors drawn from `key` (the function's own key).
    public func apply(to function: any Optimizee, key: RandomKey) -> any Optimizee {
        switch self {
        case .randomScaling(let range): return RandomlyScaledOptimizee(base: function, logRange: range, key: key)
        case .randomInitialScale(let range): return RandomInitialScaleOptimizee(base: function, logRange: range, key: key)
        case .randomLossScale(let range): return RandomLossScaleOptimizee(base: function, logRange: range, key: key)
        }
    }
}

/// A task family whose every sample has `augmentation` applied, each with its own factors.
public struct AugmentedFamily: TaskFamily {
    public let base: any TaskFamily
    public let augmentation: TaskAugmentation

    public init(base: any TaskFamily, augmentation: TaskAugmentation) {
        self.base = base
        self.augmentation = augmentation
    }

    public var name: String { base.name }
    public var optimizerCount: Int { base.optimizerCount }
    public var dataFingerprint: UInt64? { base.dataFingerprint }

    public func sample(_ key: RandomKey) -> any Optimizee {
        augmentation.apply(to: base.sample(key), key: key)
    }
}
