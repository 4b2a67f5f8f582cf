import Foundation

/// Early stopping as in the paper (§3): every so often φ is frozen and scored on validation
/// functions, and the best-scoring φ is kept beside the final one.
public struct ValidationConfig: Codable, Hashable, Sendable {
    /// Score φ at the first horizon boundary at or after every multiple of this many meta-steps
    /// (and at meta-step 0 of a fresh run, and at the run's last horizon boundary).
    public var every: Int
    /// Validation functions; each is optimised for one horizon from its θ₀ and scored by its
    /// final loss.
    public var functions: Int
    /// Seed of the validation functions: keys (seed, 0, i). Must differ from the training seed.
    public var seed: UInt64

    public init(every: Int, functions: Int, seed: UInt64) {
        self.every = every
        self.functions = functions
        self.seed = seed
    }

    /// Whether the horizon boundary at `iteration`, the one after the boundary at `previous`, is a
    /// validation point: the first boundary at or after a multiple of `every`. The previous
    /// boundary, not a horizon's length back: a skipped meta-step ends its horizon early, and
    /// looking back a whole horizon from there found the multiple that the boundary before had
    /// validated already (validations at 5 and 7 for --validate-every 5). A resumed run's
    /// checkpoint is the boundary before its first one; whether the checkpoint's own boundary was
    /// a validation point is read from validation.jsonl (`ValidationLog.validatesAtResume`).
    /// The run's last boundary is one too: the one with no whole horizon between it and the last
    /// meta-step `lastIteration` (that meta-step itself when it ends a horizon), so that the best
    /// φ is never much older than the last (a run shorter than `every` would keep its start, and a
    /// run of 21 meta-steps with 5 per horizon its meta-step 0 instead of 20). After a skip ends a
    /// horizon early, a later boundary may come before `lastIteration`; it is scored too.
    public func isDue(atBoundary iteration: Int, previous: Int, lastIteration: Int, truncationsPerHorizon: Int) -> Bool {
        iteration > 0 && (iteration / every > previous / every || iteration + truncationsPerHorizon > lastIteration)
    }

    /// The validation seed of a run that names none: the run seed + 2000003 (wrapping), so that
    /// it differs from the run seed and from the seeds of runs numbered 1, 2, 3, … near it.
    public static func defaultSeed(trainingSeed: UInt64) -> UInt64 { trainingSeed &+ 2_000_003 }

    func problems(trainingSeed: UInt64) -> [String] {
        var p: [String] = []
        if every < 1 { p.append("the validation interval must be positive (got \(every))") }
        if functions < 1 { p.append("the number of validation functions must be positive (got \(functions))") }
        if seed == trainingSeed { p.append("the validation seed must differ from the training seed (\(seed))") }
        return p
    }
}

/// One validation score of φ, stored in the best-optimizer file.
public struct ValidationScore: Codable, Equatable, Sendable {
    /// Meta-steps done when φ was scored.
    public var iteration: Int
    /// Mean over the validation functions of the final loss (+∞ when one diverged); for a mixture
    /// or a run with `lossNormalization`, of the final loss over the function's initial loss.
    public var meanFinalLoss: Double
    public var functions: Int
    public var seed: UInt64
}

/// Scores φ on the validation functions, spread over the ranks: rank r scores functions
/// r, r + size, …, each alone (one engine per function, so its loss does not depend on which
/// rank runs it), and one SUM allreduce of a vector with one slot per function gathers them
/// exactly (every slot has one non-zero contribution). Every rank returns the same mean.
///
/// A stop request is honoured within a step: a rank whose stop condition turns true abandons its
/// function, and after each round (every rank's k-th function, ⌈functions / size⌉ rounds on
/// every rank) a one-value MAX allreduce tells every rank whether any stopped, so all abandon the
/// validation together and none is left waiting in a collective.
final class ValidationScorer {
    let config: ValidationConfig
    let optimizer: LearnedOptimizerConfig
    let steps: Int
    /// Score each function by its final loss over its initial loss f(θ₀), as a mixture's validation
    /// set needs (its families' losses differ by orders of magnitude) and as a run that normalises
    /// its meta-loss trains for.
    let normalized: Bool
    private let owned: [(index: Int, function: any Optimizee)]
    /// Functions of the rank that scores the most (rank 0): the rounds every rank takes part in.
    private let rounds: Int

