import Foundation
import XCTest

/// A job whose hosts hold different builds of the binary (a node left with an older copy): the
/// ranks compare their builds in the job's first collective, and the job ends with status 65 and
/// a message that names every rank's build, instead of an MPI error of no help or a run of two
/// programs.
final class DifferingBuildsTests: XCTestCase {
    func testRanksOfAnotherBuildEndTheJobWithEveryRanksBuildNamed() throws {
        try DistributedTrain.requireMPIRun()
        let binary = try MPIJob.binaryURL()
        let version = try MPIJob.runSingleton(args: ["--version"], timeout: 30)
        XCTAssertEqual(version.status, 0, "\(version)")
        // "0.1.0 (commit 1a2b3c4d5e6f, kernels avx512)": the commit's first 12 digits.
        guard let range = version.stdout.range(of: #"commit [0-9a-f]{12}"#, options: .regularExpression) else {
            throw XCTSkip("this build records no git commit: \(version.stdout)")
        }
        let prefix = String(version.stdout[range].dropFirst("commit ".count))
        // Another build, as far as the check can tell: a copy whose stamped commit differs.
        var bytes = try Data(contentsOf: binary)
        let stamped = try XCTUnwrap(bytes.range(of: Data(prefix.utf8)), "the commit is stamped into the binary")
        let other = String(prefix.map { $0 == "0" ? "1" : "0" })
        bytes.replaceSubrange(stamped, with: Data(other.utf8))
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let copy = scratch.appendingPathComponent("metaopt-dist-other")
        try bytes.write(to: copy)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy.path)
        let copyVersion = try MPIJob.runProcess(executable: copy, arguments: ["--version"], timeout: 30, environment: [:])
        XCTAssertTrue(copyVersion.stdout.contains("commit \(other)"), "\(copyVersion)")

        // Rank 1 runs the copy, ranks 0 and 2 the build under test.
        let wrapper = scratch.appendingPathComponent("rank-binary.sh")
        try """
            #!/bin/sh
            if [ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ]; then exec '\(copy.path)' "$@"; fi
            exec '\(binary.path)' "$@"

            """.write(to: wrapper, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
        let run = scratch.appendingPathComponent("run")
        let result = try MPIJob.run(np: 3, args: ["train"] + DistributedTrain.smallJob + ["--run-dir", run.path],
                                    timeout: DistributedTrain.jobTimeout, program: wrapper)
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertEqual(result.status, 65, "a restart would meet the same builds:\n\(result)")
        XCTAssertTrue(result.stderr.contains("the ranks run different builds of metaopt-dist: ranks 0, 2: "), "\(result)")
        XCTAssertTrue(result.stderr.contains("(commit \(prefix)"), "\(result)")
        XCTAssertTrue(result.stderr.contains("; rank 1: "), "\(result)")
        XCTAssertTrue(result.stderr.contains("(commit \(other)"), "\(result)")
        XCTAssertEqual(result.stderr.components(separatedBy: "different builds").count - 1, 1, "rank 0 says it once:\n\(result)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("config.json").path),
                       "the run ended before it wrote anything:\n\(result)")
    }
}
