import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGTERM, SIGINT or SIGUSR1; the training loop finishes the current horizon, checkpoints
/// and exits with status 0 (a validation in progress is abandoned within a step). More signals change nothing (use SIGKILL to end a process at once): a
/// wrapper that forwards a signal its child also got from the terminal must not turn one request
/// into an abrupt kill.
let stopSignalReceived = Atomic<Bool>(false)

/// The signals that ask for a clean stop. SIGUSR1 is there for Open MPI's mpirun, which forwards
/// SIGUSR1 and SIGUSR2 to every rank unchanged but answers SIGTERM and SIGINT by killing the job
/// itself: SIGCONT, then SIGTERM after `odls_base_sigkill_timeout` seconds (default 1), then SIGKILL
/// after as long again, and exit status 1 (docs/checkpoints.md, "Stopping a run").
let stopSignals: [Int32] = [SIGTERM, SIGINT, SIGUSR1]

/// The notice written when the rank's parent, Open MPI's daemon (mpirun, or orted on other hosts),
/// sends SIGTERM: its own way of ending the job, after Ctrl-C or SIGTERM to mpirun or when another
/// rank ended (the signal does not tell which), with SIGKILL about a second later, which a horizon
/// longer than that does not survive; rank 0's "finishing the current horizon" log line came after
/// the next meta-step, if at all. nil: no notice.
nonisolated(unsafe) private var launcherKillNotice: UnsafeBufferPointer<UInt8>?

enum StopSignals {
    /// Installs the handler of `stopSignals`, which sets `stopSignalReceived`; with
    /// `noticeLauncherKill` (rank 0 under Open MPI's mpirun) it also writes
    /// `launcherKillNotice` at once for a SIGTERM from the parent (write(2) is async-signal-safe;
    /// a SIGTERM from anyone else, `kill -TERM RANK_PID`, stops the run cleanly and says nothing).
    static func install(noticeLauncherKill: Bool) {
        if noticeLauncherKill {
            let text = "metaopt-dist: mpirun is ending the job (after Ctrl-C or SIGTERM to mpirun, or because another rank ended: see mpirun's message): it kills the ranks about a second after this, so unless the current horizon ends first, the meta-steps since the newest checkpoint are lost (a rerun resumes from it); to stop at a checkpoint, send SIGUSR1 to mpirun instead of SIGTERM or Ctrl-C, or run under launch/restart.sh --stop-signal USR1 (docs/checkpoints.md, \"Stopping a run\")\n"
            let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: text.utf8.count)
            _ = bytes.initialize(from: text.utf8)
            launcherKillNotice = UnsafeBufferPointer(bytes)
        }
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = { signal, info, _ in
            let first = !stopSignalReceived.exchange(true, ordering: .relaxed)
            if first, signal == SIGTERM, let notice = launcherKillNotice, let info,
               info.pointee._sifields._kill.si_pid == getppid() {
                let saved = errno  // the interrupted code may be about to read its own
                _ = write(STDERR_FILENO, notice.baseAddress, notice.count)
                errno = saved
            }
        }
        // SA_RESTART as signal() sets it: a file write or a wait the signal interrupts goes on.
        action.sa_flags = SA_SIGINFO | SA_RESTART
        sigemptyset(&action.sa_mask)
        for s in stopSignals { sigaction(s, &action, nil) }
    }
}
