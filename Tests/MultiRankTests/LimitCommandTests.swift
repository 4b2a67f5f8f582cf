import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sizes beyond the limits, configurations beyond the machine's memory, and input files that are
/// not regular files or hold numbers no field can take are refused up front with a message that
/// names the problem (#20 findings 4, 5, 6 and 11). Before: `--block-size 2^63−1` trained "8 in 0
/// block(s)" with rc 0, `--dimension 2^63−1` segfaulted, `evaluate --functions 99999999999999`
/// died in an allocation (rc 134), a FIFO as input blocked for ever, /dev/null said "You don't have
/// permission", a directory printed an NSCocoaErrorDomain dump, and `"optimizerCount": -1` made
/// export loop while its memory grew.
final class LimitCommandTests: XCTestCase {
    let short = ["--meta-batch", "8", "--block-size", "2", "--unroll", "5", "--horizon", "10", "--iterations", "4"]

    func assertRefused(_ args: [String], saying expected: String..., status: Int32 = 64, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try MPIJob.runSingleton(args: args, timeout: 60)
        XCTAssertFalse(result.timedOut, "\(args) timed out:\n\(result)", file: file, line: line)
        XCTAssertEqual(result.status, status, "\(args):\n\(result)", file: file, line: line)
        for fragment in expected {
            XCTAssertTrue(result.stderr.contains(fragment), "\(args) should say \"\(fragment)\":\n\(result)", file: file, line: line)
        }
        XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain"), "\(args):\n\(result)", file: file, line: line)
    }

    /// Counts with no upper bound overflowed and trapped (status 132), some after all the work:
    /// bench's repetitions and OpenBLAS threads, the hidden tools' sizes; plot's columns.
    func testHugeCountsOfTheOtherCommandsAreRefused() throws {
        let huge = "9223372036854775807"
        let bench = ["bench", "--task", "quadratic", "--repetitions", "1", "--warmup", "0", "--evaluation-steps", "1",
                     "--gemm-repetitions", "0", "--fma-peak-samples", "1"]
        try assertRefused(bench + ["--evaluation-repetitions", huge], saying: "--evaluation-repetitions must be at most 1000000")
        try assertRefused(bench + ["--blas-threads", "4294967296"], saying: "--blas-threads must be at most 1024")
        try assertRefused(["allreduce-bench", "--no-allgather", "--hidden-size", "4294967296"], saying: "the hidden size must be at most 16384")
        try assertRefused(["allreduce-bench", "--no-allgather", "--repetitions", huge], saying: "--repetitions must be at most 1000000")
        try assertRefused(["comm-check", "--count", "4294967296"], saying: "--count must be at most 134217728")
        try assertRefused(["scaling-model", "--measured", "\(huge):0.5:x"], saying: "--measured wants RANKS:EFFICIENCY:LABEL")
        try assertRefused(["scaling-model", "--network", "slow:inf:1"], saying: "--network wants NAME:ALPHA_US:BETA_NS_PER_BYTE")
        try assertRefused(["scaling-model", "--noise", "-1"], saying: "--noise must be finite and not negative")
        try assertRefused(["scaling-model", "--validation-meta-batch", "0"], saying: "--validation-meta-batch must be positive")
    }

