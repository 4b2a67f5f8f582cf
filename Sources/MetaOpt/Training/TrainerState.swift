import Foundation

/// The integer state of a run besides φ and the Adam moments. This one `Codable` value is what
/// checkpoints store (`TrainerCheckpoint`), what rank 0 broadcasts (`MetaTrainer.broadcast`) and
/// what the resume log reports, so a new counter is one property here plus its use; a checkpoint
/// that lacks it fails to load with an error that names it.
public struct TrainerCounters: Codable, Equatable, Sendable {
    /// Meta-steps done (including skipped ones).
    public var iteration = 0
    /// Index of the current functions; part of every task's random key.
    public var horizon = 0
    /// Truncations done within the current horizon.
    public var truncation = 0
    /// Adam steps taken on φ (t in Adam's bias corrections; skipped meta-steps take none).
    public var adamStep = 0
    /// Meta-steps skipped because some rank saw a non-finite loss or gradient.
    public var skippedSteps = 0
    public var consecutiveSkips = 0

    public init() {}

    /// What no run writes: a counter below zero, or more horizons, Adam steps or skips than
    /// meta-steps (each meta-step takes one Adam step or is skipped; a skip starts a horizon).
    /// Such values would trap when the random keys are made, or train past the run's end.
    package var problem: String? {
        if iteration < 0 { return "meta-step \(iteration)" }
        for (name, value) in [("horizon", horizon), ("adamStep", adamStep), ("skippedSteps", skippedSteps)]
        where value < 0 || value > iteration {
            return "\(name) \(value) at meta-step \(iteration) (from 0 to the meta-step)"
        }
        if consecutiveSkips < 0 || consecutiveSkips > skippedSteps {
            return "consecutiveSkips \(consecutiveSkips) with \(skippedSteps) skipped steps"
        }
        return nil
    }
}

/// Everything a meta-training run needs to continue exactly from a horizon boundary: φ, the Adam
/// moments and the counters. Plain values, so it can be broadcast and checkpointed. The counters
/// read and write as if they were the state's own properties (`state.iteration`).
@dynamicMemberLookup
public struct TrainerState: Codable, Equatable, Sendable {
    /// Meta-step, horizon, truncation, Adam step and skip counts.
    public var counters: TrainerCounters
    /// The learned optimizer's weights, one flat buffer in `ParameterLayout` order (what an
    /// optimizer file's `phi` holds).
    public var phi: [Float]
    /// Adam's moments for φ, of φ's size.
    public var adam: AdamState

    /// A fresh run: φ from the architecture's initialisation with the run seed. Traps, naming the
    /// problems, where `config.optimizer.problems()` is not empty (`MetaTrainer` throws for such a
    /// configuration: check it first when starting from a state of your own).
    public init(config: TrainingConfig) {
        let architecture = config.optimizer.architecture
        phi = architecture.initialParameters(key: RandomKey(seed: config.seed, horizon: 0, task: 0))
        adam = AdamState(count: architecture.parameterCount)
        counters = TrainerCounters()
    }

    /// A counter read or written as the state's own property: `state.iteration` is
    /// `state.counters.iteration`.
    public subscript(dynamicMember counter: WritableKeyPath<TrainerCounters, Int>) -> Int {
        get { counters[keyPath: counter] }
        set { counters[keyPath: counter] = newValue }
    }

    /// True at the start of a horizon, where a checkpoint needs no optimizee state.
    public var atHorizonBoundary: Bool { counters.truncation == 0 }

    /// Why this state cannot continue a run of `config`, one sentence each (empty: it can): φ
    /// and the Adam moments of the architecture's size, finite, the second moment not negative,
    /// counters that a run writes (`TrainerCounters.problem`), at a horizon boundary (no
    /// optimizee state is kept). A state from a checkpoint or a file of the user's is checked
    /// here rather than trapping in the first Adam step or training past the run's end.
    package func problems(for config: TrainingConfig) -> [String] {
        var problems: [String] = []
        let needed = config.optimizer.architecture.parameterCount
        let arrays = [("φ", phi), ("Adam's first moment", adam.firstMoment), ("Adam's second moment", adam.secondMoment)]
        for (name, values) in arrays where values.count != needed {
            problems.append("\(name) has \(values.count) values, this configuration needs \(needed)")
        }
        for (name, values) in arrays {
            if let index = values.firstIndex(where: { !$0.isFinite }) { problems.append("\(name) holds \(values[index]) at index \(index)") }
        }
        if let index = adam.secondMoment.firstIndex(where: { $0 < 0 }) {
            problems.append("Adam's second moment is negative at index \(index)")
        }
        if let problem = counters.problem { problems.append("the counters do not fit together: \(problem)") }
        if counters.truncation != 0 {
            problems.append("it is inside a horizon (truncation \(counters.truncation)); only a state at a horizon boundary (truncation 0) can be continued")
        }
        return problems
    }
}
