import ArgumentParser
import Foundation
import Logging
import MetaOpt
import MetaOptMPI

/// Runs `body` with the job's world communicator: the one way a subcommand starts MPI.
///
/// 1. installs the rank-prefixed log handler (rank taken from mpirun's environment until MPI
///    tells it) at the levels `options` ask for;
/// 2. initialises MPI (a singleton when not started by mpirun), builds the communicator and ends
///    the job with status 65 when its ranks run different builds (`differingBuilds`, before any
///    other collective);
/// 3. runs `body`; on success finalises MPI and returns `body`'s result;
/// 4. on ANY error thrown by `body`, prints `metaopt-dist: rank R: <error>` and calls
///    `comm.abort(code:message:)`, which ends every rank of the job (`MPI_Abort`) instead of
///    leaving the others waiting in a collective. An `ExitCode` thrown by `body` is used as the
///    abort's exit status.
///
/// Argument validation belongs in `validate()` (argument-parser runs it on every rank before
/// `run()`, so a bad flag exits with status 64 and the same message on every rank without any
/// collective). Checks that need the rank count belong at the start of `body`, agreed on by the
/// ranks in one collective before any other but the build check (`TrainCommand.endIfAnyRankRefuses`).
func withCommunicator<T>(_ options: RunOptions, _ body: (MPICommunicator) throws -> T) -> T {
    let launch = LaunchEnvironment.atLaunch
    RankLogging.bootstrap()
    RankLogSettings.shared.rank = launch.rank
    RankLogSettings.shared.logLevel = options.logLevel(rank: launch.rank ?? 0)

    let comm: MPICommunicator
    do {
        comm = try MPICommunicator()
    } catch {
        // No communicator, so no MPI_Abort: exiting non-zero makes mpirun end the other ranks.
        let rank = launch.rank.map(String.init) ?? "?"
        Console.error("metaopt-dist: rank \(rank): cannot start MPI: \(describe(error))\n")
        exit(1)
    }
    RankLogSettings.shared.rank = comm.rank
    RankLogSettings.shared.logLevel = options.logLevel(rank: comm.rank)
    comm.watchdog.setTimeout(options.collectiveTimeout)
    // The job's first collective, the same in every build: ranks of different builds would
    // disagree on the collectives after it.
    do {
        if let identities = try comm.differingBuilds(identity: Provenance.buildIdentity) {
            if comm.isRoot { Console.error("metaopt-dist: \(DifferingBuildsError(identities: identities))\n") }
            try? MPIRuntime.finalize()
            exit(TrainCommand.repeatsOnRestartStatus)
        }
    } catch {
        // A build from before the check meets it with a collective of another size.
        comm.abort(code: 1, message: "\(describe(error)) (in the job's first collective, where the ranks compare their builds: "
                   + "ranks of different builds of metaopt-dist, one from before 2026-12-06, fail here; give every host the same binary)")
    }
    if comm.isRoot {
        Logger(label: "metaopt-dist").info("\(kernelsLine())")
    } else {
        Logger(label: "metaopt-dist").debug("\(kernelsLine())")
    }
    Logger(label: "metaopt-dist").debug("MPI started", metadata: [
        "size": "\(comm.size)", "host": "\(comm.processorName)",
        "launcher": "\(launch.launcher?.rawValue ?? "none (singleton)")",
        "library": "\(MPIRuntime.libraryVersion)",
    ])

    let result: T
    do {
        result = try body(comm)
    } catch let code as ExitCode {
        comm.abort(code: code.rawValue == 0 ? 1 : code.rawValue, message: "exiting with status \(code.rawValue)")
    } catch let error as RunDirectoryMovedError {
        // A restart (launch/restart.sh retries 1) would start over at the old path: 65.
        comm.abort(code: TrainCommand.repeatsOnRestartStatus, message: describe(error))
    } catch {
        comm.abort(code: 1, message: describe(error))
    }
    do {
        try MPIRuntime.finalize()
    } catch {
        Console.error("metaopt-dist: rank \(comm.rank): \(describe(error))\n")
        exit(1)
    }
    return result
}

/// "kernels: avx2, AVX2 + FMA (8 lanes) on <CPU>", and whether METAOPT_KERNELS forced it.
func kernelsLine() -> String {
    let path = KernelPath.default, name = KernelPath.cpuName
    let cpu = name.isEmpty ? "" : " on \(name)"
    let forced = path == .best ? "" : " (forced by \(KernelPath.environmentVariable); this CPU has \(KernelPath.best.rawValue))"
    // A measurement knob that changes the results' last bits: say so when it is set.
    let switches = KernelPath.layerProductsSwitches
    let products = switches.isEmpty ? "" : "; layer products on \(path.layerProducts) (\(switches.joined(separator: ", ")))"
    let blas = OpenBLASFallback.note.map { "; \($0)" } ?? ""
    return "kernels: \(path.rawValue), \(path)\(cpu)\(forced)\(products)\(blas)"
}

/// A one-line, human-readable text for `error`.
func describe(_ error: any Error) -> String {
    switch error {
    case let error as ValidationError: return error.message
    case let error as CommunicatorError: return error.description
    case let error as LocalizedError: return error.errorDescription ?? String(describing: error)
    default: return String(describing: error)
    }
}