    func testHugeSizesAreRefusedBeforeAnyWork() throws {
        let run = try makeRunDirectory("limits")
        let max = "9223372036854775807"
        let train = ["train", "--run-dir", run.path]
        try assertRefused(train + short + ["--block-size", max], saying: "the block size must be at most")
        try assertRefused(train + short + ["--meta-batch", max], saying: "the meta-batch size must be at most")
        try assertRefused(train + ["--dimension", max], saying: "the quadratic dimension must be at most")
        try assertRefused(train + ["--unroll", max, "--horizon", max], saying: "the unroll length must be at most")
        try assertRefused(train + ["--hidden-size", max], saying: "the hidden size must be at most")
        try assertRefused(train + ["--task", "mlp", "--hidden-layers", max], saying: "a layer width or channel count must be at most")
        try assertRefused(train + ["--task", "cnn", "--conv-channels", max], saying: "a layer width or channel count must be at most")
        try assertRefused(train + short + ["--validate-every", "2", "--validation-functions", "99999999999999"],
                          saying: "the number of validation functions must be at most")
        try assertRefused(["evaluate", "--optimizer", "none.json", "--functions", "99999999999999"], saying: "--functions must be at most")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("optimizer.json").path))
    }

    func testConfigurationsBeyondMemoryAreRefused() throws {
        let run = try makeRunDirectory("memory")
        try assertRefused(["train", "--run-dir", run.path, "--task", "rosenbrock", "--dimension", "100000000"] + short,
                          saying: "100000000 coordinates × block size 2 × 4 blocks of the meta-batch 8 on one rank, unroll 5, would need about")
        try assertRefused(["train", "--run-dir", run.path, "--max-memory", "0.0001"] + short, saying: "more than the 0.0001 GiB available")
        // The limit as written, not truncated to a whole byte below it (9.99e-07).
        try assertRefused(["train", "--run-dir", run.path, "--max-memory", "0.000001"] + short, saying: "more than the 1e-06 GiB available")
        // The same small job fits without the cap.
        let fits = try MPIJob.runSingleton(args: ["train", "--run-dir", run.path, "--max-memory", "1"] + short, timeout: 60)
        XCTAssertEqual(fits.status, 0, "\(fits)")
    }

    /// Under an address-space limit (`ulimit -v`, which Slurm passes on, PBS's and SGE's h_vmem)
    /// a job that did not fit died in an allocation with a trap and a stack trace (status 134):
    /// the limit, less what the process has mapped, now bounds --max-memory's default, and the
    /// refusal names it. A small job under the same limit still runs.
    func testAnAddressSpaceLimitBoundsTheMemoryDefault() throws {
        let run = try makeRunDirectory("address-space")
        let limited = { (args: [String]) throws -> MPIJobResult in
            try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"),
                                  arguments: ["-c", "ulimit -v 1000000 && exec \"$0\" \"$@\"", try MPIJob.binaryURL().path] + args, timeout: 60)
        }
        let big = try limited(["train", "--run-dir", run.path, "--dimension", "4096", "--meta-batch", "1", "--block-size", "1", "--iterations", "1"])
        XCTAssertEqual(big.status, 64, "\(big)")
        XCTAssertTrue(big.stderr.contains("available (what the process's address-space limit (ulimit -v or -d) leaves; --max-memory sets the limit)"), "\(big)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("metrics.jsonl").path))
        let small = try limited(["train", "--run-dir", run.path] + short)
        XCTAssertEqual(small.status, 0, "\(small)")
    }

    /// Configurations the old estimate let through (it left out the tiles' padding and the
    /// functions' own memory) and that then died allocating (rc 134) or grew to tens of GB: now
    /// refused at once with status 64, before any large allocation.
    func testEstimatesCountPaddingAndTheFunctions() throws {
        let run = try makeRunDirectory("memory-estimate")
        let one = ["train", "--run-dir", run.path, "--meta-batch", "1", "--block-size", "1", "--iterations", "1"]
        try assertRefused(one + ["--dimension", "1", "--unroll", "32768", "--horizon", "32768", "--max-memory", "4"],
                          saying: "meta-training 1 coordinates × block size 1 × 1 block, unroll 32768, would need about")
        // (The largest hidden size whose φ train can write: 1180; about 2.63 GiB, and 4.75 GiB
        // where the AVX-512 path pairs the forward products and keeps their weights broadcast.)
        try assertRefused(one + ["--dimension", "1", "--hidden-size", "1180", "--max-memory", "2"], saying: "more than the 2 GiB available")
        // An explicit limit where the estimate (1.22e3 GiB, 288 GiB for evaluate's below) is not
        // beyond every host's memory, the default limit.
        try assertRefused(one + ["--dimension", "65536", "--max-memory", "64"],
                          saying: "meta-training 65536 coordinates × block size 1 × 1 block, unroll 20, would need about")
        let optimizers = ShippedOptimizersTests.directory
        let evaluate = ["evaluate", "--functions", "1", "--baselines", "none", "--out", run.appendingPathComponent("eval").path]
        try assertRefused(evaluate + ["--optimizer", optimizers.appendingPathComponent("quadratic.json").path, "--task", "quadratic", "--dimension", "65536",
                                      "--max-memory", "64"],
                          saying: "evaluating 1 function of the quadratic task (65536 coordinates each) for 100 steps would need about")
        try assertRefused(evaluate + ["--optimizer", optimizers.appendingPathComponent("generalist.json").path, "--task", "rosenbrock",
                                      "--dimension", "1073741824", "--steps", "2"],
                          saying: "the rosenbrock task (1073741824 coordinates each) for 2 steps would need about")
        // evaluate's own --max-memory, given back as written.
        try assertRefused(evaluate + ["--optimizer", optimizers.appendingPathComponent("quadratic.json").path, "--max-memory", "0.001"],
                          saying: "more than the 0.001 GiB available (--max-memory sets the limit)")
        // The files' making counts: estimated at 0.17 GiB without it, this peaked at 0.29 GiB
        // (0.40 GiB while every file was made before the first was written), and under a limit
        // trapped in its last allocation with its results lost.
        try assertRefused(["evaluate", "--optimizer", optimizers.appendingPathComponent("quadratic.json").path, "--steps", "262144",
                           "--functions", "1", "--tuning-functions", "1", "--max-memory", "0.3", "--out", run.appendingPathComponent("eval").path],
                          // 0.332 GiB where the forward products are paired, 0.331 elsewhere
                          saying: "for 262144 steps would need about 0.33", "GiB, more than the 0.3 GiB available")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("eval").path))
    }

    func testInputsThatAreNotRegularFilesAreNamed() throws {
        let dir = try makeRunDirectory("inputs")
        let fifo = dir.appendingPathComponent("fifo.json").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        for command in ["export", "evaluate"] {
            try assertRefused([command, "--optimizer", fifo], saying: "\(fifo) is not a regular file", status: exitStatus(command))
            try assertRefused([command, "--optimizer", "/dev/null"], saying: "/dev/null is not a regular file", status: exitStatus(command))
            try assertRefused([command, "--optimizer", dir.path], saying: "\(dir.path) is a directory", status: exitStatus(command))
        }
        try assertRefused(["train", "--config", fifo], saying: "is not a regular file")
    }

    /// export's and evaluate's status for a bad input file (an error thrown from run()).
    /// A FIFO, a device or a directory given as the optimizer file is bad input data (65), as a
    /// file that is not an optimizer file is; `train --config` refuses it as a usage error.
    func exitStatus(_ command: String) -> Int32 { 65 }

    func testOptimizerFileNumbersAreChecked() throws {
        let run = try makeRunDirectory("numbers")
        let trained = try MPIJob.runSingleton(args: ["train", "--run-dir", run.path] + short, timeout: 60)
        XCTAssertEqual(trained.status, 0, "\(trained)")
        let valid = try String(contentsOf: run.appendingPathComponent("optimizer.json"), encoding: .utf8)
        let edited = run.appendingPathComponent("edited.json")
        func edit(_ pattern: String, _ replacement: String) throws {
            let range = try XCTUnwrap(valid.range(of: pattern, options: .regularExpression), pattern)
            try Data(valid.replacingCharacters(in: range, with: replacement).utf8).write(to: edited)
        }
        let cases: [(String, String, String)] = [
            ("\"optimizerCount\":1", "\"optimizerCount\":-1", "optimizerCount must be at least 1"),
            ("\"dimension\":10", "\"dimension\":-10", "the quadratic dimension must be positive"),
            ("\"dimension\":10", "\"dimension\":100000000", "the quadratic dimension must be at most"),
            ("\"outputScale\":1", "\"outputScale\":0", "outputScale must be positive"),
            ("\"phi\":\\[[^,]*,", "\"phi\":[1e-50,", "phi[0]: 1e-50 underflows a 32-bit float"),
            ("\"phi\":\\[[^,]*,", "\"phi\":[NaN,", "is not valid JSON near \"phi\""),
            ("\"seed\":[0-9]+", "\"seed\":-1", "training.seed: must not be negative"),
        ]
        for (pattern, replacement, message) in cases {
            try edit(pattern, replacement)
            try assertRefused(["export", "--optimizer", edited.path], saying: message, status: 65)
        }
    }
}
