/// What a training run is doing, for the deadline of its collectives (the watchdog of
/// MetaOptMPI): its name in messages ("meta-step 12"), and how long it may keep one rank from the
/// next collective while the others wait in it.
public struct RunActivity: Sendable, Equatable, CustomStringConvertible {
    /// Named in the watchdog's message: "meta-step 12", "validation at meta-step 40".
    public var name: String
    /// As long as this many meta-steps: a validation scores one function's whole horizon per round
    /// (horizon / unroll truncations, of a whole function where a meta-step has a shard of one),
    /// which on a large function took past the 60 s floor and ended healthy jobs.
    public var steps: Double
    /// At least this many seconds: rank 0 writes a checkpoint or the optimizer file alone, which
    /// for a large φ takes longer than any meta-step.
    public var seconds: Double

    public init(_ name: String, steps: Double = 1, seconds: Double = 0) {
        self.name = name
        self.steps = steps
        self.seconds = seconds
    }

    public var description: String { name }

    /// The smallest automatic deadline once meta-steps are timed, in seconds.
    public static let floor = 60.0
    /// The automatic deadline before the first meta-step is timed: start-up reads checkpoints and
    /// data sets, and may score the first validation, with no step time to go by.
    static let startupDeadline = 300.0
    /// The largest write of one file takes at most this long: the readers refuse checkpoints past
    /// 1 GiB, and a slow disk writes 5 MB/s.
    public static let writeDeadline = startupDeadline

    /// What a run does before its first meta-step once its logs are read (the watchdog's first
    /// activity too).
    public static let startUp = RunActivity("start-up")

    /// Rank 0 reading a run's logs of `bytes` at a resume (it decodes every line: about 14 MB/s on a
    /// busy 2-core machine, so 2 MB/s leaves room), after the start-up deadline's own work.
    public static func readingLogs(bytes: Int) -> RunActivity {
        RunActivity("start-up (rank 0 reads the run's logs, \(bytes) bytes)", seconds: startupDeadline + Double(max(bytes, 0)) / 2e6)
    }

    /// The automatic deadline of a collective during this activity: `startupDeadline` before a
    /// meta-step is timed (`medianStep` nil), else 10 times `steps` median meta-steps, and never
    /// less than `floor` or `seconds`.
    public func automaticDeadline(medianStep: Double?) -> Double {
        guard let medianStep else { return max(Self.startupDeadline, seconds) }
        return max(Self.floor, seconds, 10 * medianStep * steps)
    }
}
