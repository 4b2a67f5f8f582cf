import ArgumentParser
import Foundation
import Logging
import MetaOpt

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Options every subcommand that runs a job shares (`@OptionGroup var runOptions: RunOptions`).
struct RunOptions: ParsableArguments {
    @Flag(name: [.customShort("v"), .long],
          help: "Log at debug level on every rank (stderr, lines prefixed with [rank R]; --log-level sets rank 0's). Without it rank 0 logs at info and the other ranks only warnings and errors.")
    var verbose = false

    @Option(name: .long,
            help: ArgumentHelp("Log level of rank 0; the other ranks log warnings and errors (with --verbose, debug), and this level too where it is error or critical (fewer lines) or, with --verbose, trace (more).",
                               valueName: Logger.Level.allCases.map(\.rawValue).joined(separator: "|")))
    var logLevel: Logger.Level?

    @Option(help: ArgumentHelp("Seconds a rank may wait in one collective before it ends the job, naming the collective and the meta-step (0: wait forever; else at least 1). Default: 10 × the median meta-step time, at least 60 s; 300 s before the first meta-step, plus 1 s per 2 MB of the logs a resume reads; longer for a validation (horizon ÷ unroll meta-steps' time) and at least 300 s for rank 0's writes.",
                               valueName: "seconds"))
    var collectiveTimeout: Double?

    @OptionGroup var memory: MemoryLimitOptions

    func validate() throws {
        // Under a second the deadline says nothing about another rank (the watchdog looks four
        // times a second; a rank's own collective may take that long): 1e-9 ended one-rank jobs.
        if let t = collectiveTimeout, !(t == 0 || (t >= 1 && t <= 1e7)) {
            throw ValidationError("--collective-timeout must be 0 (no deadline) or between 1 and 1e7 seconds (got \(t))")
        }
    }

    func memoryLimit() -> (bytes: Int, source: String?) { memory.memoryLimit() }
    func addressSpaceProblem() -> String? { memory.addressSpaceProblem() }

    /// The level `rank` logs at under these options.
    func logLevel(rank: Int) -> Logger.Level {
        RankLogSettings.level(rank: rank, verbose: verbose, requested: logLevel)
    }
}

/// --max-memory, which train and evaluate share.
struct MemoryLimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Memory one process may use, in GiB: train (per rank) and evaluate refuse a configuration whose estimated memory exceeds it (status 64). Default: the machine's memory, or the memory limit of the process's cgroup (Slurm's --mem, docker's --memory) where that is less, divided by the job's ranks on this host (as mpirun, srun or MPICH's mpiexec tell them; all of it for a process started without a launcher, such as evaluate), and at most what the process's address-space limit (ulimit -v or -d) leaves.",
                               valueName: "GiB"))
    var maxMemory: Double?

    func validate() throws {
        if let m = maxMemory, !(m > 0 && m <= Double(1 << 30)) {
            throw ValidationError("--max-memory must be a positive number of GiB, at most 2^30 = 1073741824 (got \(m))")
        }
    }

    /// Why the process cannot start at all under its address-space limit (nil: it can, or
    /// --max-memory overrides the limits): checked before a data set is read, which a tight
    /// limit already fails with a trap.
    func addressSpaceProblem() -> String? {
        guard maxMemory == nil, let room = ProcessMemory.addressSpaceRoom, room < 64 << 20 else { return nil }
        return "the process's address-space limit (ulimit -v or -d) leaves \(String(format: "%.3g", Double(room) / 1_073_741_824)) GiB beyond what it has mapped and a reserve for its libraries' buffers: raise it, or give --max-memory to run anyway"
    }

    /// The bytes one process may use: --max-memory, or the machine's memory (its cgroup's limit
    /// where less: a run past it is killed, not refused) shared by the job's ranks on this host
    /// (`HostRanks`: mpirun's, srun's or Hydra's count; 1 for a process no launcher started).
    /// Less where the process's address-space or data limit (`ulimit -v`, `-d`) leaves less room
    /// (`ProcessMemory.addressSpaceRoom`): past it an allocation ends the process with a trap.
    /// `source` says so in a refusal then (nil: the limit above).
    func memoryLimit() -> (bytes: Int, source: String?) {
        // Rounded, so that the message gives back the limit as written (0.000001, not 9.99e-07).
        if let m = maxMemory { return (Int(min((m * 1_073_741_824).rounded(), Double(Int.max / 2))), nil) }
        let localRanks = HostRanks.count(environment: ProcessInfo.processInfo.environment)
        let shared = Int(min(CgroupMemory.usable / UInt64(max(localRanks, 1)), UInt64(Int.max)))
        if let room = ProcessMemory.addressSpaceRoom, room < shared {
            return (room, "what the process's address-space limit (ulimit -v or -d) leaves")
        }
        return (shared, nil)
    }
}
