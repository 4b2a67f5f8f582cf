/// How many ranks of this job run on this host, from the launcher's variables: the default of
/// `--max-memory` shares the host's memory among them.
package enum HostRanks {
    /// Open MPI's `OMPI_COMM_WORLD_LOCAL_SIZE`; for a process a PMI launcher started
    /// (`PMIX_RANK` or `PMI_RANK` set), MPICH Hydra's `MPI_LOCALNRANKS` or, from `srun`, this
    /// node's entry of `SLURM_STEP_TASKS_PER_NODE` ("3(x2),1": three tasks on each of the step's
    /// first two nodes, one on the third), indexed by `SLURM_NODEID` (the node's place in the
    /// step). 1 for a process no launcher started: Slurm's variables are in a batch script's
    /// environment too, where one process runs.
    package static func count(environment: [String: String]) -> Int {
        func int(_ key: String) -> Int? {
            environment[key].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.flatMap { $0 > 0 ? $0 : nil }
        }
        if let local = int("OMPI_COMM_WORLD_LOCAL_SIZE") { return local }
        guard environment["PMIX_RANK"] != nil || environment["PMI_RANK"] != nil else { return 1 }
        if let local = int("MPI_LOCALNRANKS") { return local }
        if let perNode = environment["SLURM_STEP_TASKS_PER_NODE"], let node = environment["SLURM_NODEID"].flatMap({ Int($0) }),
           let local = slurmTasks(perNode, node: node) {
            return local
        }
        return 1
    }

    /// Entry `node` of a Slurm tasks-per-node list ("2(x3),1"); nil when it is malformed or
    /// shorter.
    package static func slurmTasks(_ list: String, node: Int) -> Int? {
        guard node >= 0 else { return nil }
        var first = 0
        for item in list.split(separator: ",") {
            let tasks: Int?, repeats: Int?
            if let open = item.firstIndex(of: "("), item.hasSuffix(")"), item[open...].hasPrefix("(x") {
                tasks = Int(item[..<open])
                repeats = Int(item[item.index(open, offsetBy: 2)..<item.index(before: item.endIndex)])
            } else {
                (tasks, repeats) = (Int(item), 1)
            }
            guard let tasks, let repeats, tasks > 0, repeats > 0 else { return nil }
            if node < first + repeats { return tasks }
            first += repeats
        }
        return nil
    }
}
