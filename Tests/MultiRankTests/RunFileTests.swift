import Foundation
import XCTest

/// `train --config FILE`, `train --recipe NAME`, RUN_DIR/config.json and train's last lines, through
/// the built binary (the file format itself is tested in MetaOptTests/RunSettingsTests).
final class RunFileTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func succeeded(_ result: MPIJobResult, _ label: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        XCTAssertFalse(result.timedOut, "\(label) timed out:\n\(result)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "\(label):\n\(result)", file: file, line: line)
        return result.status == 0 && !result.timedOut
    }

    /// A JSON file as a dictionary.
    func object(at url: URL, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw MPIJobError(description: "no file at \(url.path)")
        }
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw MPIJobError(description: "\(url.path) is not a JSON object")
        }
        return object
    }

    func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// `--hidden-sizes` trains another stack of LSTM layers: config.json holds `hidden-sizes` (not
    /// `hidden-size`), the optimizer file the sizes and a tensor per layer, and the replay on two
    /// ranks gives the same φ bit for bit; it takes precedence over a `hidden-size` from a file.
    func testHiddenSizesTrainAndReplayAnotherDepth() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let first = scratch.appendingPathComponent("first"), replay = scratch.appendingPathComponent("replay")
        let base = scratch.appendingPathComponent("base.json")
        try write(#"{"hidden-size": 30}"#, to: base)
        let original = try DistributedTrain.train(np: nil, runDirectory: first,
                                                  extra: ["--config", base.path, "--hidden-sizes", "8,12,4"])
        guard succeeded(original, "the three-layer run") else { return }
        let configURL = first.appendingPathComponent("config.json")
        let settings = try object(at: configURL)
        XCTAssertEqual(settings["hidden-sizes"] as? String, "8,12,4")
        XCTAssertNil(settings["hidden-size"], "one way of stating the sizes: \(settings)")
        let optimizer = try object(at: first.appendingPathComponent("optimizer.json"))
        XCTAssertEqual((optimizer["optimizer"] as? [String: Any])?["hiddenSizes"] as? [Int], [8, 12, 4])
        let names = (optimizer["tensors"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(names, ["lstm1.weight", "lstm1.bias", "lstm2.weight", "lstm2.bias", "lstm3.weight", "lstm3.bias",
                               "output.weight", "output.bias"])
        let again = try MPIJob.run(np: 2, args: ["train", "--config", configURL.path, "--run-dir", replay.path, "--no-resume"],
                                   timeout: DistributedTrain.jobTimeout)
        guard succeeded(again, "the replay") else { return }
        DistributedTrain.assertIdentical(try DistributedTrain.output(of: first), try DistributedTrain.output(of: replay),
                                         "the three-layer run and its replay from config.json")
    }

    /// (a) A run writes RUN_DIR/config.json; `train --config RUN_DIR/config.json` elsewhere, here on
    /// two ranks where the first run had one, gives the same φ, optimizer file and checkpoint bit
    /// for bit, and writes the same settings (but for its run directory and its description).
    func testConfigJSONReplaysTheRunBitForBit() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let first = scratch.appendingPathComponent("first"), replay = scratch.appendingPathComponent("replay")
        let original = try DistributedTrain.train(np: nil, runDirectory: first,
                                                  extra: ["--learning-rate", "0.01", "--random-scaling=-0.5,1"])
        guard succeeded(original, "the first run") else { return }
        let configURL = first.appendingPathComponent("config.json")
        let settings = try object(at: configURL)
        XCTAssertEqual(settings["meta-batch"] as? Int, 24)
        XCTAssertEqual(settings["seed"] as? Int, 7)
        XCTAssertEqual(settings["learning-rate"] as? Double, 0.01)
        XCTAssertEqual(settings["random-scaling"] as? String, "-0.5,1.0")
        XCTAssertEqual(settings["run-dir"] as? String, first.path)
        // Defaults are written as the values they had, so that a replay does not depend on them.
        XCTAssertEqual(settings["unroll"] as? Int, 5)
        XCTAssertEqual(settings["block-size"] as? Int, 4)
        XCTAssertEqual(settings["hidden-size"] as? Int, 20)
        XCTAssertEqual(settings["preprocessing"] as? String, "raw")
        XCTAssertEqual(settings["max-skips"] as? Int, 5)
        XCTAssertTrue(settings["clip-norm"] is NSNull, "off settings are written as null: \(settings)")

        let again = try MPIJob.run(np: 2, args: ["train", "--config", configURL.path, "--run-dir", replay.path, "--no-resume"],
                                   timeout: DistributedTrain.jobTimeout)
        guard succeeded(again, "the replay") else { return }
        DistributedTrain.assertIdentical(try DistributedTrain.output(of: first), try DistributedTrain.output(of: replay),
                                         "the run and its replay from config.json")
        var replayed = try object(at: replay.appendingPathComponent("config.json"))
        XCTAssertEqual(replayed["run-dir"] as? String, replay.path)
        var written = settings
        for key in ["run-dir", "description"] {
            written[key] = nil
            replayed[key] = nil
        }
        XCTAssertEqual(NSDictionary(dictionary: replayed), NSDictionary(dictionary: written))
    }

    /// (3) Rank 0's last lines name the trained optimizer, the settings and the command that
    /// evaluates it; with validation (the quadratics' default), the command evaluates the
    /// best-scoring φ. The printed command runs.
    func testLastLinesNameTheOptimizerAndTheCommandThatEvaluatesIt() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let plain = scratch.appendingPathComponent("plain"), validated = scratch.appendingPathComponent("validated")
        let result = try DistributedTrain.train(np: 2, runDirectory: plain, extra: ["--validate-every", "0"])
        guard succeeded(result, "the run") else { return }
        let binary = try MPIJob.binaryURL().path
        XCTAssertEqual(result.stdout.split(separator: "\n").suffix(3).map(String.init), [
            "trained optimizer: \(plain.path)/optimizer.json (meta-step 6)",
            "settings: \(plain.path)/config.json",
            "evaluate with: \(binary) evaluate --optimizer \(plain.path)/optimizer.json",
        ], result.stdout)

        let withValidation = try DistributedTrain.train(np: 2, runDirectory: validated,
                                                        extra: ["--validate-every", "2", "--validation-functions", "2"])
        guard succeeded(withValidation, "the run with validation") else { return }
        let lines = withValidation.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("best optimizer by validation: \(validated.path)/best-optimizer.json (meta-step ") },
                      withValidation.stdout)
        guard let command = lines.last, command.hasPrefix("evaluate with: ") else {
            return XCTFail("no evaluate command last:\n\(withValidation.stdout)")
        }
        let words = command.dropFirst("evaluate with: ".count).split(separator: " ").map(String.init)
        XCTAssertEqual(words, [binary, "evaluate", "--optimizer", "\(validated.path)/best-optimizer.json"])
        let evaluation = try MPIJob.runSingleton(
            args: Array(words.dropFirst()) + ["--functions", "2", "--tuning-functions", "2", "--steps", "5", "--baselines", "sgd",
                                              "--out", scratch.appendingPathComponent("eval").path],
            timeout: DistributedTrain.jobTimeout)
        _ = succeeded(evaluation, "the printed evaluate command")
    }

    /// (b) Recipe, then file, then flags: a flag beats the file, the file beats the recipe, and the
    /// written config.json shows the settings in effect.
    func testFlagsOverrideTheFileAndTheFileOverridesTheRecipe() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let run = scratch.appendingPathComponent("run"), file = scratch.appendingPathComponent("small.json")
        try write("""
            {"meta-batch": 24, "block-size": 4, "unroll": 5, "horizon": 10, "iterations": 6, "seed": 7,
             "learning-rate": 0.01, "run-dir": "not-this-one"}
            """, to: file)
        let result = try MPIJob.run(np: 2, args: ["train", "--recipe", "quadratic", "--config", file.path, "--iterations", "4",
                                                  "--run-dir", run.path, "--no-resume"],
                                    timeout: DistributedTrain.jobTimeout)
        guard succeeded(result, "recipe + file + flags") else { return }
        let settings = try object(at: run.appendingPathComponent("config.json"))
        XCTAssertEqual(settings["iterations"] as? Int, 4, "the flag wins over the file")
        XCTAssertEqual(settings["run-dir"] as? String, run.path, "the flag wins over the file")
        XCTAssertEqual(settings["meta-batch"] as? Int, 24, "the file wins over the recipe")
        XCTAssertEqual(settings["learning-rate"] as? Double, 0.01, "the file wins over the recipe")
        XCTAssertEqual(settings["dimension"] as? Int, 10, "from the recipe")
        XCTAssertTrue((settings["description"] as? String ?? "").contains("recipe quadratic, then \(file.path), then the command line"),
                      "\(settings)")
        XCTAssertEqual(try DistributedTrain.metrics(of: run).count, 4, "4 meta-steps ran")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "not-this-one"))

        // A null in the file removes the recipe's value: validation off.
        let off = scratch.appendingPathComponent("off.json")
        try write(#"{"validate-every": null, "validation-functions": null, "p": 50}"#, to: off)
        let printed = try MPIJob.runSingleton(args: ["train", "--recipe", "mlp-p20", "--config", off.path, "--print-config"])
        guard succeeded(printed, "--print-config") else { return }
        let effective = try JSONSerialization.jsonObject(with: Data(printed.stdout.utf8)) as? [String: Any] ?? [:]
        XCTAssertTrue(effective["validate-every"] is NSNull, printed.stdout)
        XCTAssertNil(effective["validation-functions"], printed.stdout)
        XCTAssertEqual(effective["p"] as? Double, 50, printed.stdout)
        XCTAssertEqual(effective["output-scale"] as? Double, 0.01, printed.stdout)

        // --validate-every 0 on the command line takes the file's validation settings with it:
        // they refused the run ("do not apply with --validate-every 0"), and a flag cannot be null.
        let flagOff = try MPIJob.runSingleton(args: ["train", "--recipe", "mlp-p50", "--validate-every", "0", "--print-config"])
        guard succeeded(flagOff, "--recipe mlp-p50 --validate-every 0") else { return }
        let noValidation = try JSONSerialization.jsonObject(with: Data(flagOff.stdout.utf8)) as? [String: Any] ?? [:]
        XCTAssertTrue(noValidation["validate-every"] is NSNull, flagOff.stdout)
        XCTAssertNil(noValidation["validation-functions"], flagOff.stdout)
        XCTAssertNil(noValidation["validation-seed"], flagOff.stdout)
    }

    /// (c) An unknown key or a value of the wrong type stops every rank before MPI starts with exit
    /// status 64 and a message naming the file and the key; nothing is written.
    func testBadRunFilesAreRefusedOnEveryRank() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let run = scratch.appendingPathComponent("run")
        let cases = [
            (#"{"meta_batch": 2}"#, "unknown key 'meta_batch' (did you mean 'meta-batch'?); the keys are train's long option names"),
            // (Not a key the small job gives on the command line: those are not read from the file.)
            (#"{"max-skips": "6"}"#, #"'max-skips' must be a whole number (got "6")"#),
            (#"{"resume": false}"#, "'resume' cannot be set in a file: resuming is chosen per invocation; give --resume or --no-resume on the command line"),
            // A value argument-parser refuses names the file too (it was reported as a flag's).
            (#"{"task": "foo"}"#, "'task': The value 'foo' is invalid for '--task <quadratic|mlp|cnn|rosenbrock|mix>'. Please provide one of 'quadratic', 'mlp', 'cnn', 'rosenbrock' or 'mix'."),
        ]
        for (index, (text, problem)) in cases.enumerated() {
            let file = scratch.appendingPathComponent("bad-\(index).json")
            try write(text, to: file)
            // The small job after the file, so that a file wrongly accepted ends quickly, in scratch.
            let result = try MPIJob.run(np: 2, args: ["train", "--config", file.path] + DistributedTrain.smallJob + ["--run-dir", run.path],
                                        timeout: DistributedTrain.jobTimeout, perRankOutput: true)
            XCTAssertFalse(result.timedOut, "\(result)")
            XCTAssertEqual(result.status, 64, "\(text):\n\(result)")
            XCTAssertEqual(Set(result.rankStderr.keys), [0, 1], "per-rank output missing:\n\(result)")
            for (rank, stderr) in result.rankStderr {
                XCTAssertEqual(stderr.split(separator: "\n").first.map(String.init), "Error: \(file.path): \(problem)",
                               "rank \(rank):\n\(result)")
            }
        }
        // The command line replaces the file's key altogether: the bad value no longer matters.
        let overridden = try MPIJob.runSingleton(args: ["train", "--config", scratch.appendingPathComponent("bad-\(cases.count - 1).json").path,
                                                        "--task", "quadratic", "--print-config"])
        XCTAssertEqual(overridden.status, 0, "\(overridden)")
        XCTAssertTrue(overridden.stdout.contains(#""task": "quadratic""#), "\(overridden)")
        // So is one of the wrong type, which is not even checked then.
        let typed = scratch.appendingPathComponent("typed.json")
        try write(#"{"iterations": "x", "learning-rate": "abc"}"#, to: typed)
        let replaced = try MPIJob.runSingleton(args: ["train", "--config", typed.path, "--iterations", "3", "--learning-rate", "0.1", "--print-config"])
        XCTAssertEqual(replaced.status, 0, "\(replaced)")
        XCTAssertTrue(replaced.stdout.contains(#""iterations": 3"#), "\(replaced)")
        let missing = try MPIJob.runSingleton(args: ["train", "--recipe", "no-such-recipe"] + DistributedTrain.smallJob + ["--run-dir", run.path])
        XCTAssertEqual(missing.status, 64, "\(missing)")
        XCTAssertTrue(missing.stderr.contains("no recipe 'no-such-recipe'; the recipes are "), "\(missing)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path), "nothing may be written")
    }

    /// A replay of a config.json with an `output` in another run directory would replace the first
    /// run's trained optimizer with its own: refused (it was done silently), unless the command
    /// line gives --output; in the file's own run directory it is the same run and goes on.
    func testAReplayElsewhereDoesNotReplaceTheFirstRunsOptimizer() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let file = scratch.appendingPathComponent("config.json")
        let first = scratch.appendingPathComponent("first").path, output = scratch.appendingPathComponent("first.json").path
        try write(#"{"run-dir": "\#(first)", "output": "\#(output)"}"#, to: file)
        let other = scratch.appendingPathComponent("other").path
        let refused = try MPIJob.runSingleton(args: ["train", "--config", file.path, "--run-dir", other, "--print-config"])
        XCTAssertEqual(refused.status, 64, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("\(file.path): 'output': \(output) is the optimizer file of the run in \(first); this run trains in \(other) (--run-dir) and would replace it: give --output"), "\(refused)")
        for extra in [["--run-dir", other, "--output", other + "/optimizer.json"], ["--run-dir", first + "/."], []] {
            let accepted = try MPIJob.runSingleton(args: ["train", "--config", file.path, "--print-config"] + extra)
            XCTAssertEqual(accepted.status, 0, "\(extra): \(accepted)")
        }
        // Only a file that gives both is a run's: an output of one's own beside a recipe's run-dir
        // is not refused, and a run-dir the command line replaces is not checked (it was, in the
        // first version: '"run-dir": 5' refused the run).
        let own = scratch.appendingPathComponent("own.json")
        try write(#"{"output": "\#(output)"}"#, to: own)
        let recipe = try MPIJob.runSingleton(args: ["train", "--recipe", "quadratic", "--config", own.path, "--run-dir", other, "--print-config"])
        XCTAssertEqual(recipe.status, 0, "\(recipe)")
        try write(#"{"run-dir": 5}"#, to: own)
        let replaced = try MPIJob.runSingleton(args: ["train", "--config", own.path, "--run-dir", other, "--print-config"])
        XCTAssertEqual(replaced.status, 0, "\(replaced)")
    }

    /// A check that a value from a file fails names the file and the key, and only those the
    /// command line did not give: the message alone ("the learning rate must be positive (got
    /// 0.0)") did not say that the 0 came from a file (a 1e-400 there reads as 0).
    func testChecksNameTheFileOfTheValuesTheyRefuse() throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let file = scratch.appendingPathComponent("values.json")
        func firstLine(_ text: String, _ args: [String]) throws -> String {
            try write(text, to: file)
            let result = try MPIJob.runSingleton(args: ["train"] + args + ["--print-config"])
            XCTAssertEqual(result.status, 64, "\(text) \(args):\n\(result)")
            XCTAssertEqual(result.stdout, "", "nothing printed as settings:\n\(result)")
            return result.stderr.split(separator: "\n").first.map(String.init) ?? ""
        }
        XCTAssertEqual(try firstLine(#"{"learning-rate": 1e-400}"#, ["--config", file.path]),
                       "Error: \(file.path): 'learning-rate': the learning rate must be positive and finite (got 0.0)")
        XCTAssertEqual(try firstLine(#"{"unroll": 7}"#, ["--config", file.path, "--horizon", "15"]),
                       "Error: \(file.path): 'unroll': the horizon (15) must be a multiple of the unroll length (7)")
        // Values from two sources, in the order the sentence names them.
        XCTAssertEqual(try firstLine(#"{"unroll": 7}"#, ["--recipe", "quadratic", "--config", file.path]),
                       "Error: recipe quadratic: 'horizon'; \(file.path): 'unroll': the horizon (100) must be a multiple of the unroll length (7)")
        XCTAssertEqual(try firstLine(#"{"max-skips": 0, "hidden-size": 20}"#, ["--config", file.path]),
                       "Error: \(file.path): 'max-skips': the skip limit must be positive")
        XCTAssertEqual(try firstLine(#"{"checkpoint-every": -1}"#, ["--config", file.path]),
                       "Error: \(file.path): 'checkpoint-every': --checkpoint-every must not be negative")
        // An empty path meets the option's own check (it said "Missing value for '--run-dir'").
        for key in ["run-dir", "output", "init-from", "data-dir"] {
            let line = try firstLine(#"{"task": "mlp", "\#(key)": ""}"#, ["--config", file.path])
            XCTAssertTrue(line.hasPrefix("Error: \(file.path): '\(key)': --\(key) must not be empty"), line)
        }
        // The command line's own values are not the file's, nor is one that replaces the file's.
        XCTAssertEqual(try firstLine(#"{"unroll": 7}"#, ["--config", file.path, "--unroll", "0"]),
                       "Error: the unroll length must be positive (got 0)")
        XCTAssertEqual(try firstLine(#"{"hidden-sizes": "20,20"}"#, ["--config", file.path, "--hidden-size", "0"]),
                       "Error: --hidden-size must be positive")
    }

    /// Every option of train is either a key of run files or refused in them with a reason: a new
    /// option cannot be forgotten by the file format.
    func testEveryOptionIsAKeyOrRefusedWithAReason() throws {
        let dump = try MPIJob.runSingleton(args: ["train", "--experimental-dump-help"])
        guard succeeded(dump, "--experimental-dump-help") else { return }
        struct ToolInfo: Decodable {
            struct Command: Decodable { var arguments: [Argument] }
            struct Argument: Decodable { var names: [Name]? }
            struct Name: Decodable { var kind: String; var name: String }
            var command: Command
        }
        let options = Set(try JSONDecoder().decode(ToolInfo.self, from: Data(dump.stdout.utf8)).command.arguments
            .flatMap { $0.names ?? [] }.filter { $0.kind == "long" }.map(\.name))
        XCTAssertTrue(options.contains("meta-batch") && options.contains("config"), "\(options)")

        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let unknown = scratch.appendingPathComponent("unknown.json")
        try write(#"{"zzz": 1}"#, to: unknown)
        let listed = try MPIJob.runSingleton(args: ["train", "--config", unknown.path, "--print-config"])
        XCTAssertEqual(listed.status, 64, "\(listed)")
        let marker = "the keys are train's long option names: "
        guard let range = listed.stderr.range(of: marker) else { return XCTFail("no key list:\n\(listed)") }
        let keys = Set(listed.stderr[range.upperBound...].prefix { $0 != "\n" }.components(separatedBy: ", "))
        XCTAssertEqual(keys.subtracting(options), ["description"], "keys that are no option of train")

        let others = options.subtracting(keys).sorted()
        let refused = scratch.appendingPathComponent("refused.json")
        try write("{" + others.map { "\"\($0)\": null" }.joined(separator: ", ") + "}", to: refused)
        let result = try MPIJob.runSingleton(args: ["train", "--config", refused.path, "--print-config"])
        XCTAssertEqual(result.status, 64, "\(result)")
        for option in others {
            XCTAssertTrue(result.stderr.contains("\(refused.path): '\(option)' cannot be set in a file: "),
                          "--\(option) is neither a run-file key nor refused with a reason:\n\(result)")
        }
    }

    /// (d) Every recipe in recipes/ is known to the binary, gives valid settings (--print-config)
    /// and starts: one meta-step with a short horizon and one validation function, which also
    /// writes its config.json with the recipe's values. Image recipes are only checked for their
    /// settings when Fashion-MNIST is not installed.
    func testEveryRecipeValidatesAndStarts() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.repository.appendingPathComponent("recipes").path)
            .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
        XCTAssertTrue(names.contains("quadratic") && names.contains("mlp-p20"), "\(names)")
        let help = try MPIJob.runSingleton(args: ["train", "--help"])
        let haveImages = FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist")
        for name in names {
            XCTAssertTrue(help.stdout.contains("  \(name): "), "train --help does not list recipe \(name)")
            let printed = try MPIJob.runSingleton(args: ["train", "--recipe", name, "--print-config"])
            guard succeeded(printed, "recipe \(name)") else { continue }
            let recipe = try object(at: Self.repository.appendingPathComponent("recipes/\(name).json"))
            let effective = try JSONSerialization.jsonObject(with: Data(printed.stdout.utf8)) as? [String: Any] ?? [:]
            for (key, value) in recipe where key != "description" {
                XCTAssertTrue(same(effective[key], value), "recipe \(name): \(key) is \(effective[key] ?? "missing"), not \(value)")
            }
            guard effective["task"] as? String == "quadratic" || haveImages else { continue }
            let run = scratch.appendingPathComponent(name)
            var args = ["train", "--recipe", name, "--iterations", "1", "--unroll", "2", "--horizon", "2", "--meta-batch", "2",
                        "--run-dir", run.path, "--no-resume"]
            if !(effective["validate-every"] is NSNull) { args += ["--validation-functions", "1"] }
            let started = try MPIJob.run(np: 2, args: args, timeout: DistributedTrain.jobTimeout)
            guard succeeded(started, "recipe \(name), one meta-step") else { continue }
            let written = try object(at: run.appendingPathComponent("config.json"))
            XCTAssertEqual(written["iterations"] as? Int, 1)
            for key in ["p", "output-scale", "learning-rate", "task", "validate-every"] where recipe[key] != nil {
                XCTAssertTrue(same(written[key], recipe[key]), "recipe \(name), one meta-step: \(key)")
            }
        }
    }

    /// JSON values equal as numbers (1 and 1.0) or as text.
    func same(_ a: Any?, _ b: Any?) -> Bool {
        if let x = a as? NSNumber, let y = b as? NSNumber { return x.doubleValue == y.doubleValue }
        if let x = a as? String, let y = b as? String { return x == y }
        return a == nil && b == nil
    }
}
