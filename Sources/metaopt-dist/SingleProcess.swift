import MetaOptMPI

/// evaluate, export, plot and bench run in one process. Started as several ranks (`mpirun -np 4
/// metaopt-dist evaluate …`, srun), every rank did the whole work again and wrote the same files,
/// and bench timed processes that shared the cores: refused in their `validate()`.
enum SingleProcess {
    /// The refusal for `command` when a launcher started this process as one of several ranks.
    static func problem(command: String) -> String? {
        guard let size = LaunchEnvironment.atLaunch.size, size > 1 else { return nil }
        return "\(command) runs in one process, but was started as one of \(size) ranks (mpirun or srun), each of which would do "
            + "the same work and write the same files: run it without mpirun (train is the command that spreads over ranks)"
    }
}
