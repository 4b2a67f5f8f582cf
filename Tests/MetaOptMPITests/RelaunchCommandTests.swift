import XCTest
import MetaOpt
import MetaOptMPI

/// The command a stopped run prints to resume: a job of several ranks is started again as it was
/// (the program's name alone continued an mpirun job of 4 ranks on one rank).
final class RelaunchCommandTests: XCTestCase {
    private let arguments = "train --config runs/r/config.json"

    private func command(_ environment: [String: String], root: Bool = false, cores: Int = 2, ranks: Int? = nil) -> (String, String?) {
        let launch = LaunchEnvironment(environment: environment)
        let relaunch = launch.relaunchCommand(environment: environment, runsAsRoot: root, cores: cores, ranks: ranks ?? launch.size ?? 1)
        return (relaunch.command(program: "metaopt-dist", arguments: arguments), relaunch.caveat)
    }

    private func openMPI(size: Int, localSize: Int) -> [String: String] {
        ["OMPI_COMM_WORLD_SIZE": "\(size)", "OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_LOCAL_RANK": "0",
         "OMPI_COMM_WORLD_LOCAL_SIZE": "\(localSize)"]
    }

    func testAProcessStartedDirectlyIsStartedByName() {
        XCTAssertEqual(command([:]).0, "metaopt-dist " + arguments)
        XCTAssertEqual(command(openMPI(size: 1, localSize: 1)).0, "metaopt-dist " + arguments)
    }

    /// A launcher's variables left in a shell's environment, with no launcher behind them: the
    /// process ran alone (an MPI singleton), and its resume line said `mpirun -np 4`.
    func testLeftoverLauncherVariablesOfAProcessThatRanAlone() {
        XCTAssertEqual(command(openMPI(size: 4, localSize: 4), ranks: 1).0, "metaopt-dist " + arguments)
        XCTAssertEqual(command(["PMIX_RANK": "0", "SLURM_NTASKS": "3"], ranks: 1).0, "metaopt-dist " + arguments)
        XCTAssertEqual(command(openMPI(size: 2, localSize: 2), ranks: 2).0, "mpirun -np 2 metaopt-dist " + arguments)
    }

    func testAnMPIRunJobOnOneHostKeepsItsRankCount() {
        XCTAssertEqual(command(openMPI(size: 2, localSize: 2)).0, "mpirun -np 2 metaopt-dist " + arguments)
        XCTAssertNil(command(openMPI(size: 2, localSize: 2)).1)
        // More ranks than cores, as root: what mpirun refuses without.
        XCTAssertEqual(command(openMPI(size: 8, localSize: 8), root: true).0,
                       "mpirun --allow-run-as-root --oversubscribe -np 8 metaopt-dist " + arguments)
        var allowed = openMPI(size: 2, localSize: 2)
        allowed["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        allowed["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        XCTAssertEqual(command(allowed, root: true).0, "mpirun -np 2 metaopt-dist " + arguments)
    }

    /// The switches that choose φ's kernels come along (a resume on other kernels continues
    /// another trajectory).
    func testKernelSwitchesComeAlong() {
        var environment = openMPI(size: 2, localSize: 2)
        environment["METAOPT_KERNELS"] = "avx2"
        environment["OPENBLAS_CORETYPE"] = "Haswell x"
        XCTAssertEqual(command(environment).0,
                       "METAOPT_KERNELS=avx2 OPENBLAS_CORETYPE='Haswell x' mpirun -x METAOPT_KERNELS -x OPENBLAS_CORETYPE -np 2 metaopt-dist " + arguments)
    }

    /// Not the OpenBLAS core that the process chose itself where OpenBLAS did not know the CPU
    /// (`OpenBLASFallback`): a resume on another node would be forced to it.
    func testAnOpenBLASCoreTheProcessChoseStaysBehind() {
        var environment = openMPI(size: 2, localSize: 2)
        environment["OPENBLAS_CORETYPE"] = "Cooperlake"
        environment[OpenBLASFallback.markerVariable] = "Prescott"
        environment["METAOPT_KERNELS"] = "avx512"
        XCTAssertEqual(command(environment).0, "METAOPT_KERNELS=avx512 mpirun -x METAOPT_KERNELS -np 2 metaopt-dist " + arguments)
    }

    func testRanksOnSeveralHostsSayWhatTheCommandCannot() {
        let (line, caveat) = command(openMPI(size: 4, localSize: 2))
        XCTAssertEqual(line, "mpirun -np 4 metaopt-dist " + arguments)
        XCTAssertTrue(caveat?.contains("ran on several hosts") == true, "\(caveat ?? "nil")")
    }

    func testOtherLaunchers() {
        XCTAssertEqual(command(["PMIX_RANK": "0", "SLURM_NTASKS": "3"]).0, "srun --mpi=pmix -n 3 metaopt-dist " + arguments)
        XCTAssertEqual(command(["PMI_RANK": "0", "PMI_SIZE": "3"]).0, "mpiexec -n 3 metaopt-dist " + arguments)
    }

    /// A launch script's own command runs the program itself, and wins over the launcher's variables.
    func testALaunchScriptsCommandReplacesTheProgram() {
        var environment = openMPI(size: 4, localSize: 2)
        environment[LaunchEnvironment.relaunchVariable] = "bash launch/hostfile.sh hosts/h -np 4"
        let (line, caveat) = command(environment)
        XCTAssertEqual(line, "bash launch/hostfile.sh hosts/h -np 4 " + arguments)
        XCTAssertNil(caveat)
    }

    /// Cores as Open MPI counts slots: two hardware threads of one core are one (the resume line
    /// of 2 ranks on one core of two threads lacked the --oversubscribe mpirun needs).
    func testPhysicalCoresCountThreadSiblingsOnce() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cpu-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        for (cpu, siblings) in [(0, "0,2"), (1, "1,3"), (2, "0,2"), (3, "1,3")] {
            let topology = root.appendingPathComponent("cpu\(cpu)/topology")
            try FileManager.default.createDirectory(at: topology, withIntermediateDirectories: true)
            try Data("\(siblings)\n".utf8).write(to: topology.appendingPathComponent("thread_siblings_list"))
        }
        // Entries that are not CPUs, and an offline CPU (no topology).
        for other in ["cpufreq", "cpuidle", "cpu9"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(other), withIntermediateDirectories: true)
        }
        XCTAssertEqual(LaunchEnvironment.physicalCores(cpuDirectory: root.path), 2)
        XCTAssertNil(LaunchEnvironment.physicalCores(cpuDirectory: root.appendingPathComponent("none").path))
        XCTAssertEqual(command(openMPI(size: 4, localSize: 4), cores: 2).0, "mpirun --oversubscribe -np 4 metaopt-dist " + arguments)
    }
}
