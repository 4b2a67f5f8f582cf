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

    /// A fresh run: φ from the architecture's initialisation with the run seed.
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

/// A deliberate failure, for testing fault handling only (see docs/checkpoints.md).
///
/// Text form `KIND@ITER:RANK[:ATTEMPT]`: rank RANK fails in the way KIND at the start of meta-step
/// ITER. Without ATTEMPT the fault fires in every process that reaches that meta-step, so a run
/// resumed from an earlier checkpoint with the same arguments fails again. With ATTEMPT it fires
/// only in that attempt of a restarted job: the attempt is `METAOPT_RESTART_COUNT`, which
/// launch/restart.sh sets (0 for the first launch, 1 for the first restart, ...; unset counts as 0).
package struct FaultInjection: Codable, Equatable, Sendable {
    package enum Kind: String, Codable, Sendable, CaseIterable {
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
    package var iteration: Int
    package var rank: Int
    package var kind: Kind
    /// Fire only in this attempt of a restarted job (nil: in every attempt).
    package var attempt: Int?

    /// The environment variable that numbers the attempts of a restarted job.
    package static let attemptVariable = "METAOPT_RESTART_COUNT"

    package init(iteration: Int, rank: Int, kind: Kind, attempt: Int? = nil) {
        self.iteration = iteration
        self.rank = rank
        self.kind = kind
        self.attempt = attempt
    }

    /// Parses `KIND@ITERATION:RANK[:ATTEMPT]`, e.g. `kill@12:1` or `kill@12:1:0`.
    package init?(parsing text: String) {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])) else { return nil }
        let fields = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 2 || fields.count == 3,
              let it = Int(fields[0]), let r = Int(fields[1]), it >= 0, r >= 0 else { return nil }
        var attempt: Int? = nil
        if fields.count == 3 {
            guard let a = Int(fields[2]), a >= 0 else { return nil }
            attempt = a
        }
        self.init(iteration: it, rank: r, kind: kind, attempt: attempt)
    }

    /// The attempt number in `environment` (`METAOPT_RESTART_COUNT`; 0 when unset or not a number).
    package static func attempt(environment: [String: String]) -> Int {
        environment[attemptVariable].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 0
    }

    /// Whether this fault is armed in attempt `attempt` of the job.
    package func applies(toAttempt attempt: Int) -> Bool {
        self.attempt == nil || self.attempt == attempt
    }
}

extension FaultInjection: CustomStringConvertible {
    /// The text form, `KIND@ITER:RANK[:ATTEMPT]`.
    package var description: String {
        "\(kind.rawValue)@\(iteration):\(rank)" + (attempt.map { ":\($0)" } ?? "")
    }
}

/// Why a run stopped on its own.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration([String])
    /// `differences`: how this rank's settings differ from rank 0's ("--learning-rate 0.01 here,
    /// 0.003 on rank 0"); empty on a rank that agrees with rank 0 while another does not.
    case configurationDiffersAcrossRanks(differences: [String])
    case dataDiffersAcrossRanks
    case tooManySkips(consecutive: Int, iteration: Int)
    case ranksDiverged(iteration: Int)
    case injectedFault(iteration: Int, rank: Int)
    /// `step()` after the configured meta-steps (`finished`): it would train φ past the run's end.
    case alreadyFinished(iterations: Int)

    public var description: String {
        switch self {
        case .invalidConfiguration(let p): return "invalid configuration: " + p.joined(separator: "; ")
        case .configurationDiffersAcrossRanks(let differences):
            return "the ranks were started with different configurations (check that every rank got the same arguments)"
                + (differences.isEmpty ? "; the ranks that differ from rank 0 say how" : ": " + differences.joined(separator: "; "))
        case .dataDiffersAcrossRanks:
            return "the ranks read different data: the data set's files differ between hosts (give every host the same copy)"
        case .tooManySkips(let n, let it):
            return "\(n) consecutive meta-steps had a non-finite loss or meta-gradient, or an Adam step past Float's range (last at iteration \(it)); stopping (a smaller --learning-rate or --output-scale, or --clip-norm, may help)"
        case .ranksDiverged(let it):
            return "φ differs between ranks at iteration \(it) (consistency check); stopping"
        case .injectedFault(let it, let r): return "injected fault at iteration \(it) on rank \(r)"
        case .alreadyFinished(let n):
            return "the run has taken its \(n) meta-steps (finished is true); raise the configuration's iterations to train on"
        }
    }
}
