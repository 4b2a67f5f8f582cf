import Foundation
import Synchronization

/// Rank 0's checkpoint writes, shared by the training loop and one other thread.
///
/// The loop writes checkpoints at horizon boundaries (`write`) and notes every boundary it passes
/// (`passed`). `writeLastBoundary` is for the moment mpirun is about to kill the job: after Ctrl-C
/// it sends SIGTERM and SIGKILL a second later, which a horizon longer than that does not survive,
/// so every meta-step since the newest checkpoint (up to `--checkpoint-every` and a horizon) was
/// lost; it writes the newest boundary passed when no checkpoint holds it, from the thread that
/// waits for that signal, while the loop is inside a meta-step. One lock around both kinds of
/// write, so that they never write (or prune the store) at once.
///
/// Before each write the run's logs (metrics.jsonl, validation.jsonl) are fsynced: their lines up
/// to the checkpoint were appended before it, and a power loss that kept the checkpoint but not
/// them left a gap in the log that the resume cannot redo (it redoes only what follows).
package final class BoundaryCheckpointer: Sendable {
    private struct Shared {
        /// The newest horizon boundary the loop passed (nil: none in this process).
        var boundary: TrainerState?
        /// The meta-step of the newest checkpoint on disk (nil: none).
        var written: Int?
    }

    private let shared: Mutex<Shared>
    private let store: CheckpointStore
    private let config: TrainingConfig
    private let provenance: Provenance
    private let trainedKernels: String
    /// The run directory's lock: no checkpoint goes to a directory that was moved (a new run may
    /// have started at the old path) (`RunLock.checkInPlace`).
    private let lock: RunLock?
    /// The logs whose appended lines must be on disk before a checkpoint is.
    private let logs: [URL]

    /// `written`: the meta-step of the checkpoint the run resumed from, if any.
    init(store: CheckpointStore, config: TrainingConfig, provenance: Provenance, trainedKernels: String, lock: RunLock?,
         logs: [URL], written: Int?) {
        shared = Mutex(Shared(boundary: nil, written: written))
        self.store = store
        self.lock = lock
        self.logs = logs
        self.config = config
        self.provenance = provenance
        self.trainedKernels = trainedKernels
    }

    /// Notes a horizon boundary the loop passed: the state there.
    func passed(_ state: TrainerState) {
        shared.withLock { $0.boundary = state }
    }

    /// Writes `state` (at a horizon boundary) as its meta-step's checkpoint.
    func write(_ state: TrainerState) throws -> CheckpointStore.WriteResult {
        try shared.withLock { try write(state, noting: &$0) }
    }

    /// Writes the newest horizon boundary passed when it is newer than the newest checkpoint, and
    /// returns its meta-step (nil: nothing newer, or the write failed, which `failure` describes).
    package func writeLastBoundary() -> (step: Int?, failure: String?) {
        shared.withLock { shared in
            guard let state = shared.boundary, state.iteration > shared.written ?? -1 else { return (nil, nil) }
            do {
                _ = try write(state, noting: &shared)
            } catch {
                return (nil, "\(error)")
            }
            return (state.iteration, nil)
        }
    }

    /// Both writes, holding the lock: into the run directory only where it still is, and noting
    /// the newest meta-step on disk.
    private func write(_ state: TrainerState, noting shared: inout Shared) throws -> CheckpointStore.WriteResult {
        try lock?.checkInPlace()
        syncLogs()
        let result = try store.write(TrainerCheckpoint.make(state, config: config, provenance: provenance, trainedKernels: trainedKernels),
                                     step: state.iteration)
        shared.written = max(shared.written ?? state.iteration, state.iteration)
        return result
    }

    /// fsyncs each log through a descriptor of its own (the appender's may be closed by then on
    /// the other thread). A log that is missing or cannot be synced does not stop the checkpoint,
    /// which is worth more.
    private func syncLogs() {
        for log in logs { try? FileIO.syncFile(log.path) }
    }
}