    /// Every rank must build its scorer at the same point: the ranks compare the validation
    /// data's fingerprint in a collective.
    init(config: ValidationConfig, training: TrainingConfig, communicator: any Communicator) throws {
        self.config = config
        optimizer = training.optimizer
        steps = training.horizon
        normalized = training.task.settings is MixtureTask || training.lossNormalization != nil
        // The task as it is: augmentations belong to meta-training only.
        let family = try training.task.makeFamily()
        // The score sums every rank's share of the functions: a host with another copy of the
        // data would change it without a sign. Checked apart from the training data's family, as
        // this family is made on its own.
        guard try communicator.allAgree(on: family.dataFingerprint ?? 0) else {
            throw TrainingError.dataDiffersAcrossRanks
        }
        let (rank, size) = (communicator.rank, communicator.size)
        owned = stride(from: rank, to: config.functions, by: size).map {
            ($0, family.sample(RandomKey(seed: config.seed, horizon: 0, task: $0)))
        }
        rounds = (config.functions + size - 1) / size
    }

    /// The mean final loss of `phi` (the same on every rank), or nil on every rank when some rank's
    /// `stopRequested` turned true before the validation was complete. Every rank must call it.
    func meanFinalLoss(phi: [Float], communicator: any Communicator,
                       stopRequested: @escaping () -> Bool = { false }) throws -> Double? {
        var finals = [Double](repeating: 0, count: config.functions)
        let learned = LearnedOptimizer(config: optimizer, phi: phi, maxCoordinatesPerBatch: 1)
        var stopped = false
        for round in 0..<rounds {
            if round < owned.count && !stopped {
                let (index, function) = owned[round]
                if let curve = try learned.run(on: [function], steps: steps, stopWhen: stopRequested)?[0] {
                    var final = Double(curve.last!)
                    // A mixture's functions draw one component each (MixtureFamily with one function per draw).
                    if normalized, curve[0] > 0, curve[0].isFinite { final /= Double(curve[0]) }
                    finals[index] = final.isFinite ? final : .infinity
                } else {
                    stopped = true
                }
            }
            // A rank without a function this round (or that finished early) may have been asked too.
            if !stopped && stopRequested() { stopped = true }
            var anyStopped: [Int64] = [stopped ? 1 : 0]
            try communicator.allreduce(&anyStopped, .max)
            if anyStopped[0] > 0 { return nil }
        }
        try communicator.allreduce(&finals, .sum)
        return finals.reduce(0, +) / Double(config.functions)
    }
}

/// RUN_DIR/validation.jsonl: one `ValidationLine` per validation.
enum ValidationLog {
    /// The lowest finite score in a log's lines and its meta-step (the first of equal scores, as
    /// the run flags them), nil when there is none; lines that are not validation lines are ignored.
    static func best(in data: Data) -> (iteration: Int, meanFinalLoss: Double)? {
        scores(in: data).compactMap { score in score.meanFinalLoss.map { (score.iteration, $0) } }
            .min { $0.meanFinalLoss < $1.meanFinalLoss }
    }

    /// A log's validation lines, in the order written; other lines are ignored.
    static func scores(in data: Data) -> [TrainingLog.Validation] {
        let decoder = JSONDecoder()
        return data.split(separator: UInt8(ascii: "\n")).compactMap { line in
            try? decoder.decode(TrainingLog.Validation.self, from: Data(line))
        }
    }

    /// Whether a run resumed at the horizon boundary `iteration`, whose log holds the lines up to
    /// it, validates before its first meta-step: when that boundary is a validation point without
    /// a score (a stop during its validation abandoned it).
    ///
    /// The boundary before the checkpoint's is not recorded, and a skipped meta-step may have
    /// ended the checkpoint's horizon early, so a horizon back may be wrong. The last score before
    /// `iteration` stands in for it exactly: no multiple of `every` lies between that score and the
    /// previous boundary, or the first boundary at or after that multiple would have been
    /// validated and logged too. Only a log that lost its earlier lines falls back to a horizon back.
    static func validatesAtResume(_ iteration: Int, validation: ValidationConfig, truncationsPerHorizon: Int,
                                  lastIteration: Int, in data: Data) -> Bool {
        let scored = scores(in: data).map(\.iteration)
        if scored.contains(iteration) { return false }
        if iteration == 0 { return true }  // a fresh run scores its starting φ
        let previous = scored.filter { $0 < iteration }.max() ?? iteration - truncationsPerHorizon
        return validation.isDue(atBoundary: iteration, previous: previous, lastIteration: lastIteration,
                                truncationsPerHorizon: truncationsPerHorizon)
    }
}
