internal import CMetaOptKernels
import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc  // stdout, a C global: read once, at exit, on the main thread
#endif
import Foundation
import MetaOpt

/// The root command: its subcommand list (each subcommand has its own file). What runs before the
/// arguments are parsed follows it.
struct MetaOptDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metaopt-dist",
        abstract: "Distributed meta-training of a learned LSTM optimizer (Andrychowicz et al., 2016) on MPI.",
        discussion: """
            Run under mpirun for several ranks (`mpirun -np 8 metaopt-dist train ...`, or \
            launch/local.sh), or directly for a single rank.
            """,
        // "0.1.0 (commit 1a2b3c4d5e6f, kernels avx512)": VERSION and the git commit, stamped at build
        // time (Plugins/BuildStamp), and this process's kernel path ("unusable" when
        // METAOPT_KERNELS names one this CPU cannot run; that is refused below before parsing).
        version: Provenance.versionLine(kernels: (try? KernelPath.fromEnvironment.get())?.rawValue ?? "unusable"),
        subcommands: [
            TrainCommand.self,
            EvaluateCommand.self,
            PlotCommand.self,
            ExportCommand.self,
            BenchCommand.self,
            CommCheckCommand.self,
            AllreduceBenchCommand.self,
            ScalingPlotCommand.self,
            ScalingModelCommand.self,
        ],
        defaultSubcommand: TrainCommand.self)

    /// Every subcommand's configuration (its name, whether help lists it).
    static var subcommandConfigurations: [CommandConfiguration] { configuration.subcommands.map { $0.configuration } }
}

// First of all, before any Swift type is used: a CPU without CMPXCHG16B would end in an illegal
// instruction at the first one (the runtime's atomics need it), and without /proc (a bare chroot)
// the runtime finds no command line. Both said in words, with C's write alone.
func exitBeforeAnySwiftType(_ message: StaticString) -> Never {
    _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
    _exit(1)
}
if metaopt_cpu_has_cmpxchg16b() == 0 {
    exitBeforeAnySwiftType("metaopt-dist: this CPU lacks CMPXCHG16B, which the Swift runtime needs (every x86-64 CPU since about 2006 has it); it cannot run here\n")
}
if CommandLine.argc < 1 {
    exitBeforeAnySwiftType("metaopt-dist: found no command line: /proc is not mounted, and the Swift runtime reads the arguments from it (mount -t proc proc /proc)\n")
}

// OpenBLAS chose its kernels when it loaded, and for a CPU model it does not know it chose
// Prescott's (SSE3): start again with OPENBLAS_CORETYPE naming the core of this CPU's
// instructions (OpenBLASFallback). The path of /proc/self/exe, not the link: an emulator (qemu's
// user mode) answers readlink with the program it runs, but exec of the link would start itself.
// Where the exec fails, this process goes on with Prescott's kernels.
if let core = OpenBLASFallback.restartCore, let program = FilePaths.linkTarget("/proc/self/exe") {
    let variables = OpenBLASFallback.restartVariables(core: core)
    for (name, value) in variables { setenv(name, value, 1) }
    execv(program, CommandLine.unsafeArgv)
    for name in variables.keys { unsetenv(name) }
}

// A reader that goes away (`| head`, a log shipper that dies) must not kill a training run before
// its checkpoint: a write to a closed pipe fails with EPIPE instead, which the console counts as a
// dropped line and the check at the end below reports.
signal(SIGPIPE, SIG_IGN)
// Likewise a file-size limit (`ulimit -f`, which Slurm passes on): a write past it fails with
// EFBIG, which the writers report naming the file, instead of killing the process with a
// temporary file left behind.
signal(SIGXFSZ, SIG_IGN)

/// print() buffers standard output and drops a failed write silently, so results lost to a full
/// disk or a closed pipe (evaluate's table, bench's JSON, `--print-config > file`) ended with
/// status 0: flushed and checked, as coreutils' close_stdout does.
func exitUnlessStandardOutputWasWritten() {
    let flushed = fflush(stdout) == 0
    let code = errno  // of the flush; an earlier failed write left only the stream's error flag
    // A reader that went away (`| head`) wants no more: quiet, with the status a SIGPIPE would give.
    if !flushed && code == EPIPE { exit(128 + SIGPIPE) }
    if !flushed || ferror(stdout) != 0 {
        Console.error("Error: cannot write to standard output\(flushed ? "" : ": " + String(cString: strerror(code)))\n")
        exit(1)
    }
}

/// Whether `error` is an input file whose contents are bad (EX_DATAERR, 65, as train's
/// --init-from and resume refusals): an optimizer file, a run's log line or an evaluation report
/// that reads but does not hold what it must; or an output path no retry could write (a
/// directory in the file's place, no permission), as train's refusal of one. A file that could
/// not be read at all (missing, a failed read) or written (a full disk) stays 1: it may work the
/// next time.
func isBadData(_ error: any Error) -> Bool {
    let unread = "cannot be read"
    if TrainingRun.writeRefusalRepeats(error) { return true }
    switch error {
    case let e as OptimizerFileError: return !e.problem.hasPrefix(unread)
    case let e as ReportFileError: return !e.problem.hasPrefix(unread)
    case let e as TrainingLogError: return e.isBadInput
    case let e as DataError: return e.isDamagedFile
    default: return false
    }
}

