import Foundation
import XCTest

/// Runs small `metaopt-dist train` jobs for the distributed-training tests and reads what rank 0
/// wrote: the optimizer file (φ), the final checkpoint and metrics.jsonl.
enum DistributedTrain {
    /// A quadratic job that takes well under a second per run in a debug build: 24 functions in
    /// 6 blocks of 4 (uneven over 4 ranks, idle ranks at 8), 2 truncations per horizon, 6 meta-steps.
    static let smallJob = ["--meta-batch", "24", "--block-size", "4", "--unroll", "5", "--horizon", "10",
                           "--iterations", "6", "--seed", "7"]

    /// Longest time one of these jobs may take before the harness kills it.
    static let jobTimeout: TimeInterval = 90

    /// Skips when mpirun is missing, except in CI (CI=true) or with METAOPT_REQUIRE_MPI=1, where a
    /// missing mpirun is a failure (as in MultiRankTests).
    static func requireMPIRun() throws {
        guard MPIJob.mpirunPath == nil else { return }
        let env = ProcessInfo.processInfo.environment
        let message = "mpirun not found on PATH: install openmpi-bin (bash launch/setup.sh) to run the multi-rank tests"
        if env["CI"] == "true" || env["METAOPT_REQUIRE_MPI"] == "1" {
            throw MPIJobError(description: message)
        }
        throw XCTSkip(message)
    }

    /// A fresh scratch directory that `test` removes when it ends (pass or fail).
    static func scratchDirectory(for test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("metaopt-dist-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// `metaopt-dist train <job> --run-dir DIR --no-resume <extra>` with `np` ranks under mpirun,
    /// or as a singleton (no mpirun) when `np` is nil.
    static func train(np: Int?, runDirectory: URL, job: [String] = smallJob, extra: [String] = [],
                      extraMPIArgs: [String] = [], perRankOutput: Bool = false,
                      timeout: TimeInterval = jobTimeout) throws -> MPIJobResult {
        let args = ["train"] + job + ["--run-dir", runDirectory.path, "--no-resume", "--progress-every", "1"] + extra
        if let np {
            return try MPIJob.run(np: np, args: args, timeout: timeout, extraMPIArgs: extraMPIArgs,
                                  perRankOutput: perRankOutput)
        }
        return try MPIJob.runSingleton(args: args, timeout: timeout)
    }

    /// What a finished run left in its directory.
    struct Output {
        /// The optimizer file's bytes and its φ.
        var optimizerFile: Data
        var phi: [Float]
        /// The newest checkpoint's bytes (φ, Adam moments and counters) and its name.
        var checkpoint: Data
        var checkpointName: String
    }

    static func output(of runDirectory: URL) throws -> Output {
        let fm = FileManager.default
        let optimizerURL = runDirectory.appendingPathComponent("optimizer.json")
        guard let optimizer = fm.contents(atPath: optimizerURL.path) else {
            throw MPIJobError(description: "no optimizer file at \(optimizerURL.path)")
        }
        struct PhiOnly: Decodable { var phi: [Float] }
        let phi = try JSONDecoder().decode(PhiOnly.self, from: optimizer).phi
        let checkpoints = runDirectory.appendingPathComponent("checkpoints")
        let names = try fm.contentsOfDirectory(atPath: checkpoints.path).filter { $0.hasSuffix(".mopt") }.sorted()
        guard let newest = names.last, let bytes = fm.contents(atPath: checkpoints.appendingPathComponent(newest).path) else {
            throw MPIJobError(description: "no checkpoint in \(checkpoints.path)")
        }
        return Output(optimizerFile: optimizer, phi: phi, checkpoint: bytes, checkpointName: newest)
    }

    /// What an optimizer file records about the kernels: `kernels`, those φ was trained on (every
    /// path in turn, or the ranks' mix), and `provenance`, the process that wrote the file.
    struct RecordedKernels: Decodable {
        struct Provenance: Decodable {
            var kernels: String?
            /// OpenBLAS's kernels (its core type, or the ranks' mix).
            var blas: String?
        }
        var kernels: String?
        var provenance: Provenance
    }

    static func recordedKernels(of runDirectory: URL) throws -> RecordedKernels {
        try JSONDecoder().decode(RecordedKernels.self, from: Data(contentsOf: runDirectory.appendingPathComponent("optimizer.json")))
    }

    /// metrics.jsonl, one dictionary per meta-step.
    static func metrics(of runDirectory: URL) throws -> [[String: Any]] {
        let url = runDirectory.appendingPathComponent("metrics.jsonl")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw MPIJobError(description: "no metrics at \(url.path)")
        }
        return try data.split(separator: UInt8(ascii: "\n")).map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw MPIJobError(description: "a metrics line is not a JSON object: \(String(decoding: line, as: UTF8.self))")
            }
            return object
        }
    }

    /// Fails unless `a` and `b` hold the same φ bit for bit (and the same files byte for byte,
    /// apart from the provenance of the process that wrote them: its command line names its own
    /// run directory).
    static func assertIdentical(_ a: Output, _ b: Output, _ label: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.phi.count, b.phi.count, "\(label): φ sizes differ", file: file, line: line)
        let differing = zip(a.phi, b.phi).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        XCTAssertTrue(differing.isEmpty,
                      "\(label): \(differing.count) of \(a.phi.count) φ values differ, first at index \(differing.first?.offset ?? -1): \(differing.first.map { "\($0.element.0) vs \($0.element.1)" } ?? "")",
                      file: file, line: line)
        XCTAssertEqual(ProvenanceSupport.optimizerFileWithoutProvenance(a.optimizerFile),
                       ProvenanceSupport.optimizerFileWithoutProvenance(b.optimizerFile),
                       "\(label): optimizer files differ", file: file, line: line)
        XCTAssertEqual(a.checkpointName, b.checkpointName, "\(label): final checkpoints differ", file: file, line: line)
        let (ca, cb) = (try? ProvenanceSupport.checkpointContents(a.checkpoint), try? ProvenanceSupport.checkpointContents(b.checkpoint))
        XCTAssertNotNil(ca, "\(label): the first checkpoint does not parse", file: file, line: line)
        XCTAssertEqual(ca?.metaStep, cb?.metaStep, "\(label): checkpoint steps differ", file: file, line: line)
        XCTAssertEqual(ca?.metadataWithoutNotes, cb?.metadataWithoutNotes, "\(label): checkpoint metadata (counters, configuration) differ",
                       file: file, line: line)
        XCTAssertEqual(ca?.tensorRecords, cb?.tensorRecords, "\(label): checkpoint tensors (φ, Adam moments) differ",
                       file: file, line: line)
    }
}
