import Foundation
import MetaOpt

/// How to start a job like this one again: the words before the program's name in a command
/// printed for the user, such as a stopped run's "resume with: mpirun -np 4 metaopt-dist train
/// --config …". A job of 4 ranks resumed by the program's name alone would continue on one rank.
package struct RelaunchCommand: Sendable, Equatable {
    /// Shell words that start the program: before its name (`mpirun -np 4`), or in its place
    /// when `startsTheProgram` (a launch script's `bash launch/local.sh -np 4`); empty for a
    /// process started directly.
    package var prefix: String
    /// Whether `prefix` runs the program itself, so that its name does not follow.
    package var startsTheProgram: Bool
    /// A line to print before the command where the prefix cannot say everything (ranks placed
    /// on several hosts by options the process never sees).
    package var caveat: String?

    package init(prefix: String, startsTheProgram: Bool = false, caveat: String? = nil) {
        self.prefix = prefix
        self.startsTheProgram = startsTheProgram
        self.caveat = caveat
    }

    /// The command line that runs `program` with `arguments` (both already shell-quoted) this way.
    package func command(program: String, arguments: String) -> String {
        if startsTheProgram { return prefix + " " + arguments }
        return prefix.isEmpty ? program + " " + arguments : prefix + " " + program + " " + arguments
    }
}

extension LaunchEnvironment {
    /// The variable through which a launch script gives the command that starts it again as it
    /// was started, from the directory the program runs in (launch/local.sh: `bash
    /// launch/local.sh -np 4`): it says more than the launcher's variables can (the hostfile, the
    /// settings the script read from the environment), and it runs the program itself.
    package static let relaunchVariable = "METAOPT_RELAUNCH"

    /// The variables that choose the kernels that compute φ (launch/common.sh forwards the same).
    static let kernelSwitches = ["METAOPT_KERNELS", "METAOPT_FORWARD_PRODUCTS", "METAOPT_MATRIX_PRODUCTS", "OPENBLAS_CORETYPE"]

    /// The command that starts a job of this launch's shape again.
    ///
    /// - Parameters:
    ///   - environment: the process's environment (for `relaunchVariable` and for whether Open MPI
    ///     was allowed to run as root by its variables).
    ///   - runsAsRoot: whether the process runs as root, for which Open MPI's mpirun needs
    ///     `--allow-run-as-root` (or its two variables).
    ///   - cores: the host's physical cores (`physicalCores`): more ranks on it than that need
    ///     `--oversubscribe`, as in launch/local.sh.
    ///   - ranks: the job's rank count as MPI has it. A process that ran alone although the
    ///     variables name a larger job (left in the environment of a shell, with no launcher
    ///     behind them: MPI made it a singleton) is started by name; its resume line said
    ///     `mpirun -np 4`.
    package func relaunchCommand(environment: [String: String], runsAsRoot: Bool, cores: Int, ranks: Int) -> RelaunchCommand {
        if ranks == 1, let size, size > 1 { return RelaunchCommand(prefix: "") }
        if let given = environment[Self.relaunchVariable]?.trimmingCharacters(in: .whitespaces), !given.isEmpty {
            return RelaunchCommand(prefix: given, startsTheProgram: true)
        }
        guard let launcher, let size, size > 1 else { return RelaunchCommand(prefix: "") }
        switch launcher {
        case .openMPI:
            // The switches that choose the kernels that compute φ, as the job had them (a resume
            // on other kernels continues another trajectory).
            // Not an OPENBLAS_CORETYPE that the process set itself (`OpenBLASFallback`: OpenBLAS
            // did not know the CPU): each process of the new job chooses again, on its own node.
            let chosenByTheProcess = environment[OpenBLASFallback.markerVariable] != nil
            let switches = Self.kernelSwitches.filter {
                environment[$0] != nil && !($0 == "OPENBLAS_CORETYPE" && chosenByTheProcess)
            }
            var words = switches.map { "\($0)=\(shellQuoted(environment[$0]!))" } + ["mpirun"]
            words += switches.flatMap { ["-x", $0] }  // to other hosts' ranks too
            let allowedByVariables = environment["OMPI_ALLOW_RUN_AS_ROOT"] == "1" && environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] == "1"
            if runsAsRoot && !allowedByVariables { words.append("--allow-run-as-root") }
            if let localSize, localSize > cores { words.append("--oversubscribe") }
            words += ["-np", String(size)]
            var caveat: String?
            if let localSize, localSize < size {
                caveat = "this job's \(size) ranks ran on several hosts: add the mpirun options that placed them (a hostfile, --host) to the command below; any number of ranks resumes to the same φ"
            }
            return RelaunchCommand(prefix: words.joined(separator: " "), caveat: caveat)
        case .pmix:
            return RelaunchCommand(prefix: "srun --mpi=pmix -n \(size)")
        case .pmi:
            return RelaunchCommand(prefix: "mpiexec -n \(size)")
        }
    }

    /// This machine's physical cores, which Open MPI counts as its slots (not the hardware
    /// threads: 2 ranks on one core of two threads need `--oversubscribe`): the distinct sets of
    /// thread siblings of the online CPUs under `cpuDirectory` (an offline CPU has no topology
    /// there). nil where it shows no topology. Not the process's affinity: mpirun binds each rank
    /// to one core.
    package static func physicalCores(cpuDirectory: String = "/sys/devices/system/cpu") -> Int? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: cpuDirectory) else { return nil }
        var cores = Set<String>()
        for entry in entries where entry.hasPrefix("cpu") && entry.dropFirst(3).allSatisfy(\.isNumber) && entry.count > 3 {
            let file = cpuDirectory + "/" + entry + "/topology/thread_siblings_list"
            if let siblings = try? String(contentsOfFile: file, encoding: .utf8) {
                cores.insert(siblings.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        return cores.isEmpty ? nil : cores.count
    }
}
