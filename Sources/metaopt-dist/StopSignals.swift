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

/// Whether the stop was asked by SIGUSR1, the stop that launch/slurm.sbatch continues by
/// requeueing its job (SIGTERM and SIGINT stop it for good: `METAOPT_STOPPED_FILE`).
let stopSignalWasUSR1 = Atomic<Bool>(false)

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
/// Posted by the handler after the notice (sem_post is async-signal-safe), for the thread that
/// then writes the last horizon boundary's checkpoint. nil: no such thread.
nonisolated(unsafe) private var launcherKillSemaphore: UnsafeMutablePointer<sem_t>?
/// Whether mpirun's SIGTERM was answered (the notice and the checkpoint come once).
private let launcherKillSeen = Atomic<Bool>(false)

enum StopSignals {
    /// Installs the handler of `stopSignals`, which sets `stopSignalReceived`. With
    /// `noticeLauncherKill` (rank 0 under Open MPI's mpirun), a SIGTERM from the parent also writes
    /// `launcherKillNotice` at once (write(2) is async-signal-safe) and runs `onLauncherKill` on a
    /// thread of its own, while the main thread may be inside a meta-step (rank 0 writes the last
    /// horizon boundary's checkpoint there). A SIGTERM from anyone else, `kill -TERM RANK_PID`,
    /// stops the run cleanly and does neither.
    static func install(noticeLauncherKill: Bool, onLauncherKill: (@Sendable () -> Void)? = nil) {
        if noticeLauncherKill {
            let text = "metaopt-dist: mpirun is ending the job (after Ctrl-C or SIGTERM to mpirun, or because another rank ended: see mpirun's message): it kills the ranks about a second after this; rank 0 writes the last horizon boundary as a checkpoint, and the meta-steps after it are lost unless the current horizon ends first (a rerun resumes from the newest checkpoint); to stop at the end of the horizon, send SIGUSR1 to mpirun instead of SIGTERM or Ctrl-C, or run under launch/restart.sh --stop-signal USR1 (docs/checkpoints.md, \"Stopping a run\")\n"
            let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: text.utf8.count)
            _ = bytes.initialize(from: text.utf8)
            launcherKillNotice = UnsafeBufferPointer(bytes)
            if let onLauncherKill {
                let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
                sem_init(semaphore, 0, 0)
                launcherKillSemaphore = semaphore
                Thread {
                    waitForLauncherKill()
                    onLauncherKill()
                }.start()
            }
        }
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = { signal, info, _ in
            stopSignalReceived.store(true, ordering: .relaxed)
            if signal == SIGUSR1 { stopSignalWasUSR1.store(true, ordering: .relaxed) }
            // Once, whatever came before: a SIGUSR1 stop under way when Ctrl-C follows (its
            // horizon too long to wait for) must not keep mpirun's kill from being answered.
            if signal == SIGTERM, let notice = launcherKillNotice, let info,
               info.pointee._sifields._kill.si_pid == getppid(),
               !launcherKillSeen.exchange(true, ordering: .relaxed) {
                let saved = errno  // the interrupted code may be about to read its own
                _ = write(STDERR_FILENO, notice.baseAddress, notice.count)
                if let semaphore = launcherKillSemaphore { sem_post(semaphore) }
                errno = saved
            }
        }
        // SA_RESTART as signal() sets it: a file write or a wait the signal interrupts goes on.
        action.sa_flags = SA_SIGINFO | SA_RESTART
        sigemptyset(&action.sa_mask)
        for s in stopSignals { sigaction(s, &action, nil) }
    }

    private static func waitForLauncherKill() {
        guard let semaphore = launcherKillSemaphore else { return }
        while sem_wait(semaphore) != 0 {}  // EINTR: a signal, perhaps this one, interrupted it
    }
}
