import Foundation

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
        /// Sleep 60 s: a meta-step longer than mpirun's kill after Ctrl-C (a SIGTERM, SIGKILL a
        /// second later), which only the last horizon boundary's checkpoint survives.
        case stall
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
