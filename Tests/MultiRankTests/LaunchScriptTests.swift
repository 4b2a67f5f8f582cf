import Foundation
import XCTest

/// What launch/local.sh and launch/hostfile.sh (and launch/common.sh, which both source) do with
/// a user's mistakes: one line that says what is wrong and a non-zero status, before mpirun starts
/// a rank; and the forms their headers document. (launch/restart.sh: FaultToleranceTests.)
final class LaunchScriptTests: XCTestCase {
    /// `bash launch/NAME ARGUMENTS` started in `directory` (a scratch directory by default), with
    /// `environment` added and METAOPT_BIN the binary under test unless `environment` sets it.
    private func launch(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                        in directory: URL? = nil) throws -> MPIJobResult {
        let script = FaultTest.repositoryRoot.appendingPathComponent("launch/\(name)").path
        let cwd = try directory ?? makeRunDirectory("launch-cwd")
        var env = ["METAOPT_BIN": try MPIJob.binaryURL().path]
        env.merge(environment) { _, new in new }
        return try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"),
                                     arguments: ["-c", "cd \"$0\" && exec bash \"$@\"", cwd.path, script] + arguments,
                                     timeout: FaultTest.jobTimeout, environment: env)
    }

    /// Fails unless `result` is the script's own refusal: `status`, a line containing `message`,
    /// and none of mpirun's banners (no rank was started).
    private func assertRefused(_ result: MPIJobResult, status: Int32, _ message: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.timedOut, "\(result)", file: file, line: line)
        XCTAssertEqual(result.status, status, "\(result)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "missing '\(message)':\n\(result)", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("-----"), "mpirun ran:\n\(result)", file: file, line: line)
    }

    /// METAOPT_BIN: a bare name is a command on the PATH (it used to be looked for in the
    /// repository root and reported missing); a directory is refused by the script (`-x` accepted
    /// it, and mpirun then failed to start every rank with a page of output).
    func testMetaoptBinForms() throws {
        try requireMPIRunForFaultTests()
        let bin = try makeRunDirectory("launch-path")
        let name = "metaopt-dist-under-test"
        try FileManager.default.createSymbolicLink(at: bin.appendingPathComponent(name), withDestinationURL: try MPIJob.binaryURL())
        let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let onPath = try launch("local.sh", ["-np", "1", "comm-check"], environment: ["METAOPT_BIN": name, "PATH": path])
        assertSucceeded(onPath, "METAOPT_BIN=\(name) on the PATH")
        XCTAssertTrue(onPath.stdout.contains("COMMCHECK rank=0 size=1 ok=1"), "\(onPath)")

        let missing = try launch("local.sh", ["-np", "1", "comm-check"], environment: ["METAOPT_BIN": "no-such-metaopt-binary"])
        assertRefused(missing, status: 1, "local.sh: no-such-metaopt-binary not found")

        let directory = try launch("local.sh", ["-np", "1", "comm-check"], environment: ["METAOPT_BIN": bin.path])
        assertRefused(directory, status: 1, "local.sh: \(bin.path) is not an executable file (METAOPT_BIN)")
    }

    /// -np and its forms: a bad count, -np=N, and -np twice (which used to
    /// reach the binary: every rank printed "Unknown option '-np'" under mpirun's banner) are
    /// refused by the script with status 64, local.sh and hostfile.sh alike.
    func testRankCountForms() throws {
        try requireMPIRunForFaultTests()
        for (arguments, message) in [(["-np", "0"], "the number of ranks must be a positive integer, got '0'"),
                                     (["-np", "abc"], "the number of ranks must be a positive integer, got 'abc'"),
                                     (["-np=2"], "give the number of ranks as '-np N'"),
                                     (["-np", "1", "-np", "2"], "give the number of ranks once (got '-np' after -np 1)"),
                                     (["-n", "1", "--np", "2"], "give the number of ranks once (got '--np' after -np 1)")] {
            assertRefused(try launch("local.sh", arguments + ["comm-check"]), status: 64, "local.sh: \(message)")
            assertRefused(try launch("hostfile.sh", ["localhost"] + arguments + ["comm-check"]), status: 64, "hostfile.sh: \(message)")
        }
        assertRefused(try launch("local.sh", ["comm-check"], environment: ["NP": "two"]), status: 64,
                      "local.sh: the number of ranks must be a positive integer, got 'two'")
    }
}
