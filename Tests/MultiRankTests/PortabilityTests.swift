import Foundation
import XCTest

/// The installed binary as a user meets it (launch/setup.sh, README "Quick start"): the Swift
/// runtime linked in, so ldd names no Swift library and it runs with the toolchain hidden; on a CPU
/// without AVX-512, emulated with qemu-x86_64 -cpu Haswell, the default build picks the AVX2
/// kernels and refuses forced AVX-512 with a message instead of an illegal instruction; and
/// `mpirun -np 2 metaopt-dist` works from any directory.
///
/// Which binary: every test but the version check runs the *installed* one, `$METAOPT_DIST_BINARY`
/// or else `metaopt-dist` on the PATH, because that is the artifact these properties are about:
/// the static release build setup.sh installs and nodes run. The test build's own binary (next to
/// the test bundle in .build-tests) is linked against the toolchain's shared runtime, so it could
/// not show any of them. Without an installed binary, or without qemu-x86_64 for the emulation
/// tests, they skip, except in CI (CI set, as .ci/run has it), where that is a failure.
final class PortabilityTests: XCTestCase {
    /// A quadratic job small enough for emulation: its 2 meta-steps take about 2 s under qemu.
    static let emulatedJob = ["train", "--meta-batch", "16", "--unroll", "5", "--horizon", "10", "--iterations", "2",
                              "--seed", "3", "--no-resume", "--progress-every", "1"]
    /// The CPU qemu emulates: AVX2 and FMA, no AVX-512 (an Intel Haswell).
    static let emulatedCPU = "Haswell"

    // MARK: The installed binary

