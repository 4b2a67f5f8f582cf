import Foundation

/// What the process launcher (mpirun, srun, ...) told this process through its environment,
/// readable before MPI is initialised (for example to prefix log lines with the rank, or to know
/// whether the binary runs as an MPI singleton).
public struct LaunchEnvironment: Sendable, Equatable {
    /// Which launcher set the variables.
    public enum Launcher: String, Sendable, Equatable {
        /// Open MPI's mpirun / mpiexec (`OMPI_COMM_WORLD_*`).
        case openMPI
        /// A PMIx launcher such as `srun --mpi=pmix` (`PMIX_RANK`; size from `SLURM_NTASKS`).
        case pmix
        /// A PMI-1/2 launcher such as MPICH's Hydra (`PMI_RANK`, `PMI_SIZE`).
        case pmi
    }

    /// `nil` when the process was started directly (it will become an MPI singleton).
    public var launcher: Launcher?
    /// Rank in the world communicator, when the launcher tells it.
    public var rank: Int?
    /// Number of ranks in the job, when the launcher tells it.
    public var size: Int?
    /// Rank among the processes of this host, when the launcher tells it.
    public var localRank: Int?
    /// Number of the job's ranks on this host, when the launcher tells it.
    public var localSize: Int?

    /// Whether a launcher started this process (otherwise `MPI_Init` makes it a singleton).
    public var isLaunched: Bool { launcher != nil }

    public init(launcher: Launcher?, rank: Int?, size: Int?, localRank: Int?, localSize: Int? = nil) {
        self.launcher = launcher
        self.rank = rank
        self.size = size
        self.localRank = localRank
        self.localSize = localSize
    }

    /// Reads the launcher's variables from `environment`.
    public init(environment: [String: String]) {
        func int(_ key: String) -> Int? { environment[key].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        if let size = int("OMPI_COMM_WORLD_SIZE") {
            self.init(launcher: .openMPI, rank: int("OMPI_COMM_WORLD_RANK"), size: size,
                      localRank: int("OMPI_COMM_WORLD_LOCAL_RANK"), localSize: int("OMPI_COMM_WORLD_LOCAL_SIZE"))
        } else if let rank = int("PMIX_RANK") {
            self.init(launcher: .pmix, rank: rank, size: int("SLURM_NTASKS") ?? int("PMIX_SIZE"),
                      localRank: int("SLURM_LOCALID"))
        } else if let rank = int("PMI_RANK") {
            self.init(launcher: .pmi, rank: rank, size: int("PMI_SIZE"), localRank: int("MPI_LOCALRANKID"))
        } else {
            self.init(launcher: nil, rank: nil, size: nil, localRank: nil)
        }
    }

    /// The launch environment of this process as its variables are now. Note that Open MPI's
    /// singleton initialisation sets PMIx variables in the process's own environment, so after
    /// `MPI_Init` this may report a launcher that was not there: prefer `atLaunch`.
    public static var current: LaunchEnvironment {
        LaunchEnvironment(environment: ProcessInfo.processInfo.environment)
    }

    /// The launch environment as it was before MPI started (`MPIRuntime.initialize` reads it
    /// before calling `MPI_Init_thread`; otherwise the first access reads it).
    public static let atLaunch: LaunchEnvironment = current
}
