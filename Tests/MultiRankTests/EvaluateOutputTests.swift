import Foundation
import XCTest

/// What `evaluate`, `plot` and `export` leave at their outputs and say about their paths, on the
/// shipped optimizer files (no training needed): no file of an earlier evaluation beside a new
/// report, and one-line errors that name the path at fault.
final class EvaluateOutputTests: XCTestCase {
    static let optimizers = ProvenanceCommandTests.packageRoot.appendingPathComponent("optimizers")

    /// Runs metaopt-dist without mpirun (evaluate, plot and export run in one process).
    func metaopt(_ args: [String]) throws -> MPIJobResult {
        try MPIJob.runProcess(executable: try MPIJob.binaryURL(), arguments: args, timeout: 120)
    }

    /// A layer-trace.csv of an earlier evaluation (other steps, other baselines) used to stay in
    /// --out beside the new report.json, which it does not describe.
    func testAnEarlierLayerTraceIsNotLeftBesideANewReport() throws {
        let out = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("eval")
        let trace = out.appendingPathComponent("layer-trace.csv")
        let evaluate = ["evaluate", "--optimizer", Self.optimizers.appendingPathComponent("mlp-p5.json").path,
                        "--functions", "1", "--tuning-functions", "1", "--out", out.path]
        let traced = try metaopt(evaluate + ["--steps", "3", "--baselines", "adam", "--layer-trace"])
        XCTAssertEqual(traced.status, 0, "\(traced)")
        XCTAssertTrue(try String(contentsOf: trace, encoding: .utf8).contains(",Adam,W1,"))
        // Steps 0, 1 and 2 for every optimizer (the LSTM had a row for step 3 too).
        let steps = try String(contentsOf: trace, encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",") }.map { "\($0[1]) \($0[0])" }
        XCTAssertEqual(Set(steps), Set(["LSTM", "Adam"].flatMap { o in (0..<3).map { "\(o) \($0)" } }), "\(steps)")

        let plain = try metaopt(evaluate + ["--steps", "4", "--baselines", "sgd"])
        XCTAssertEqual(plain.status, 0, "\(plain)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: trace.path), "the earlier trace is gone:\n\(plain)")
        XCTAssertTrue(plain.stdout.contains("removed \(trace.path): an earlier evaluation's (this one has no --layer-trace)"), "\(plain)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(),
                       ["loss.svg", "report.json", "statistics.csv", "summary.md"])
    }