/// The unknown-option error that `error`, a required option missing, hides: argument-parser names
/// the missing option first, so `evaluate --optimiser FILE` said "Missing expected argument
/// '--optimizer <optimizer>'" without a word about the misspelt one. Found by parsing again with
/// the missing option given; nil when that reveals no unknown option.
func unknownOptionBehindMissingOne(_ error: any Error, arguments: [String]) -> (any Error)? {
    let message = MetaOptDist.message(for: error)
    guard let range = message.range(of: #"^Missing expected argument '--[A-Za-z0-9-]+"#, options: .regularExpression),
          let subcommand = arguments.first, !subcommand.hasPrefix("-") else { return nil }
    let option = String(message[range].dropFirst("Missing expected argument '".count))
    do {
        _ = try MetaOptDist.parseAsRoot([subcommand, option, "placeholder"] + arguments.dropFirst())
    } catch let again {
        if MetaOptDist.message(for: again).hasPrefix("Unknown option") { return again }
    }
    return nil
}

/// ArgumentParser's exit for `error`, with help and version text (a clean exit) checked as
/// written first, and bad input data given status 65.
func exitAfterParsing(_ error: any Error) -> Never {
    if isBadData(error) {
        Console.error("Error: \(describe(error))\n")
        exit(65)
    }
    if MetaOptDist.exitCode(for: error) == .success {
        let text = MetaOptDist.fullMessage(for: error)
        if !text.isEmpty { print(text) }
        exitUnlessStandardOutputWasWritten()
        exit(0)
    }
    // In one write: argument-parser's own exit(withError:) printed the message in pieces, which
    // the ranks of an mpirun job, each refusing the same arguments, interleaved mid-line.
    let text = MetaOptDist.fullMessage(for: error)
    if !text.isEmpty { Console.error(text + "\n") }
    exit(MetaOptDist.exitCode(for: error).rawValue)
}

// Then, before parsing: a kernel path this CPU cannot run (METAOPT_KERNELS) is refused with a
// message and status 64, never an illegal instruction.
if case .failure(let error) = KernelPath.fromEnvironment {
    Console.error("metaopt-dist: \(error)\n")
    exit(64)
}
// The same for a measurement switch of the kernels with a value they would silently ignore, and
// for OpenBLAS's kernels forced to a core this CPU is not.
if let problem = KernelPath.measurementSwitchProblem() ?? KernelPath.openBLASCoreTypeProblem() {
    Console.error("metaopt-dist: \(problem)\n")
    exit(64)
}
// An argument that is not UTF-8 (a path with Latin-1 bytes) would be decoded with replacement
// characters and name another file; it is refused, naming the argument, rather than guessed.
if let position = (1..<Int(CommandLine.argc)).first(where: { i in
    guard let raw = CommandLine.unsafeArgv[i] else { return false }
    return String(validatingCString: raw) == nil
}) {
    Console.error("Error: argument \(position) (\(CommandLine.arguments[position])) is not valid UTF-8; metaopt-dist takes paths and values in UTF-8 only (rename the file or use a symbolic link with a UTF-8 name)\n")
    exit(ExitCode.validationFailure.rawValue)
}
// `train --recipe NAME` and `train --config FILE` become the arguments they stand for (RunFiles).
let arguments: [String]
do {
    let commandLine = NegativeValues.join(Array(CommandLine.arguments.dropFirst()))
    OptionScope.givenOnCommandLine = OptionScope.longOptions(in: commandLine)
    arguments = try RunFiles.expand(commandLine)
} catch {
    // The same message on every rank, before MPI starts, and the usage status, as for a bad flag.
    Console.error("Error: \(describe(error))\nSee 'metaopt-dist help train' and docs/usage.md (\"Run files and recipes\").\n")
    exit(ExitCode.validationFailure.rawValue)
}
if let problem = SubcommandCheck.problem(arguments, commands: MetaOptDist.subcommandConfigurations) {
    Console.error("Error: \(problem)\nSee 'metaopt-dist --help'.\n")
    exit(ExitCode.validationFailure.rawValue)
}
// MetaOptDist.main(arguments), except that a ValidationError thrown by a subcommand's run() (a
// check that needs a file read first) shows that subcommand's usage, as one from its validate()
// does, not the root's.
let command: any ParsableCommand
do { command = try MetaOptDist.parseAsRoot(arguments) } catch {
    // A value from a recipe or run file that does not parse names the file, not the command line.
    if let message = RunFiles.attribute(MetaOptDist.message(for: error)) {
        Console.error("Error: \(message)\nSee 'metaopt-dist help train' and docs/usage.md (\"Run files and recipes\").\n")
        exit(ExitCode.validationFailure.rawValue)
    }
    exitAfterParsing(unknownOptionBehindMissingOne(error, arguments: arguments) ?? error)
}
do {
    var running = command
    try running.run()
    // Not for a training run, whose last lines only say where its files are (a closed or full
    // standard output must not fail a finished run); its --print-config writes nothing else.
    if (command as? TrainCommand).map({ $0.printConfig }) ?? true { exitUnlessStandardOutputWasWritten() }
} catch let error as ValidationError {
    let subcommand = type(of: command)
    let name = subcommand.configuration.commandName.map { " " + $0 } ?? ""
    // Continuation lines of the usage under its first, as argument-parser prints them.
    let usage = MetaOptDist.usageString(for: subcommand).replacingOccurrences(of: "\n", with: "\n       ")
    Console.error("Error: \(error.message)\nUsage: \(usage)\n"
                  + "  See 'metaopt-dist\(name) --help' for more information.\n")
    exit(ExitCode.validationFailure.rawValue)
} catch let error as ConsoleError where error.code == EPIPE {
    exit(128 + SIGPIPE)  // export's JSON to a reader that went away: as exitUnlessStandardOutputWasWritten
} catch {
    exitAfterParsing(error)
}
