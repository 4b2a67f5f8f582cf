import Foundation

/// What a random stream is used for; part of the counter, so streams for different purposes of
/// the same task never overlap.
public enum RandomPurpose: UInt32, Sendable {
    /// The function itself (W, y for a quadratic; initial weights for a network).
    case function = 1
    /// The optimizee's initial parameters θ₀.
    case initialParameters = 2
    /// Per-step randomness such as minibatch indices.
    case minibatches = 3
    /// Initialisation of the learned optimizer's weights φ.
    case optimizerInit = 4
    /// Anything else a component needs (fault injection, data subsets, ...).
    case auxiliary = 5
    /// Per-coordinate factors of a randomly rescaled meta-training function (`RandomlyScaledOptimizee`).
    case parameterScaling = 6
    /// Per-tensor factors of a meta-training function's rescaled θ₀ (`RandomInitialScaleOptimizee`).
    case initialScaling = 7
    /// The factor of a meta-training function's rescaled loss (`RandomLossScaleOptimizee`).
    case lossScaling = 8
    /// Which component of a mixture a block of functions comes from (`MixtureFamily`).
    case mixtureComponent = 9
}

/// Identifies one independent random stream: (run seed, horizon index, global task index, purpose).
///
/// Every task's randomness comes from its key, never from the rank that happens to run it, so the
/// set of functions in a meta-batch does not depend on the number of processes.
public struct RandomKey: Hashable, Sendable, Codable {
    public var seed: UInt64
    public var horizon: UInt32
    public var task: UInt32
    /// Precondition (a trap otherwise): `horizon` and `task` in 0...UInt32.max, the counter words
    /// they occupy. The trainer's are far below it (`SizeLimits`).
    public init(seed: UInt64, horizon: Int, task: Int) {
        if !(horizon >= 0 && horizon <= Int(UInt32.max) && task >= 0 && task <= Int(UInt32.max)) {
            fatalError("RandomKey: horizon \(horizon) and task \(task) must each be in 0...\(UInt32.max)")  // in release builds too
        }
        self.seed = seed
        self.horizon = UInt32(horizon)
        self.task = UInt32(task)
    }

    public func stream(_ purpose: RandomPurpose, substream: Int = 0) -> RandomStream {
        RandomStream(key: self, purpose: purpose, substream: substream)
    }
}

/// A sequential reader over one Philox stream: counter = (block, purpose | substream << 8, horizon,
/// task), key = seed. `substream` (below 2^24) splits one purpose further, e.g. one stream per step.
public struct RandomStream: Sendable {
    private let key: Philox4x32.Key
    private let purpose: UInt32
    private let horizon: UInt32
    private let task: UInt32
    private var block: UInt32 = 0
    private var buffer: Philox4x32.Counter = (0, 0, 0, 0)
    private var used = 4
    private var spareNormal: Double? = nil

    public init(key: RandomKey, purpose: RandomPurpose, substream: Int = 0) {
        precondition(substream >= 0 && substream < 1 << 24, "substream out of range")
        self.key = (UInt32(truncatingIfNeeded: key.seed), UInt32(truncatingIfNeeded: key.seed >> 32))
        self.purpose = purpose.rawValue | UInt32(substream) << 8
        self.horizon = key.horizon
        self.task = key.task
    }

    /// The next 32 random bits.
    public mutating func nextUInt32() -> UInt32 {
        if used == 4 {
            buffer = Philox4x32.block(counter: (block, purpose, horizon, task), key: key)
            block &+= 1
            used = 0
        }
        defer { used += 1 }
        switch used {
        case 0: return buffer.0
        case 1: return buffer.1
        case 2: return buffer.2
        default: return buffer.3
        }
    }

    public mutating func nextUInt64() -> UInt64 {
        UInt64(nextUInt32()) << 32 | UInt64(nextUInt32())
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double {
        Double(nextUInt64() >> 11) * 0x1p-53
    }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * uniform()
    }

    /// Integer in 0..<bound by Lemire's multiply-and-reject method. Its rejection threshold is
    /// 2⁶⁴ mod bound where the exact method takes 2³² mod bound, so the 2³² inputs are not split
    /// quite evenly: some values get one input more than others, a relative bias below
    /// bound / 2³² (1.4e-5 for Fashion-MNIST's 60,000 examples). Kept as it is because every
    /// minibatch is drawn here: the exact threshold would change the image tasks' trained φ and
    /// the figures recorded from them.
    public mutating func integer(below bound: Int) -> Int {
        precondition(bound > 0 && bound <= Int(UInt32.max))
        let b = UInt64(bound)
        var m = UInt64(nextUInt32()) &* b
        if UInt32(truncatingIfNeeded: m) < UInt32(bound) {
            let threshold = UInt32(truncatingIfNeeded: (0 &- b) % b)
            while UInt32(truncatingIfNeeded: m) < threshold {
                m = UInt64(nextUInt32()) &* b
            }
        }
        return Int(m >> 32)
    }

    /// Standard normal by the Box–Muller transform (pairs; the second value is kept for the next call).
    public mutating func normal() -> Double {
        if let z = spareNormal {
            spareNormal = nil
            return z
        }
        let u1 = 1.0 - uniform()  // in (0, 1], so the log is finite
        let u2 = uniform()
        let r = (-2.0 * Foundation.log(u1)).squareRoot()
        spareNormal = r * Foundation.sin(2.0 * Double.pi * u2)
        return r * Foundation.cos(2.0 * Double.pi * u2)
    }

    /// `count` standard normal values as Float.
    public mutating func normals(_ count: Int, scale: Double = 1) -> [Float] {
        (0..<count).map { _ in Float(normal() * scale) }
    }
}