    /// Without --out, a run's optimizer.json and best-optimizer.json are evaluated into eval and
    /// eval-best-optimizer: both used to go to eval, the second evaluation replacing the first.
    func testTheTwoFilesOfARunAreEvaluatedApart() throws {
        let run = try DistributedTrain.scratchDirectory(for: self)
        let shipped = Self.optimizers.appendingPathComponent("quadratic.json")
        for name in ["optimizer.json", "best-optimizer.json"] {
            try FileManager.default.copyItem(at: shipped, to: run.appendingPathComponent(name))
            let result = try metaopt(["evaluate", "--optimizer", run.appendingPathComponent(name).path, "--functions", "1",
                                      "--tuning-functions", "1", "--steps", "2", "--baselines", "sgd"])
            XCTAssertEqual(result.status, 0, "\(name): \(result)")
        }
        for folder in ["eval", "eval-best-optimizer"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("\(folder)/report.json").path), folder)
        }
        // One function is "1 function" in the summary and the plot (they said "1 functions").
        let summary = try String(contentsOf: run.appendingPathComponent("eval/summary.md"), encoding: .utf8)
        XCTAssertTrue(summary.contains("Final loss after 2 steps on 1 function."), summary)
        let plot = try String(contentsOf: run.appendingPathComponent("eval/loss.svg"), encoding: .utf8)
        XCTAssertTrue(plot.contains("quadratic: 1 held-out function<") && plot.contains("mean over 1 function;"), plot)
    }

    /// An output below a regular file (`--out results.txt`): the message names that file. It used
    /// to be "lstat failed: Not a directory (errno 20)" of the whole path (evaluate) or Foundation's
    /// "A file with the same name already exists" with its error domain (plot, export).
    func testAnOutputBelowARegularFileNamesThatFile() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let plain = scratch.appendingPathComponent("results.txt")
        try Data("kept\n".utf8).write(to: plain)
        let optimizer = Self.optimizers.appendingPathComponent("quadratic.json").path
        let runs: [(args: [String], written: String)] = [
            (["evaluate", "--optimizer", optimizer, "--functions", "1", "--steps", "2", "--tuning-functions", "1", "--out", plain.path],
             plain.appendingPathComponent("report.json").path),
            (["plot", "--evaluations", ProvenanceCommandTests.packageRoot.appendingPathComponent("docs/results/quadratic").path,
              "--out", plain.path + "/panel.svg"], plain.path + "/panel.svg"),
            (["export", "--optimizer", optimizer, "--output", plain.path + "/sub/export.json"], plain.path + "/sub/export.json"),
        ]
        for (args, written) in runs {
            let result = try metaopt(args)
            // 65, as train's refusal of such a path: no retry would write it.
            XCTAssertEqual(result.status, 65, "\(args[0]): \(result)")
            XCTAssertTrue(result.stderr.contains("\(plain.path): is a regular file, not a directory: \(written) cannot be created in it"),
                          "\(args[0]): \(result)")
            XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain"), "\(args[0]): \(result)")
        }
        XCTAssertEqual(try String(contentsOf: plain, encoding: .utf8), "kept\n")
    }

    /// An empty path is refused by its option's name (it meant the current directory: evaluate
    /// said "DIR is a directory", plot read DIR as a run or refused to replace it).
    func testEmptyPathsAreRefusedByName() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let refusals: [([String], String)] = [
            (["evaluate", "--optimizer", ""], "--optimizer must not be empty"),
            (["plot", ""], "a run directory must not be empty"),
            (["plot", "--evaluations", ""], "--evaluations: a report must not be empty"),
            (["plot", scratch.path, "--out", ""], "--out must not be empty"),
        ]
        for (args, message) in refusals {
            let result = try metaopt(args)
            XCTAssertEqual(result.status, 64, "\(args): \(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(args): \(result)")
        }
    }

    /// export's output given back to evaluate is named for what it is, with what to give instead
    /// (it said only "not a metaopt-dist optimizer file").
    func testAnExportGivenAsTheOptimizerIsNamed() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let export = scratch.appendingPathComponent("export.json")
        let exported = try metaopt(["export", "--optimizer", Self.optimizers.appendingPathComponent("quadratic.json").path,
                                    "--output", export.path])
        XCTAssertEqual(exported.status, 0, "\(exported)")
        let back = try metaopt(["evaluate", "--optimizer", export.path, "--out", scratch.appendingPathComponent("eval").path])
        XCTAssertEqual(back.status, 65, "\(back)")
        XCTAssertTrue(back.stderr.contains("\(export.path) is an export (\"format\": \"metaopt-dist.optimizer-export\"), which only other programs read; give the optimizer file it was exported from"), "\(back)")
    }

    /// An input that reads but is not what it must be ends with 65 (bad data, as train's
    /// --init-from), a file that cannot be read at all with 1; a file that is not JSON says so.
    func testBadInputFilesEndWithTheDataStatus() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let notJSON = scratch.appendingPathComponent("open.json"), trailing = scratch.appendingPathComponent("trailing.json")
        try Data("{".utf8).write(to: notJSON)
        try (try Data(contentsOf: Self.optimizers.appendingPathComponent("quadratic.json")) + Data(" x".utf8)).write(to: trailing)
        let run = scratch.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try Data("garbage\n{}\n".utf8).write(to: run.appendingPathComponent("metrics.jsonl"))
        for (args, status, fragment) in [
            (["export", "--optimizer", notJSON.path], 65, "open.json is not valid JSON"),
            (["evaluate", "--optimizer", trailing.path], 65, "trailing.json is not valid JSON: it goes on after its value ends"),
            (["export", "--optimizer", scratch.appendingPathComponent("missing.json").path], 1, "missing.json cannot be read (no such file)"),
            (["plot", run.path], 65, "metrics.jsonl:1: "),
        ] {
            let result = try metaopt(args)
            XCTAssertEqual(result.status, Int32(status), "\(args): \(result)")
            XCTAssertTrue(result.stderr.contains(fragment), "\(args): \(result)")
        }
    }

    /// export's and plot's outputs in a folder they may not write end with 65, as evaluate's and
    /// bench's do: a restart would meet the refusal again (they ended with 1, which
    /// launch/restart.sh retries).
    func testAnOutputFolderThatCannotBeWrittenEndsWithTheDataStatus() throws {
        let locked = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
        // Root writes past permissions; an immutable folder stops root too (where the file
        // system has the flag).
        func chattr(_ flag: String) -> Bool {
            (try? MPIJob.runProcess(executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: ["chattr", flag, locked.path],
                                    timeout: 30).status) == 0
        }
        guard geteuid() != 0 ? chmod(locked.path, 0o555) == 0 : chattr("+i") else {
            throw XCTSkip("cannot make a folder read-only here")
        }
        defer { if geteuid() != 0 { chmod(locked.path, 0o755) } else { _ = chattr("-i") } }
        let evaluations = ProvenanceCommandTests.packageRoot.appendingPathComponent("docs/results/quadratic").path
        for args in [["export", "--optimizer", Self.optimizers.appendingPathComponent("quadratic.json").path,
                      "--output", locked.appendingPathComponent("export.json").path],
                     ["plot", "--evaluations", evaluations, "--out", locked.appendingPathComponent("plot.svg").path]] {
            let result = try metaopt(args)
            XCTAssertEqual(result.status, 65, "\(args): \(result)")
            XCTAssertTrue(result.stderr.contains("cannot write \(locked.path)/"), "\(args): \(result)")
        }
    }

    /// Held-out functions are not the validation functions whose scores chose φ (early
    /// stopping): evaluate warns when its seed is the file's validation seed (measuring the
    /// validation score again is a check of its own: ValidationTests), and train refuses a
    /// validation seed that evaluate would take by default. Both went unsaid, and the "held-out"
    /// score was the validation score again.
    func testHeldOutFunctionsAreNotTheValidationFunctions() throws {
        let shipped = Self.optimizers.appendingPathComponent("quadratic.json").path  // seed 0, validation seed 2000003
        let out = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("eval")
        let evaluate = ["evaluate", "--optimizer", shipped, "--functions", "1", "--steps", "2", "--tuning-functions", "1",
                        "--baselines", "sgd", "--out", out.path]
        let warning = "warning: --seed 2000003 is the seed of the validation functions of the run that trained this optimizer"
        let warned = try metaopt(evaluate + ["--seed", "2000003"])
        XCTAssertEqual(warned.status, 0, "\(warned)")
        XCTAssertTrue(warned.stderr.contains(warning), "\(warned)")
        let other = try metaopt(evaluate + ["--seed", "2000004"])
        XCTAssertEqual(other.status, 0, "\(other)")
        XCTAssertFalse(other.stderr.contains("warning"), "\(other)")
        let train = try metaopt(["train", "--validation-seed", "1000003", "--iterations", "1", "--print-config"])
        XCTAssertEqual(train.status, 64, "\(train)")
        XCTAssertTrue(train.stderr.contains("--validation-seed 1000003 is the seed evaluate draws its held-out functions from by default"), "\(train)")
        XCTAssertEqual(try metaopt(["train", "--seed", "1", "--validation-seed", "1000003", "--iterations", "1", "--print-config"]).status, 0)
    }

    /// With --baselines none nothing is tuned: no tuning functions are drawn or counted (the
    /// default 20 quadratics of dimension 2000 would need about 6 GiB), and the summary says nothing of
    /// tuning; --tuning-functions given with it is refused, not ignored.
    func testNoBaselinesNeedNoTuningFunctions() throws {
        let out = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("eval")
        let args = ["evaluate", "--optimizer", Self.optimizers.appendingPathComponent("quadratic.json").path,
                    "--task", "quadratic", "--dimension", "2000", "--functions", "1", "--steps", "2", "--baselines", "none", "--out", out.path]
        let ignored = try metaopt(args + ["--tuning-functions", "5"])
        XCTAssertEqual(ignored.status, 64, "\(ignored)")
        XCTAssertTrue(ignored.stderr.contains("--tuning-functions tunes the baselines, and --baselines none runs none"), "\(ignored)")
        let unrefined = try metaopt(args + ["--refine", "1"])
        XCTAssertEqual(unrefined.status, 64, "\(unrefined)")
        XCTAssertTrue(unrefined.stderr.contains("--refine tunes the baselines, and --baselines none runs none"), "\(unrefined)")
        let result = try metaopt(args + ["--max-memory", "1"])
        XCTAssertEqual(result.status, 0, "\(result)")
        let summary = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        XCTAssertTrue(summary.contains("ties split evenly).\n") && !summary.contains("tuned by grid search"), summary)
    }

    /// --refine tunes the baselines on finer rates around the grid's best: the report records
    /// the rates tried and the rounds, the summary says so, and the count is bounded.
    func testRefineTriesRatesBetweenTheGridsAndSaysSo() throws {
        let out = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("eval")
        let args = ["evaluate", "--optimizer", Self.optimizers.appendingPathComponent("quadratic.json").path,
                    "--functions", "2", "--steps", "20", "--tuning-functions", "2", "--baselines", "sgd", "--out", out.path]
        let result = try metaopt(args + ["--refine", "2"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stdout.contains("tuned by grid search with 2 rounds of finer rates around the best on separate training functions"), "\(result)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        XCTAssertEqual((report["metadata"] as! [String: String])["tuning_refinements"], "2")
        let tuning = (report["tuning"] as! [[String: Any]])[0]
        let rates = (tuning["scores"] as! [[String: Any]]).map { ($0["learningRate"] as! NSNumber).doubleValue }
        // The default grid's ten rates and two rounds of two midpoints each.
        XCTAssertEqual(rates.count, 14, "\(rates)")
        let grid = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3]
        let chosen = (tuning["learningRate"] as! NSNumber).doubleValue
        XCTAssertFalse(grid.contains { abs($0 - chosen) < 1e-9 }, "chose \(chosen) of \(rates)")
        for bad in ["7", "-1"] {
            let refused = try metaopt(args + ["--refine", bad])
            XCTAssertEqual(refused.status, 64, "\(refused)")
            XCTAssertTrue(refused.stderr.contains("--refine must be from 0 to 6 (got \(bad))"), "\(refused)")
        }
    }

    /// --bands, like --no-bands, shapes the panels of --evaluations only: given with run
    /// directories it was accepted and ignored.
    func testBandsApplyToEvaluationsOnly() throws {
        let run = try DistributedTrain.scratchDirectory(for: self).appendingPathComponent("run")
        for flag in ["--bands", "--no-bands"] {
            let result = try metaopt(["plot", run.path, flag])
            XCTAssertEqual(result.status, 64, "\(flag): \(result)")
            XCTAssertTrue(result.stderr.contains("--bands/--no-bands apply to --evaluations only"), "\(flag): \(result)")
        }
        // The same run twice (here spelled two ways) drew two identical curves under one name.
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let twice = try metaopt(["plot", run.path, run.path + "/./"])
        XCTAssertEqual(twice.status, 64, "\(twice)")
        XCTAssertTrue(twice.stderr.contains("the run directory \(run.path)/./ is \(run.path) again; give each run once"), "\(twice)")
    }
}
