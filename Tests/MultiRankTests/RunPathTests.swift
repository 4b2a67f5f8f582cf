import Foundation
import XCTest

/// Paths that would make a run write where it should not are refused before any work, with
/// status 64: an empty --run-dir (the current directory), and an --output that is one of the
/// run's own files (metrics.jsonl silently overwritten by the optimizer before).
final class RunPathTests: XCTestCase {
    func testPathsThatWouldOverwriteTheRunAreRefused() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let dir = scratch.appendingPathComponent("run").path
        let binary = try MPIJob.binaryURL().path
        try FileManager.default.createSymbolicLink(atPath: scratch.appendingPathComponent("to-scratch").path, withDestinationPath: scratch.path)
        let cases: [([String], String)] = [
            (["--run-dir", ""], "--run-dir must not be empty"),
            (["--run-dir", dir, "--output", dir + "/metrics.jsonl"], "would overwrite the run's own metrics.jsonl"),
            (["--run-dir", dir, "--output", dir + "/./config.json"], "would overwrite the run's own config.json"),
            (["--run-dir", dir, "--output", dir + "/checkpoints/phi.json"], "would overwrite the run's own checkpoints/"),
            (["--run-dir", dir, "--output", dir + "/train.lock"], "would overwrite the run's own train.lock"),
            (["--run-dir", dir, "--output", dir + "/best-optimizer.previous.json"],
             "would overwrite the run's own best-optimizer.previous.json"),
            (["--run-dir", dir, "--output", dir + "/checkpoints.previous/phi.json"],
             "would overwrite the run's own checkpoints.previous/"),
            (["--run-dir", dir, "--output", ""], "--output must not be empty"),
            // The run directory, or a folder above it, not made yet: the run trained to the end,
            // then failed to write the optimizer (status 1).
            (["--run-dir", dir, "--output", dir], "is the run directory or a folder it is in"),
            (["--run-dir", dir + "/a/b", "--output", dir + "/a/"], "is the run directory or a folder it is in"),
            // Through a link to the folder above (a comparison of the paths' text let it by).
            (["--run-dir", scratch.appendingPathComponent("to-scratch").path + "/run/b", "--output", dir], "is the run directory or a folder it is in"),
        ]
        for (extra, message) in cases {
            // From an empty working directory, so that a binary that accepts '' writes nothing here.
            let cwd = scratch.appendingPathComponent("cwd-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
            let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                               arguments: ["-c", "cd \"$0\" && exec \"$@\"", cwd.path, binary, "train"]
                                                   + DistributedTrain.smallJob + extra,
                                               timeout: 30)
            XCTAssertEqual(result.status, 64, "\(extra): \(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(extra) should say \"\(message)\":\n\(result)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "\(extra): nothing may be written")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cwd.path), [], "\(extra): nothing may be written")
        }
    }
}
