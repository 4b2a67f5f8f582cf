import Foundation
import XCTest
@testable import MetaOpt

/// `Provenance` in the files the library writes: the optimizer file (and files without it still
/// read), the first metrics line of a process (which the log readers and the resume truncation
/// take like any other), checkpoint notes, the export, and the shell form of the command line.
final class ProvenanceTests: XCTestCase {
    let provenance = Provenance(version: "0.1.0", commit: String(repeating: "ab", count: 20) + "+dirty",
                                command: ["metaopt-dist", "train", "--run-dir", "runs/it's here", "--seed", "7"],
                                kernels: "avx512:2,avx2:1", blas: "mixed (rank 0: Cooperlake)")

    func temporary(_ name: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("provenance-\(UUID().uuidString)-\(name)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func sampleFile(provenance: Provenance?) -> OptimizerFile {
        let config = LearnedOptimizerConfig(hiddenSizes: [3, 3], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
        let phi: [Float] = ParameterLayout(config).initialParameters(key: RandomKey(seed: 5, horizon: 0, task: 0))
        return OptimizerFile(optimizer: config, phi: phi, training: TrainingConfig(task: .quadratic(dimension: 4)),
                             iteration: 7, kernels: "avx512", provenance: provenance)
    }

    func testOptimizerFileRoundTripsItsProvenanceAndOldFilesStillRead() throws {
        let url = temporary("o.json")
        try sampleFile(provenance: provenance).write(to: url)
        let read = try OptimizerFile.read(from: url)
        XCTAssertEqual(read.provenance, provenance)
        XCTAssertEqual(read.exported().provenance, provenance, "export carries the file's provenance")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        XCTAssertEqual((object["provenance"] as? [String: Any])?.keys.sorted(), ["blas", "command", "commit", "kernels", "version"])

        // A file written before provenance existed (no key) reads, with none.
        let old = temporary("old.json")
        try sampleFile(provenance: nil).write(to: old)
        XCTAssertFalse(try String(contentsOf: old, encoding: .utf8).contains("provenance"))
        let oldRead = try OptimizerFile.read(from: old)
        XCTAssertNil(oldRead.provenance)
        XCTAssertEqual(oldRead.phi, sampleFile(provenance: nil).phi)
        // Without a commit (not built from git) the key is left out.
        var noCommit = provenance
        noCommit.commit = nil
        let encoded = try JSONEncoder().encode(noCommit)
        XCTAssertFalse(String(decoding: encoded, as: UTF8.self).contains("commit"))
        XCTAssertEqual(try JSONDecoder().decode(Provenance.self, from: encoded), noCommit)
        // Nor OpenBLAS's kernels in a file written before they were recorded.
        var noBLAS = provenance
        noBLAS.blas = nil
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(noBLAS), as: UTF8.self).contains("blas"))
        XCTAssertEqual(provenance.notes["blas"], "mixed (rank 0: Cooperlake)")
    }

    func testThisBuildIsStamped() {
        let current = Provenance.current(kernels: "portable", command: ["x"])
        XCTAssertEqual(current.version, Provenance.buildVersion)
        XCTAssertEqual(current.blas, blasCoreName, "this process's OpenBLAS kernels unless a job's are given")
        XCTAssertEqual(Provenance.current(kernels: "portable", blas: "mixed (rank 0: Haswell)", command: ["x"]).blas,
                       "mixed (rank 0: Haswell)")
        XCTAssertNotNil(current.version.range(of: #"^[0-9]+\.[0-9]+\.[0-9]+"#, options: .regularExpression), current.version)
        if let commit = current.commit {
            XCTAssertNotNil(commit.range(of: #"^[0-9a-f]{40}(\+dirty)?$"#, options: .regularExpression), commit)
        }
        XCTAssertTrue(Provenance.versionLine(kernels: "avx2").hasPrefix(Provenance.buildVersion + " (commit "))
        XCTAssertTrue(Provenance.versionLine(kernels: "avx2").hasSuffix(", kernels avx2)"))
    }

    func testCommandLineIsShellQuotedAndNotesHoldIt() {
        XCTAssertEqual(provenance.commandLine, "metaopt-dist train --run-dir 'runs/it'\\''s here' --seed 7")
        XCTAssertEqual(Provenance(version: "1", commit: nil, command: ["a", "", "$HOME", "x=1"], kernels: "k").commandLine,
                       "a '' '$HOME' x=1")
        XCTAssertEqual(provenance.notes, ["version": "0.1.0", "commit": provenance.commit!, "command": provenance.commandLine,
                                          "kernels": "avx512:2,avx2:1", "blas": "mixed (rank 0: Cooperlake)"])
        let config = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 2, unroll: 5, horizon: 20, iterations: 10, seed: 3)
        let checkpoint = try? TrainerCheckpoint.make(TrainerState(config: config), config: config, provenance: provenance)
        XCTAssertEqual(checkpoint?.metadata.notes, provenance.notes)
    }

    /// The first line of a process: the usual fields, then the provenance object; the readers take
    /// it as a step, and a resume's truncation keeps or drops it by its meta-step like any line.
    func testFirstMetricsLineCarriesProvenanceAndReadsBack() throws {
        let report = StepReport(iteration: 4, horizon: 1, truncation: 0, metaLoss: 0.5, meanStepLoss: 0.25,
                                gradientNorm: 1, skipped: false, skippedTotal: 0, computeMax: 2, computeMean: 1.5,
                                computeMin: 1, wait: 0.25, allreduce: 0.5, update: 0.125, stopRequested: false)
        let encoder = JSONLineEncoder()
        let first = try encoder.encode(MetricsLine(report, elapsed: 1, iterationsPerSecond: 2, kernels: KernelCensus(.avx2),
                                                   provenance: provenance))
        let plain = try encoder.encode(MetricsLine(report, elapsed: 1, iterationsPerSecond: 2, kernels: KernelCensus(.avx2)))
        XCTAssertEqual(first, String(plain.dropLast(2)) + ",\"provenance\":{\"blas\":\"mixed (rank 0: Cooperlake)\",\"command\":[\"metaopt-dist\",\"train\",\"--run-dir\","
                       + "\"runs/it's here\",\"--seed\",\"7\"],\"commit\":\"\(provenance.commit!)\",\"kernels\":\"avx512:2,avx2:1\","
                       + "\"version\":\"0.1.0\"}}\n")
        let object = try JSONSerialization.jsonObject(with: Data(first.utf8)) as! [String: Any]
        let nested = try JSONSerialization.data(withJSONObject: object["provenance"]!)
        XCTAssertEqual(try JSONDecoder().decode(Provenance.self, from: nested), provenance)
        // Read as the same step, marked as a process's first (plot sums each process's time).
        var marked = try TrainingLog.parseMetrics(Data(plain.utf8), source: "m")
        XCTAssertNil(marked.first?.provenance)
        marked[0].provenance = TrainingLog.Present()
        XCTAssertEqual(try TrainingLog.parseMetrics(Data(first.utf8), source: "m"), marked)

        let url = temporary("metrics.jsonl")
        var earlier = report
        earlier.iteration = 0
        let lines = try encoder.encode(MetricsLine(earlier, elapsed: 0, iterationsPerSecond: 0, kernels: KernelCensus(.avx2), provenance: provenance))
            + first
        try Data(lines.utf8).write(to: url)
        try MetricsLog.truncate(url, lines: TrainingLog.Step.self, before: 4)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), String(lines.prefix { $0 != "\n" }) + "\n",
                       "the first process's line kept verbatim, the line of meta-step 4 dropped")
    }
}
