import Foundation
import XCTest

/// The trained optimizers in optimizers/: every file loads, says how it was made, has its row in
/// optimizers/README.md, and the quadratic one (the default job's, cheap to evaluate) reproduces
/// its row with the command the README gives. The MLP and CNN rows take minutes to evaluate; their
/// commands are in the README and were run when the files were added.
final class ShippedOptimizersTests: XCTestCase {
    static let directory = ProvenanceCommandTests.packageRoot.appendingPathComponent("optimizers")

    struct ShippedFile: Decodable {
        struct Provenance: Decodable {
            var version: String
            var commit: String?
            var command: [String]
            var kernels: String
        }
        struct Training: Decodable {
            var seed: UInt64
            var iterations: Int
        }
        var format: String
        var iteration: Int
        var provenance: Provenance
        var training: Training
    }

    static func shippedFiles() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    static func readme() throws -> String {
        try String(contentsOf: directory.appendingPathComponent("README.md"), encoding: .utf8)
    }

    func testEveryFileLoadsAndNamesItsOrigin() throws {
        let files = try Self.shippedFiles()
        XCTAssertEqual(Set(files.map(\.lastPathComponent)),
                       ["quadratic.json", "mlp-p5.json", "mlp-p20.json", "cnn.json", "cnn-fine-tuned.json", "generalist.json"])
        let readme = try Self.readme()
        for file in files {
            let name = file.lastPathComponent
            let shipped = try JSONDecoder().decode(ShippedFile.self, from: Data(contentsOf: file))
            XCTAssertEqual(shipped.format, "metaopt-dist.optimizer", name)
            XCTAssertFalse(shipped.provenance.version.isEmpty, name)
            let commit = try XCTUnwrap(shipped.provenance.commit, "\(name): no commit")
            XCTAssertNotNil(commit.wholeMatch(of: /[0-9a-f]{40}/), "\(name): commit \(commit) is not a clean build's")
            XCTAssertEqual(Array(shipped.provenance.command.prefix(2)), ["metaopt-dist", "train"], name)
            XCTAssertTrue(["avx512", "avx2", "portable"].contains(shipped.provenance.kernels), name)
            XCTAssertGreaterThan(shipped.iteration, 0, name)
            XCTAssertLessThanOrEqual(shipped.iteration, shipped.training.iterations, name)
            XCTAssertTrue(readme.contains("| `\(name)` |"), "\(name) has no row in optimizers/README.md")
            // The binary reads it (layout, φ length, configuration) and exports it.
            let exported = try MPIJob.runSingleton(args: ["export", "--optimizer", file.path], timeout: 60)
            XCTAssertEqual(exported.status, 0, "\(name): \(exported)")
            XCTAssertTrue(exported.stdout.contains("\"tensors\""), name)
        }
    }

    /// The README's evaluate command for quadratic.json prints the LSTM row the README's table
    /// states (0.127 / 0.005535), to the four significant digits shown: the φ is fixed, so only the
    /// kernel path's last bits could move it (they did not on avx512, avx2 or portable).
    func testQuadraticOptimizerReproducesItsRow() throws {
        let readme = try Self.readme()
        let row = try XCTUnwrap(readme.split(separator: "\n").first { $0.hasPrefix("| `quadratic.json` |") })
        let stated = try XCTUnwrap(row.firstMatch(of: /\*\*([0-9.]+)\*\* \/ \*\*([0-9.]+)\*\*/),
                                   "no mean / median in \(row)")
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let out = scratch.appendingPathComponent("eval")
        let result = try MPIJob.runSingleton(
            args: ["evaluate", "--optimizer", Self.directory.appendingPathComponent("quadratic.json").path,
                   "--functions", "100", "--steps", "100", "--baselines", "sgd,nag,rmsprop,adam", "--out", out.path],
            timeout: 300)
        XCTAssertEqual(result.status, 0, "\(result)")
        let summary = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        let lstm = try XCTUnwrap(summary.split(separator: "\n").first { $0.hasPrefix("| LSTM |") }, summary)
        let printed = try XCTUnwrap(lstm.firstMatch(of: /\| LSTM \| – \| ([0-9.]+) \| ([0-9.]+) \|/), String(lstm))
        XCTAssertEqual(String(printed.1), String(stated.1), "mean final loss")
        XCTAssertEqual(String(printed.2), String(stated.2), "median final loss")
    }
}
