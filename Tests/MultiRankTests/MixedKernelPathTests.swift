import Foundation
import XCTest

/// A job whose ranks run different kernel paths, as on a cluster of mixed CPUs (docs/design.md,
/// "Kernel paths"): the paths give slightly different local meta-gradients, but the reduction and
/// the Adam step are the same code everywhere, so every rank holds the same φ; the consistency
/// check (every meta-step here) proves it, and every output names the mix.
final class MixedKernelPathTests: XCTestCase {
    /// The paths this machine can run: those that `METAOPT_KERNELS=<path> metaopt-dist --version`
    /// accepts (a path the CPU lacks exits 64 before anything runs).
    func supportedPaths() throws -> [String] {
        try ["avx512", "avx2", "portable"].filter { path in
            let result = try MPIJob.runSingleton(args: ["--version"], timeout: 30, environment: ["METAOPT_KERNELS": path])
            if result.status != 0 {
                XCTAssertEqual(result.status, 64, "\(path): \(result)")
                XCTAssertTrue(result.stderr.contains("METAOPT_KERNELS=\(path)") && result.stderr.contains("lacks"), "\(result)")
            }
            return result.status == 0
        }
    }

    /// A wrapper that gives rank r the path `paths[r mod count]`, then execs the binary.
    func wrapper(paths: [String], in directory: URL) throws -> URL {
        let binary = try MPIJob.binaryURL().path
        let cases = paths.enumerated().map { "    \($0.offset)) METAOPT_KERNELS=\($0.element) ;;" }.joined(separator: "\n")
        let script = """
            #!/bin/sh
            case $(( ${OMPI_COMM_WORLD_RANK:-0} % \(paths.count) )) in
            \(cases)
            esac
            export METAOPT_KERNELS
            exec '\(binary)' "$@"

            """
        let url = directory.appendingPathComponent("rank-kernels.sh")
        try script.write(to: url, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url
    }

    func testRanksOnDifferentPathsKeepTheSamePhi() throws {
        try DistributedTrain.requireMPIRun()
        let paths = try supportedPaths()
        XCTAssertTrue(paths.contains("portable"), "the portable path runs everywhere")
        guard paths.count >= 2 else { throw XCTSkip("this CPU runs only the \(paths[0]) kernels") }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let mixed = scratch.appendingPathComponent("mixed"), single = scratch.appendingPathComponent("single")
        let args = ["train"] + DistributedTrain.smallJob
            + ["--run-dir", mixed.path, "--no-resume", "--consistency-every", "1", "--verbose"]
        let result = try MPIJob.run(np: paths.count, args: args, timeout: DistributedTrain.jobTimeout,
                                    program: try wrapper(paths: paths, in: scratch))
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertEqual(result.status, 0, "the consistency check must pass at every meta-step:\n\(result)")
        let census = paths.map { "\($0):1" }.joined(separator: ",")
        XCTAssertTrue(result.stderr.contains("ranks run different kernel paths (\(census))"), "\(result)")
        for (rank, path) in paths.enumerated() {
            XCTAssertTrue(result.stderr.contains("[rank \(rank)] \(rank == 0 ? "info" : "debug") metaopt-dist: kernels: \(path),"),
                          "rank \(rank) should run \(path):\n\(result)")
        }
        let lines = try DistributedTrain.metrics(of: mixed)
        XCTAssertEqual(lines.count, 6)
        XCTAssertEqual(Set(lines.map { $0["kernels"] as? String }), [census])
        let output = try DistributedTrain.output(of: mixed)
        XCTAssertEqual(try DistributedTrain.recordedKernels(of: mixed).kernels, census)

        // One rank on the fastest path: a valid φ close to the mixed one, but not the same bits.
        let reference = try DistributedTrain.train(np: nil, runDirectory: single)
        XCTAssertEqual(reference.status, 0, "\(reference)")
        let phi = try DistributedTrain.output(of: single).phi
        XCTAssertEqual(phi.count, output.phi.count)
        let norm = sqrt(phi.reduce(0.0) { $0 + Double($1) * Double($1) })
        let diff = sqrt(zip(phi, output.phi).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) })
        print("mixed paths (\(census)) against one rank on \(paths[0]): φ relative difference \(diff / norm)")
        XCTAssertLessThan(diff / norm, 1e-4, "paths agree to Float accuracy")
        XCTAssertTrue(output.phi.allSatisfy(\.isFinite))
    }

    /// A run resumed on another path: rank 0 says so, and the optimizer file and the checkpoints
    /// record both paths in turn (they used to name the last one only, which cannot reproduce φ);
    /// a further resume on the same path adds nothing.
    func testResumeOnAnotherPathIsRecorded() throws {
        let paths = try supportedPaths()
        guard let first = paths.first, first != "portable" else { throw XCTSkip("this CPU runs only the portable kernels") }
        let dir = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        let job = ["train", "--meta-batch", "8", "--block-size", "4", "--unroll", "5", "--horizon", "10", "--seed", "7",
                   "--run-dir", dir.path]
        func recorded() throws -> DistributedTrain.RecordedKernels { try DistributedTrain.recordedKernels(of: dir) }
        let fresh = try MPIJob.runSingleton(args: job + ["--iterations", "4"], timeout: 60, environment: ["METAOPT_KERNELS": first])
        XCTAssertEqual(fresh.status, 0, "\(fresh)")
        XCTAssertEqual(try recorded().kernels, first)
        let history = "\(first) then portable"
        for iterations in ["6", "8"] {
            let resumed = try MPIJob.runSingleton(args: job + ["--iterations", iterations], timeout: 60,
                                                  environment: ["METAOPT_KERNELS": "portable"])
            XCTAssertEqual(resumed.status, 0, "\(resumed)")
            XCTAssertTrue(resumed.stderr.contains("resuming from"), "\(resumed)")
            let notice = "the checkpoint's φ was trained on kernels \(first), this job runs portable"
            XCTAssertEqual(resumed.stderr.contains(notice), iterations == "6", "the notice once, at the change:\n\(resumed)")
            XCTAssertEqual(try recorded().kernels, history)
            XCTAssertEqual(try recorded().provenance.kernels, "portable", "the process that wrote the file")
            let checkpoint = try DistributedTrain.output(of: dir).checkpoint
            XCTAssertNotNil(checkpoint.range(of: Data(history.utf8)), "the checkpoint's trained-kernels note")
        }
    }

    /// Ranks that run OpenBLAS's kernels for different cores (Intel and AMD nodes; here rank 0
    /// forced to Prescott's, which every x86-64 CPU runs) on an image task: rank 0 says so and the
    /// files record the mix; φ is the same on every rank (the consistency check). Nothing said it,
    /// and nothing recorded OpenBLAS's kernels at all.
    func testRanksOnDifferentOpenBLASKernelsAreSaidAndRecorded() throws {
        try DistributedTrain.requireMPIRun()
        #if !arch(x86_64)
        throw XCTSkip("OpenBLAS's x86-64 core types")
        #endif
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("needs Fashion-MNIST (dataset-fashion-mnist)")
        }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let binary = try MPIJob.binaryURL().path
        let wrapper = scratch.appendingPathComponent("rank-blas.sh")
        // The other rank runs the kernels OpenBLAS picks for this CPU, also where the caller exported
        // OPENBLAS_CORETYPE (=Prescott, both ranks would run the same kernels and say nothing).
        try "#!/bin/sh\nif [ \"${OMPI_COMM_WORLD_RANK:-0}\" = 0 ]; then export OPENBLAS_CORETYPE=Prescott; else unset OPENBLAS_CORETYPE; fi\nexec '\(binary)' \"$@\"\n"
            .write(to: wrapper, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
        let run = scratch.appendingPathComponent("run")
        let args = ["train", "--task", "mlp", "--hidden-size", "4", "--minibatch", "8", "--meta-batch", "2", "--block-size", "1",
                    "--unroll", "2", "--horizon", "4", "--iterations", "2", "--consistency-every", "1",
                    "--run-dir", run.path, "--no-resume"]
        let result = try MPIJob.run(np: 2, args: args, timeout: DistributedTrain.jobTimeout, program: wrapper)
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertEqual(result.status, 0, "the consistency check must pass at every meta-step:\n\(result)")
        XCTAssertTrue(result.stderr.contains("ranks run OpenBLAS's kernels for different cores, rank 0 those of Prescott (OPENBLAS_CORETYPE pins one; the files record \"mixed (rank 0: Prescott)\")"), "\(result)")
        let recorded = try DistributedTrain.recordedKernels(of: run)
        XCTAssertEqual(recorded.provenance.blas, "mixed (rank 0: Prescott)")

        // One kind of kernels on every rank: no word, and the core's name.
        let uniform = try MPIJob.run(np: 2, args: args, timeout: DistributedTrain.jobTimeout,
                                     environment: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(uniform.status, 0, "\(uniform)")
        XCTAssertFalse(uniform.stderr.contains("OpenBLAS's kernels for different cores"), "\(uniform)")
        let again = try DistributedTrain.recordedKernels(of: run)
        XCTAssertEqual(again.provenance.blas, "Prescott")
    }

    /// An unknown path, and a measurement switch of the kernels with a value they would ignore,
    /// are refused on every rank before MPI starts, naming the values they take.
    func testUnknownSettingsAreRefused() throws {
        let cases = [
            ("METAOPT_KERNELS", "avx1024", "METAOPT_KERNELS=avx1024 is not a kernel path; use one of auto, portable, avx2, avx512"),
            ("METAOPT_MATRIX_PRODUCTS", "blas",
             "METAOPT_MATRIX_PRODUCTS=blas is not a setting of the kernels; use own or openblas, or unset it"),
        ]
        for (variable, value, message) in cases {
            let result = try MPIJob.runSingleton(args: ["train", "--iterations", "1"], timeout: 30,
                                                 environment: [variable: value])
            XCTAssertEqual(result.status, 64, "\(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(result)")
        }
    }
}
