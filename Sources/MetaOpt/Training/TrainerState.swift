/// Everything a meta-training run needs to continue exactly from a horizon boundary: φ, the Adam
/// state and the counters. Plain values, so it can be broadcast and checkpointed.
public struct TrainerState: Codable, Equatable, Sendable {
    /// Meta-steps done (including skipped ones).
    public var iteration: Int
    /// Index of the current functions; part of every task's random key.
    public var horizon: Int
    /// Truncations done within the current horizon.
    public var truncation: Int
    public var phi: [Float]
    public var adam: AdamState
    /// Meta-steps skipped because some rank saw a non-finite loss or gradient.
    public var skippedSteps: Int
    public var consecutiveSkips: Int

    /// A fresh run: φ from the layout's initialisation with the run seed.
    public init(config: TrainingConfig) {
        let layout = ParameterLayout(config.optimizer)
        phi = layout.initialParameters(key: RandomKey(seed: config.seed, horizon: 0, task: 0))
        adam = AdamState(count: layout.count)
        iteration = 0
        horizon = 0
        truncation = 0
        skippedSteps = 0
        consecutiveSkips = 0
    }

    /// True at the start of a horizon, where a checkpoint needs no optimizee state.
    public var atHorizonBoundary: Bool { truncation == 0 }
}

/// A deliberate failure, for testing fault handling only (see docs/checkpoints.md).
public struct FaultInjection: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// SIGKILL this process.
        case kill
        /// Throw an error from the meta-step.
        case `throw`
        /// Call abort() (SIGABRT).
        case abort
        /// Make this rank's meta-gradient NaN.
        case nan
        /// Change φ on this rank only (the divergence check must catch it).
        case perturb
    }
    public var iteration: Int
    public var rank: Int
    public var kind: Kind

    public init(iteration: Int, rank: Int, kind: Kind) {
        self.iteration = iteration
        self.rank = rank
        self.kind = kind
    }

    /// Parses `KIND@ITERATION:RANK`, e.g. `kill@12:1`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "@")
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])) else { return nil }
        let where_ = parts[1].split(separator: ":")
        guard where_.count == 2, let it = Int(where_[0]), let r = Int(where_[1]), it >= 0, r >= 0 else { return nil }
        self.init(iteration: it, rank: r, kind: kind)
    }
}

/// Why a run stopped on its own.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration([String])
    case configurationDiffersAcrossRanks
    case tooManySkips(consecutive: Int, iteration: Int)
    case ranksDiverged(iteration: Int)
    case injectedFault(iteration: Int, rank: Int)

    public var description: String {
        switch self {
        case .invalidConfiguration(let p): return "invalid configuration: " + p.joined(separator: "; ")
        case .configurationDiffersAcrossRanks:
            return "the ranks were started with different configurations (check that every rank got the same arguments)"
        case .tooManySkips(let n, let it):
            return "\(n) consecutive meta-steps had a non-finite loss or meta-gradient (last at iteration \(it)); stopping"
        case .ranksDiverged(let it):
            return "φ differs between ranks at iteration \(it) (consistency check); stopping"
        case .injectedFault(let it, let r): return "injected fault at iteration \(it) on rank \(r)"
        }
    }
}
