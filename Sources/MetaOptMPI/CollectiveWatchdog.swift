import Foundation
import MetaOpt
import Synchronization

/// A deadline for every collective, so that a rank that stops (SIGSTOP, a hung file system, a
/// dead node whose connection never breaks) ends the job instead of leaving the others spinning in
/// MPI forever.
///
/// The collectives themselves stay the blocking MPI calls they were (the same algorithms, so the
/// same bits); a thread of its own wakes every `pollInterval` and, when the calling thread has been
/// inside one collective for longer than the deadline, prints which collective, during what
/// (`activity`, e.g. "meta-step 12") and for how long, then ends the process with status
/// `exitCode` (`_exit`: the calling thread is stuck inside MPI, so nothing else can run). A rank
/// that leaves without `MPI_Finalize` makes mpirun end every other rank of the job.
///
/// Which rank failed to arrive is not known to the ranks that wait (a collective does not say who
/// is missing), but every waiting rank prints its message and exits `reportGrace` seconds later:
/// the ranks that print none are the ones that did not arrive (or arrived more than that after the
/// first to print).
///
/// Deadline: `fixedTimeout` when set (0: no watchdog); else the activity's
/// (`RunActivity.automaticDeadline`: at least 60 s and 10 times the median step time once steps
/// are timed (`noteStep`), longer for a validation or a write, and 300 s before).
public final class CollectiveWatchdog: Sendable {
    /// Exit status of a rank that the watchdog ends.
    public static let exitCode: Int32 = 3
    /// Seconds between a rank's message and its exit, in which the other waiting ranks print
    /// theirs: ranks enter a collective at different times, so their deadlines pass apart.
    static let reportGrace = 3.0
    /// Steps whose durations the median is taken over (the most recent).
    static let window = 101

    private struct State {
        var fixedTimeout: Double?
        var activity = RunActivity.startUp
        var collective: String?
        var enteredAt: UInt64 = 0
        var stepSeconds: [Double] = []
        var started = false
    }

    private let state = Mutex(State())
    private let rank: Int
    /// How often the thread looks at the collective in progress.
    private let pollInterval: Double

    init(rank: Int, pollInterval: Double = 0.25) {
        self.rank = rank
        self.pollInterval = pollInterval
    }

    /// Sets a fixed deadline in seconds (0: none; nil: automatic).
    public func setTimeout(_ seconds: Double?) {
        state.withLock { $0.fixedTimeout = seconds }
    }

    /// What the job is doing, named in the message (e.g. "meta-step 12", "validation at meta-step
    /// 40"), and how long it may take (its deadline).
    public func setActivity(_ activity: RunActivity) {
        state.withLock { $0.activity = activity }
    }

    /// One meta-step took `seconds` (wall time on this rank): feeds the automatic deadline.
    public func noteStep(seconds: Double) {
        state.withLock {
            $0.stepSeconds.append(seconds)
            if $0.stepSeconds.count > Self.window { $0.stepSeconds.removeFirst() }
        }
    }

    /// The deadline now, in seconds; nil when disabled.
    public var deadline: Double? {
        state.withLock { Self.deadline(of: $0) }
    }

    private static func deadline(of s: State) -> Double? {
        if let fixed = s.fixedTimeout { return fixed > 0 ? fixed : nil }
        let sorted = s.stepSeconds.sorted()
        return s.activity.automaticDeadline(medianStep: sorted.isEmpty ? nil : sorted[sorted.count / 2])
    }

    /// Runs the collective `body` named `name` under the deadline.
    func guarding<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start: Bool = state.withLock { s in
            s.collective = name
            s.enteredAt = DispatchTime.now().uptimeNanoseconds
            defer { s.started = true }
            return !s.started
        }
        if start { startThread() }
        defer { state.withLock { $0.collective = nil } }
        return try body()
    }

    /// The thread holds the watchdog weakly and ends with it (a library user's communicators come
    /// and go; each kept a thread that looked forever).
    private func startThread() {
        let thread = Thread { [weak self] in
            // The kernel's name of the thread (top -H, gdb, /proc/PID/task/*/comm; 15 bytes at
            // most): Foundation keeps Thread.name to itself on Linux.
            let comm = open("/proc/thread-self/comm", O_WRONLY)
            if comm >= 0 {
                _ = "collective-wdog".withCString { write(comm, $0, strlen($0)) }
                close(comm)
            }
            var lastLook = DispatchTime.now().uptimeNanoseconds
            while let interval = self?.look(lastLook: &lastLook) {
                Thread.sleep(forTimeInterval: interval)
            }
        }
        thread.start()
    }

    /// One look at the collective in progress: ends the process past its deadline, else returns
    /// how long to sleep until the next look.
    private func look(lastLook: inout UInt64) -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        // A look much later than planned means this process itself was stopped (SIGSTOP, then
        // SIGCONT, which mpirun sends before ending a job): its wait says nothing about the other
        // ranks, so it starts again from now.
        let suspended = Double(now &- lastLook) / 1e9 > max(1, 4 * pollInterval)
        lastLook = now
        let verdict: (name: String, activity: String, waited: Double, deadline: Double)? = state.withLock { s in
            guard let name = s.collective, let deadline = Self.deadline(of: s) else { return nil }
            if suspended { s.enteredAt = now }
            // A collective entered after `now` was read has not waited at all (its enteredAt is
            // later: the unsigned difference would wrap).
            let waited = s.enteredAt >= now ? 0 : Double(now - s.enteredAt) / 1e9
            return waited > deadline ? (name, s.activity.name, waited, deadline) : nil
        }
        if let v = verdict {
            Console.error("metaopt-dist: rank \(rank): \(v.name) did not complete within \(formatSeconds(v.deadline)) (during \(v.activity); waited \(formatSeconds(v.waited))): another rank stopped or hangs; ending the job in \(formatSeconds(Self.reportGrace)) (the ranks that print this message arrived; one that prints none did not, or arrived more than \(formatSeconds(Self.reportGrace)) after this one; --collective-timeout sets the deadline)\n")
            // mpirun ends every rank as soon as one exits: the other ranks that wait get to
            // reach their own deadline (the first exit cut them off within a poll, and which
            // ranks printed was a race, so the message blamed ranks that had arrived).
            Thread.sleep(forTimeInterval: Self.reportGrace)
            _exit(Self.exitCode)
        }
        return pollInterval
    }
}

private func formatSeconds(_ s: Double) -> String {
    s >= 10 ? "\(Int(s.rounded())) s" : String(format: "%.1f s", s)
}
