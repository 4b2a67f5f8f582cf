package struct CheckpointResumeError: Error, CustomStringConvertible {
    package var message: String
    /// True when every rank threw this error at the same point (after agreeing through a
    /// collective), so that no rank is left waiting in a collective and the job may end without
    /// `MPI_Abort`.
    package var onEveryRank: Bool
    /// True when a restart would meet the same refusal (another configuration, a checkpoint past
    /// --iterations, no usable checkpoint, ranks with different arguments), so that
    /// launch/restart.sh does not retry it; false where a retry may succeed (the run directory
    /// locked by another run, a disk that was full).
    package var repeatsOnRestart: Bool
    package init(message: String, onEveryRank: Bool = false, repeatsOnRestart: Bool = false) {
        self.message = message
        self.onEveryRank = onEveryRank
        self.repeatsOnRestart = repeatsOnRestart
    }
    package var description: String { message }
}