    /// ldd lists no Swift runtime library (stdlib, Foundation, Dispatch) and nothing from the
    /// toolchain; every library it needs is found.
    func testInstalledBinaryLinksNoSwiftLibraries() throws {
        let binary = try Self.installedBinary()
        guard let ldd = Self.findOnPath("ldd") else { throw XCTSkip("ldd not found") }
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: ldd), arguments: [binary.path], timeout: 30)
        XCTAssertEqual(result.status, 0, "\(result)")
        let libraries = result.stdout
        let swiftRuntime = ["libswift", "libFoundation", "lib_Foundation", "libdispatch", "libBlocksRuntime"]
        let loaded = libraries.split(separator: "\n").filter { line in swiftRuntime.contains { line.contains($0) } }
        XCTAssertEqual(loaded, [], "\(binary.path) loads the Swift runtime:\n\(libraries)")
        XCTAssertFalse(libraries.contains("not found"), "\(binary.path) misses libraries:\n\(libraries)")
        if let runtime = Self.toolchainRuntimeDirectory() {
            XCTAssertFalse(libraries.contains(runtime.deletingLastPathComponent().path),
                           "\(binary.path) loads from the toolchain (\(runtime.path)):\n\(libraries)")
        }
        XCTAssertTrue(libraries.contains("libmpi"), "expected Open MPI among the libraries:\n\(libraries)")
    }

    /// A short training run with the toolchain's runtime directory hidden under an empty tmpfs (a
    /// mount namespace of its own) and LD_LIBRARY_PATH unset: what a node without Swift sees.
    func testInstalledBinaryTrainsWithTheToolchainHidden() throws {
        let binary = try Self.installedBinary()
        guard getuid() == 0, let unshare = Self.findOnPath("unshare") else {
            throw XCTSkip("needs root and unshare(1) to hide the toolchain in a mount namespace")
        }
        guard let runtime = Self.toolchainRuntimeDirectory() else {
            throw XCTSkip("no Swift toolchain found on the PATH, nothing to hide")
        }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let script = #"mount -t tmpfs none "$1" || exit 125; shift; exec env -u LD_LIBRARY_PATH "$@""#
        let result = try MPIJob.runProcess(
            executable: URL(fileURLWithPath: unshare),
            arguments: ["-m", "/bin/sh", "-c", script, "sh", runtime.path, binary.path]
                + Self.emulatedJob + ["--run-dir", scratch.appendingPathComponent("run").path],
            timeout: 120)
        if result.status == 125 || result.stderr.contains("unshare failed") {
            throw XCTSkip("cannot mount in a new namespace here (no CAP_SYS_ADMIN?):\n\(result)")
        }
        XCTAssertEqual(result.status, 0, "with \(runtime.path) hidden:\n\(result)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("run/optimizer.json").path),
                      "\(result)")
    }

    /// Without /proc (a bare chroot or sandbox) the Swift runtime finds no command line, and the
    /// binary died with an illegal instruction at its first look at it: now a message, status 1.
    func testWithoutProcTheBinarySaysSo() throws {
        let binary = try Self.installedBinary()
        guard getuid() == 0, let unshare = Self.findOnPath("unshare") else {
            throw XCTSkip("needs root and unshare(1) to hide /proc in a mount namespace")
        }
        let script = #"umount -l /proc || exit 125; exec "$@""#
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: unshare),
                                           arguments: ["-m", "/bin/sh", "-c", script, "sh", binary.path, "--version"], timeout: 60)
        if result.status == 125 || result.stderr.contains("unshare failed") {
            throw XCTSkip("cannot unmount /proc in a new namespace here:\n\(result)")
        }
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("found no command line: /proc is not mounted"), "\(result)")
    }

    /// `mpirun -np 2 metaopt-dist train ...` with a fresh directory as the working directory: the
    /// binary is found on the PATH and the run directory is relative to where it was started.
    func testMPIRunFindsTheInstalledBinaryFromAnyDirectory() throws {
        try DistributedTrain.requireMPIRun()
        let binary = try Self.installedBinary()
        let cwd = try DistributedTrain.scratchDirectory(for: self)
        // Exactly the name, looked up on the PATH by mpirun; the installed binary's folder first.
        let path = binary.deletingLastPathComponent().path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
        let np = 2
        var mpiArgs = ["-np", String(np)]
        if np > ProcessInfo.processInfo.activeProcessorCount { mpiArgs.append("--oversubscribe") }
        let result = try MPIJob.runProcess(
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", #"cd "$1" && shift && exec "$@""#, "sh", cwd.path, MPIJob.mpirunPath!]
                + mpiArgs + ["metaopt-dist"] + Self.emulatedJob,
            timeout: DistributedTrain.jobTimeout, environment: ["PATH": path])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stdout.contains("on 2 rank(s)") || result.stderr.contains("on 2 rank(s)"), "\(result)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: cwd.appendingPathComponent("runs/quadratic/optimizer.json").path),
                      "no runs/quadratic/optimizer.json under the working directory \(cwd.path):\n\(result)")
    }

    // MARK: A CPU without AVX-512, emulated

    /// The default (`METAOPT_KERNELS` unset) picks the AVX2 kernels on a Haswell and trains.
    func testEmulatedCPUWithoutAVX512PicksAVX2Kernels() throws {
        let (qemu, binary) = try Self.emulation()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let result = try MPIJob.runProcess(
            executable: URL(fileURLWithPath: "/usr/bin/env"),
            arguments: ["-u", "METAOPT_KERNELS", qemu, "-cpu", Self.emulatedCPU, binary.path]
                + Self.emulatedJob + ["--run-dir", scratch.appendingPathComponent("run").path],
            timeout: 180)
        XCTAssertEqual(result.status, 0, "under qemu -cpu \(Self.emulatedCPU) (132: illegal instruction):\n\(result)")
        let output = result.stdout + result.stderr
        XCTAssertTrue(output.contains("kernels: avx2"), "the log does not name the AVX2 kernels:\n\(result)")
        XCTAssertTrue(output.contains("iter 2/2"), "\(result)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("run/optimizer.json").path),
                      "\(result)")
        print("PortabilityTests: 2 meta-steps under qemu-x86_64 -cpu \(Self.emulatedCPU) took "
              + String(format: "%.1f s", result.seconds))
    }

    /// On a CPU model OpenBLAS does not know (Debian 12's 0.3.21 and cpuid model CFh, Intel's
    /// Emerald Rapids: here a Haswell given that number) OpenBLAS picks Prescott's kernels; the
    /// binary restarts itself with those of the CPU's instructions, says so, and records them.
    /// (qemu's user mode does not follow the exec: the restarted process runs on the host CPU. The
    /// core it names was chosen under emulation, which is what this checks.)
    func testOpenBLASRunsKernelsOfTheCPUsInstructionsOnAModelItDoesNotKnow() throws {
        let (qemu, binary) = try Self.emulation()
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else {
            throw XCTSkip("OPENBLAS_CORETYPE is set: OpenBLAS runs the kernels it names")
        }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let run = scratch.appendingPathComponent("run")
        let result = try MPIJob.runProcess(
            executable: URL(fileURLWithPath: qemu),
            arguments: ["-cpu", Self.emulatedCPU + ",model=207", binary.path] + Self.emulatedJob + ["--run-dir", run.path],
            timeout: 180)
        XCTAssertEqual(result.status, 0, "\(result)")
        let recorded = try DistributedTrain.recordedKernels(of: run)
        XCTAssertNotEqual(recorded.provenance.blas, "Prescott", "\(result)")
        if result.stderr.contains("OpenBLAS picked Prescott's kernels") {
            XCTAssertTrue(result.stderr.contains("a model it does not know; metaopt-dist set OPENBLAS_CORETYPE=Haswell"), "\(result)")
            XCTAssertEqual(recorded.provenance.blas, "Haswell")
        }
    }

    /// Forcing the AVX-512 kernels on that CPU ends with status 64 and a message naming
    /// METAOPT_KERNELS, never with an illegal instruction.
    func testEmulatedCPUWithoutAVX512RefusesForcedAVX512() throws {
        let (qemu, binary) = try Self.emulation()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let result = try MPIJob.runProcess(
            executable: URL(fileURLWithPath: qemu),
            arguments: ["-cpu", Self.emulatedCPU, binary.path]
                + Self.emulatedJob + ["--run-dir", scratch.appendingPathComponent("run").path],
            timeout: 180, environment: ["METAOPT_KERNELS": "avx512"])
        XCTAssertNotEqual(result.status, 128 + SIGILL, "illegal instruction:\n\(result)")
        XCTAssertEqual(result.status, 64, "\(result)")
        XCTAssertTrue(result.stderr.contains("METAOPT_KERNELS") && result.stderr.contains("lacks"),
                      "no message naming METAOPT_KERNELS and what the CPU lacks on stderr:\n\(result)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("run/optimizer.json").path))
        // OpenBLAS's AVX-512 kernels forced there: refused too (OpenBLAS itself would trap).
        let forced = try MPIJob.runProcess(executable: URL(fileURLWithPath: qemu), arguments: ["-cpu", Self.emulatedCPU, binary.path, "--version"],
                                           timeout: 60, environment: ["OPENBLAS_CORETYPE": "SkylakeX"])
        XCTAssertEqual(forced.status, 64, "\(forced)")
        XCTAssertTrue(forced.stderr.contains("OPENBLAS_CORETYPE=SkylakeX makes OpenBLAS run kernels for another CPU")
                      && forced.stderr.contains("lacks AVX-512 F"), "\(forced)")
    }

    /// The refusal names what the CPU lacks, not the whole requirement: a Haswell without FMA was
    /// said to lack "AVX2, FMA, F16C and BMI2", sending an administrator after AVX2 it has.
    func testARefusedPathNamesOnlyTheMissingFeatures() throws {
        let (qemu, binary) = try Self.emulation()
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: qemu), arguments: ["-cpu", "Haswell,-fma", binary.path, "--version"],
                                           timeout: 60, environment: ["METAOPT_KERNELS": "avx2"])
        XCTAssertEqual(result.status, 64, "\(result)")
        XCTAssertTrue(result.stderr.contains("lacks FMA (needed: AVX2, FMA, F16C and BMI2"), "\(result)")
    }

    /// The Swift runtime needs CMPXCHG16B, which the first x86-64 CPUs lack (qemu's Conroe model
    /// leaves it out): every command, --version too, died with an illegal instruction; now a
    /// message and status 1 before main.
    func testACPUWithoutCMPXCHG16BIsToldSoInWords() throws {
        let (qemu, binary) = try Self.emulation()
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: qemu), arguments: ["-cpu", "Conroe", binary.path, "--version"],
                                           timeout: 60)
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("this CPU lacks CMPXCHG16B, which the Swift runtime needs"), "\(result)")
    }

    // MARK: Version

    /// VERSION (the tag launch/check-consumer.sh gives the package) is what `--version` prints
    /// first, followed by the commit and kernel path ("0.1.0 (commit …, kernels avx512)"; the
    /// commit itself is checked in ProvenanceTests).
    func testVersionFileMatchesTheBinary() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let version = try String(contentsOf: root.appendingPathComponent("VERSION"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try MPIJob.runSingleton(args: ["--version"], timeout: 30)
        XCTAssertEqual(result.status, 0, "\(result)")
        let printed = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(printed.split(separator: " ").first.map(String.init), version,
                       "VERSION and `metaopt-dist --version` (stamped by Plugins/BuildStamp) disagree: \(printed)")
        XCTAssertNotNil(printed.range(of: #"^\S+ \(commit ([0-9a-f]{12}(\+dirty)?|unknown), kernels (avx512|avx2|portable)\)$"#,
                                      options: .regularExpression), printed)
    }

    // MARK: Helpers

    /// Whether this is CI (CI set and not false), where a test that cannot run is a failure.
    static var isCI: Bool {
        let value = ProcessInfo.processInfo.environment["CI"] ?? ""
        return !value.isEmpty && value != "false" && value != "0"
    }

    /// Skips, or in CI fails, with `message`.
    static func unavailable(_ message: String) -> Error {
        isCI ? MPIJobError(description: "\(message) (required in CI)") : XCTSkip(message)
    }

    /// `$METAOPT_DIST_BINARY`, else `metaopt-dist` on the PATH.
    static func installedBinary() throws -> URL {
        if let explicit = ProcessInfo.processInfo.environment["METAOPT_DIST_BINARY"], !explicit.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw MPIJobError(description: "METAOPT_DIST_BINARY=\(explicit) is not an executable file")
            }
            return URL(fileURLWithPath: explicit)
        }
        guard let onPath = findOnPath("metaopt-dist") else {
            throw unavailable("metaopt-dist is not on the PATH: run `bash launch/setup.sh` (or set METAOPT_DIST_BINARY)")
        }
        return URL(fileURLWithPath: onPath)
    }

    /// qemu-x86_64 and the installed binary, on an x86_64 machine.
    static func emulation() throws -> (qemu: String, binary: URL) {
        #if arch(x86_64)
        guard let qemu = findOnPath("qemu-x86_64") else {
            throw unavailable("qemu-x86_64 not found: install qemu-user (bash launch/test.sh does)")
        }
        return (qemu, try installedBinary())
        #else
        throw XCTSkip("emulating an x86-64 CPU without AVX-512 is for x86_64 builds")
        #endif
    }

    /// The directory with the toolchain's shared Swift runtime (`<toolchain>/usr/lib/swift/linux`,
    /// holding libswiftCore.so), from the `swift` on the PATH; nil without one.
    static func toolchainRuntimeDirectory() -> URL? {
        guard let swift = findOnPath("swift") else { return nil }
        let usr = URL(fileURLWithPath: swift).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
        let runtime = usr.appendingPathComponent("lib/swift/linux")
        return FileManager.default.fileExists(atPath: runtime.appendingPathComponent("libswiftCore.so").path) ? runtime : nil
    }

    static func findOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
