internal import CMPI
import Foundation
import MetaOpt

/// The thread support levels of `MPI_Init_thread`, weakest first.
public enum MPIThreadLevel: Int, Sendable, Comparable, CustomStringConvertible {
    case single, funneled, serialized, multiple

    public static func < (lhs: MPIThreadLevel, rhs: MPIThreadLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .single: "MPI_THREAD_SINGLE"
        case .funneled: "MPI_THREAD_FUNNELED"
        case .serialized: "MPI_THREAD_SERIALIZED"
        case .multiple: "MPI_THREAD_MULTIPLE"
        }
    }

    var cValue: Int32 {
        switch self {
        case .single: metaopt_mpi_thread_single()
        case .funneled: metaopt_mpi_thread_funneled()
        case .serialized: metaopt_mpi_thread_serialized()
        case .multiple: metaopt_mpi_thread_multiple()
        }
    }

    init(cValue: Int32) {
        switch cValue {
        case metaopt_mpi_thread_multiple(): self = .multiple
        case metaopt_mpi_thread_serialized(): self = .serialized
        case metaopt_mpi_thread_funneled(): self = .funneled
        default: self = .single
        }
    }
}

/// Process-wide MPI life cycle: initialise once, finalise once on a clean exit.
///
/// Rules (see docs and `withCommunicator` in the executable):
/// - `initialize` may be called any number of times; only the first call initialises MPI. Started
///   without mpirun, the process becomes a singleton job of one rank.
/// - `MPI_COMM_WORLD` gets `MPI_ERRORS_RETURN`, so failing calls throw `CommunicatorError` instead of
///   killing the job behind the caller's back.
/// - `finalize` must only run when every rank finishes cleanly. Never call it from a `defer` or
///   an error path: `MPI_Finalize` waits for the other ranks, so a rank that failed would hang
///   the job. On errors, call `Communicator.abort(code:message:)` instead.
public enum MPIRuntime {
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var threadLevel: MPIThreadLevel?
    }
    private static let state = State()

    /// Initialises MPI (if no one did yet) and sets `MPI_ERRORS_RETURN` on `MPI_COMM_WORLD`.
    ///
    /// - Parameter threadLevel: the thread support to request. The default, serialized, allows
    ///   MPI calls from any thread as long as no two run at the same time.
    /// - Returns: the thread support MPI provides.
    /// - Throws: `CommunicatorError` if MPI was already finalised or fails to start.
    @discardableResult
    public static func initialize(threadLevel: MPIThreadLevel = .serialized) throws -> MPIThreadLevel {
        state.lock.lock()
        defer { state.lock.unlock() }
        // Before the cached level: after finalize, a new communicator would abort the process
        // inside MPI_Comm_rank instead of throwing.
        var finalized: Int32 = 0
        try mpiCheck(MPI_Finalized(&finalized), "MPI_Finalized")
        if finalized != 0 {
            throw CommunicatorError(function: "MPI_Init_thread",
                                    message: "MPI was already finalised in this process and cannot be restarted")
        }
        if let provided = state.threadLevel { return provided }
        let launch = LaunchEnvironment.atLaunch  // read before MPI_Init changes the environment
        if !launch.isLaunched, let problem = singletonTemporaryDirectoryProblem() {
            throw CommunicatorError(function: "MPI_Init_thread", message: problem)
        }
        var initialized: Int32 = 0
        try mpiCheck(MPI_Initialized(&initialized), "MPI_Initialized")
        var provided: Int32 = 0
        if initialized == 0 {
            try mpiCheck(metaopt_mpi_init_thread(threadLevel.cValue, &provided), "MPI_Init_thread")
        } else {
            try mpiCheck(MPI_Query_thread(&provided), "MPI_Query_thread")
        }
        try mpiCheck(MPI_Comm_set_errhandler(metaopt_mpi_comm_world(), metaopt_mpi_errors_return()),
                     "MPI_Comm_set_errhandler")
        let level = MPIThreadLevel(cValue: provided)
        state.threadLevel = level
        return level
    }

    /// Why a process started without mpirun cannot start MPI in `TMPDIR`, or nil: Open MPI's
    /// singleton keeps its session files there and, when it cannot, fails with a page of its own
    /// text and no word of TMPDIR.
    static func singletonTemporaryDirectoryProblem() -> String? {
        let environment = ProcessInfo.processInfo.environment
        guard let directory = environment["TMPDIR"], !directory.isEmpty else { return nil }
        // Open MPI's own setting of the session directory's base wins over TMPDIR.
        let overrides = ["OMPI_MCA_orte_tmpdir_base", "OMPI_MCA_prte_tmpdir_base", "PRTE_MCA_prte_tmpdir_base", "PMIX_MCA_pmix_tmpdir_base"]
        guard !overrides.contains(where: { !(environment[$0] ?? "").isEmpty }) else { return nil }
        // A link to nothing is no missing directory: Open MPI's mkdir fails on it.
        var entry = stat(), target = stat()
        if lstat(directory, &entry) == 0 && stat(directory, &target) != 0 {
            return "TMPDIR=\(directory) is a symbolic link to nothing, and Open MPI keeps its session files there; point TMPDIR at a directory (or unset it for /tmp)"
        }
        // Open MPI makes a missing TMPDIR and its missing parents: the nearest one that exists
        // must be a directory this user can write to.
        var path = directory
        while !FileManager.default.fileExists(atPath: path) {
            let parent = (path as NSString).deletingLastPathComponent
            guard !parent.isEmpty, parent != path else { path = "."; break }
            path = parent
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
           access(path, W_OK | X_OK) == 0 {
            return nil
        }
        return "TMPDIR=\(directory) is not a directory this user can write to or make, and Open MPI keeps its session "
            + "files there; point TMPDIR at one (or unset it for /tmp)"
    }

    /// Whether MPI is initialised and not yet finalised (collectives can be called).
    public static var isActive: Bool {
        var initialized: Int32 = 0
        var finalized: Int32 = 0
        // Both may be called at any time and have no error of their own to report: a failure is
        // a broken MPI library, not something a caller can handle.
        precondition(MPI_Initialized(&initialized) == metaopt_mpi_success(), "MPI_Initialized failed")
        precondition(MPI_Finalized(&finalized) == metaopt_mpi_success(), "MPI_Finalized failed")
        return initialized != 0 && finalized == 0
    }

    /// Whether `MPI_Finalize` has run in this process.
    public static var isFinalized: Bool {
        var finalized: Int32 = 0
        precondition(MPI_Finalized(&finalized) == metaopt_mpi_success(), "MPI_Finalized failed")
        return finalized != 0
    }

    /// Finalises MPI; a no-op if it is not active. Call only on a clean exit of every rank.
    public static func finalize() throws {
        state.lock.lock()
        defer { state.lock.unlock() }
        guard isActive else { return }
        fflush(nil)  // all C streams, stdout included
        try mpiCheck(MPI_Finalize(), "MPI_Finalize")
    }

    /// The MPI library's own version text (`MPI_Get_library_version`), first line only.
    public static var libraryVersion: String {
        var chars = [CChar](repeating: 0, count: Int(metaopt_mpi_max_library_version_string()) + 1)
        var length: Int32 = 0
        let rc = chars.withUnsafeMutableBufferPointer { MPI_Get_library_version($0.baseAddress, &length) }
        guard rc == metaopt_mpi_success(), length > 0 else { return "unknown MPI library" }
        let text = String(decoding: chars.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).first.map(String.init)?
            .trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "\0"))) ?? text
    }
}
