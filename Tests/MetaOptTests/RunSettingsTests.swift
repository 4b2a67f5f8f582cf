import Foundation
import XCTest
@testable import MetaOpt

/// Run files, recipes and config.json (`RunSettings`, `TrainingRecipes`); the command-line side
/// (replay, overrides, exit status) is in MultiRankTests/RunFileTests.
final class RunSettingsTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func parse(_ text: String, source: String = "runs/x/settings.json") throws(RunSettingsError) -> RunSettings {
        try RunSettings.parse(Data(text.utf8), source: source)
    }

    /// The problems `text` is refused with (fails when it is accepted).
    func problems(_ text: String, source: String = "my-run.json", file: StaticString = #filePath,
                  line: UInt = #line) -> [String] {
        do {
            let settings = try parse(text, source: source)
            XCTFail("accepted: \(settings.values)", file: file, line: line)
            return []
        } catch {
            XCTAssertEqual(error.source, source, file: file, line: line)
            XCTAssertTrue(error.description.split(separator: "\n").allSatisfy { $0.hasPrefix("\(source): ") },
                          "every line names the file: \(error)", file: file, line: line)
            return error.problems
        }
    }

    // MARK: Recipes

    /// The recipes built into the library are the files in recipes/, byte for byte, and
    /// TrainingRecipes.swift is what the generator makes of them. With METAOPT_UPDATE_RECIPES=1 the
    /// test rewrites TrainingRecipes.swift instead of failing (then rebuild).
    func testRecipeFilesEqualTheBuiltInCopies() throws {
        let directory = Self.repository.appendingPathComponent("recipes")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
        XCTAssertFalse(names.isEmpty, "no recipes in \(directory.path)")
        var files: [(name: String, json: String)] = []
        for name in names {
            let data = try Data(contentsOf: directory.appendingPathComponent("\(name).json"))
            files.append((name, String(decoding: data, as: UTF8.self)))
        }
        let source = Self.repository.appendingPathComponent("Sources/MetaOpt/Training/TrainingRecipes.swift")
        let generated = Self.recipesSource(files)
        if ProcessInfo.processInfo.environment["METAOPT_UPDATE_RECIPES"] == "1" {
            try ResultFile.writeAtomically(Data(generated.utf8), to: source)
            return
        }
        let fix = "recipes/ and the built-in copies differ: run `METAOPT_UPDATE_RECIPES=1 swift test --filter RunSettingsTests/testRecipeFilesEqualTheBuiltInCopies`, then rebuild"
        XCTAssertEqual(TrainingRecipes.names, names, fix)
        for (name, json) in files {
            XCTAssertEqual(TrainingRecipes.files.first { $0.name == name }?.json, json, "recipe \(name): \(fix)")
        }
        XCTAssertEqual(try String(contentsOf: source, encoding: .utf8), generated, "TrainingRecipes.swift: \(fix)")
    }

    /// TrainingRecipes.swift for these files: raw string literals, which hold any JSON text as it is.
    static func recipesSource(_ files: [(name: String, json: String)]) -> String {
        var lines = [
            "// Generated from recipes/*.json: do not edit. RunSettingsTests.testRecipeFilesEqualTheBuiltInCopies",
            "// fails when this file and the recipes differ; run it with METAOPT_UPDATE_RECIPES=1 to rewrite this file.",
            "",
            "/// The named recipes of `train --recipe NAME`: the files recipes/NAME.json of the repository,",
            "/// built into the library as text so that an installed binary, with no repository next to it,",
            "/// has them too.",
            "package enum TrainingRecipes {",
            "    /// Each recipe's name and its file's text, by name.",
            "    package static let files: [(name: String, json: String)] = [",
        ]
        for (name, json) in files {
            precondition(json.hasSuffix("\n") && !json.contains("\"\"\"#"), "recipes/\(name).json must end with a newline")
            lines.append("        (\"\(name)\", #\"\"\"")
            for line in json.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
                lines.append(line.isEmpty ? "" : "            " + line)
            }
            lines += ["", "            \"\"\"#),"]
        }
        lines += ["    ]", "}"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every recipe reads without a problem, describes itself, names its own run directory and
    /// gives a configuration without problems.
    func testEveryRecipeParsesAndNamesItsRunDirectory() throws {
        XCTAssertTrue(TrainingRecipes.names.contains("quadratic"))
        for name in TrainingRecipes.names {
            let settings = try TrainingRecipes.settings(named: name)
            XCTAssertNotNil(settings.note, "\(name) has no description")
            XCTAssertEqual(settings["run-dir"], .string("runs/\(name)"), name)
            XCTAssertFalse(settings.arguments.isEmpty, name)
        }
        XCTAssertThrowsError(try TrainingRecipes.settings(named: "mlp-p7")) { error in
            XCTAssertTrue("\(error)".contains("no recipe 'mlp-p7'"), "\(error)")
            XCTAssertTrue("\(error)".contains("mlp-p20"), "lists the recipes: \(error)")
        }
    }

    /// The quadratic recipe is the default job: its settings, read as a run file, are what the
    /// library's defaults for the quadratic task give.
    func testQuadraticRecipeIsTheDefaultJob() throws {
        let task = TaskSpec.quadratic(dimension: 10)
        var expected = TrainingConfig(task: task, metaBatch: task.defaultMetaBatch, iterations: task.defaultIterations,
                                      learningRate: task.defaultLearningRate).runSettings
        var recipe = try TrainingRecipes.settings(named: "quadratic")
        // Validation is train's, not the configuration's (MetaTrainer does not validate).
        XCTAssertEqual(recipe.values["validate-every"], .integer(String(try XCTUnwrap(task.defaultValidateEvery))))
        // What the recipe leaves to the defaults, and what is not the training configuration's.
        for key in ["description", "run-dir", "max-skips", "consistency-every", "clip-norm", "random-scaling",
                    "initial-scaling", "loss-scaling", "init-from", "validate-every"] {
            expected.set(key, nil)
            recipe.set(key, nil)
        }
        // Numbers compared as numbers: the recipe says 1 where the configuration has 1.0.
        func normalized(_ s: RunSettings) -> [String] {
            s.arguments.map { argument in
                let (key, value) = (argument.prefix { $0 != "=" }, argument.drop { $0 != "=" }.dropFirst())
                return Double(value).map { "\(key)=\($0)" } ?? argument
            }
        }
        XCTAssertEqual(normalized(recipe), normalized(expected))
    }

    // MARK: Refusals

    func testUnknownKeysAreRefusedNamingTheKeyAndTheFile() {
        let misspelt = problems(#"{"meta_batch": 2, "learningRate": 1e-3, "--seed": 3}"#)
        XCTAssertEqual(misspelt, [
            "unknown key '--seed' (did you mean 'seed'?); the keys are train's long option names",
            "unknown key 'learningRate' (did you mean 'learning-rate'?); the keys are train's long option names",
            "unknown key 'meta_batch' (did you mean 'meta-batch'?); the keys are train's long option names",
        ])
        // A typo or two away (a wrong plural), found by edit distance; a one-letter key is not
        // taken for "p".
        XCTAssertEqual(problems(#"{"iteration": 2, "seeds": 1, "learning-rat": 1}"#), [
            "unknown key 'iteration' (did you mean 'iterations'?); the keys are train's long option names",
            "unknown key 'learning-rat' (did you mean 'learning-rate'?); the keys are train's long option names",
            "unknown key 'seeds' (did you mean 'seed'?); the keys are train's long option names",
        ])
        XCTAssertFalse(problems(#"{"x": 1}"#).first?.contains("did you mean") ?? true)
        let unknown = problems(#"{"frobnicate": [1, 2], "task": "mlp"}"#)
        XCTAssertEqual(unknown.count, 1)
        let first = unknown.first ?? ""
        XCTAssertTrue(first.hasPrefix("unknown key 'frobnicate'; the keys are train's long option names: description, task, "), first)
        XCTAssertTrue(first.hasSuffix(", progress-every"), first)
    }

    /// A key given twice is refused (the JSON reader kept one of the values, silently); keys of
    /// the same name inside strings or nested values are not keys of the file.
    func testDuplicateKeysAreRefused() {
        XCTAssertEqual(problems(#"{"task": "quadratic", "seed": 1, "task" : "mlp"}"#),
                       ["'task' is given more than once; give each key once (a JSON reader keeps one of them, silently)"])
        XCTAssertEqual(RunSettings.duplicateKeys(in: Data(#"{"a": {"b": 1, "b": 2}, "c": "\"a\": 1, \"c\":", "d": ["a", "a"]}"#.utf8)), [])
        XCTAssertEqual(RunSettings.duplicateKeys(in: Data(#"{"a\"b": 1, "a\"b": 2, "x": 1, "x": 2}"#.utf8)), [#"a"b"#, "x"])
    }

    func testOptionsOfOneInvocationAreRefusedWithTheReason() {
        let refused = problems(#"{"resume": false, "config": "a.json", "inject-fault": "kill@1:0", "verbose": true}"#)
        XCTAssertEqual(refused.count, 4)
        XCTAssertTrue(refused.contains("'resume' cannot be set in a file: resuming is chosen per invocation; give --resume or --no-resume on the command line"), "\(refused)")
        XCTAssertTrue(refused.contains { $0.hasPrefix("'config' cannot be set in a file") }, "\(refused)")
        XCTAssertTrue(refused.contains { $0.hasPrefix("'inject-fault' cannot be set in a file") }, "\(refused)")
        XCTAssertTrue(refused.contains { $0.hasPrefix("'verbose' cannot be set in a file") }, "\(refused)")
    }

    func testValuesOfTheWrongTypeAreRefusedNamingTheKey() throws {
        XCTAssertEqual(problems(#"{"iterations": "6"}"#), [#"'iterations' must be a whole number (got "6")"#])
        XCTAssertEqual(problems(#"{"meta-batch": 2.5}"#), ["'meta-batch' must be a whole number (got 2.5)"])
        XCTAssertEqual(problems(#"{"seed": -1}"#), ["'seed' must be a whole number from 0 to 18446744073709551615 (got -1)"])
        // Too large said so too (it read "a whole number ≥ 0" for 1e30).
        XCTAssertEqual(problems(#"{"seed": 1e30}"#), ["'seed' must be a whole number from 0 to 18446744073709551615 (got 1e+30)"])
        XCTAssertEqual(problems(#"{"learning-rate": true}"#), ["'learning-rate' must be a finite number (got true)"])
        XCTAssertEqual(problems(#"{"learning-rate": "3e-3"}"#), [#"'learning-rate' must be a finite number (got "3e-3")"#])
        XCTAssertEqual(problems(#"{"task": 1}"#), ["'task' must be a string (got 1)"])
        XCTAssertEqual(problems(#"{"hidden-layers": [20, 20]}"#),
                       [#"'hidden-layers' must be a whole number or a string of comma-separated whole numbers ("20,20") (got an array or object)"#])
        XCTAssertEqual(problems(#"{"random-scaling": false}"#), [#"'random-scaling' must be a number A or a string "LO,HI" (got false)"#])
        // All problems at once, in key order.
        XCTAssertEqual(problems(#"{"unroll": "5", "horizon": 1.5, "p": {}}"#).count, 3)
        // A NUL, which no command line can carry: the run directory was written as "a%00b".
        XCTAssertEqual(problems(#"{"run-dir": "a\u0000b"}"#), [#"'run-dir' must not contain a NUL character (\u0000; got "a\u0000b")"#])
        XCTAssertEqual(try parse(#"{"description": "a\u0000b"}"#).values["description"], .string("a\u{0}b"), "free text, not a setting")
    }

    /// A number too large for a Double is valid JSON that no setting can hold: the refusal says it
    /// is out of range (it said "got an array or object").
    func testNumbersBeyondDoubleAreRefusedAsOutOfRange() {
        XCTAssertEqual(problems(#"{"learning-rate": 1e400}"#),
                       ["'learning-rate' is out of range: a number beyond ±1.8e308, the largest a Double holds (it must be a finite number)"])
        XCTAssertEqual(problems(#"{"meta-batch": -1e400, "seed": 2}"#),
                       ["'meta-batch' is out of range: a number beyond ±1.8e308, the largest a Double holds (it must be a whole number)"])
        // In an array it is an array still, and under an unknown key the key is what is wrong.
        XCTAssertEqual(problems(#"{"learning-rate": [1e400]}"#), ["'learning-rate' must be a finite number (got an array or object)"])
        XCTAssertEqual(problems(#"{"frobnicate": 1e400}"#).first?.hasPrefix("unknown key 'frobnicate'; "), true)
    }

    func testAFileThatIsNotOneJSONObjectIsRefused() {
        XCTAssertEqual(problems("[1, 2]"), [#"must hold one JSON object keyed by train's long option names, e.g. {"task": "mlp", "meta-batch": 2}"#])
        XCTAssertEqual(problems(#""mlp""#).count, 1)
        for text in [#"{"task" "mlp"}"#, #"{"task": "mlp""#, "task = mlp"] {
            let broken = problems(text)
            XCTAssertEqual(broken.count, 1, text)
            XCTAssertTrue(broken.first?.hasPrefix("is not valid JSON") == true, "\(text): \(broken)")
        }
    }

    /// Strict JSON, as for optimizer files: a byte that is not UTF-8 inside a string was read as
    /// a number out of range ("'task' is out of range: a number beyond ±1.8e308"), and a comma
    /// before '}' was taken.
    func testRunFilesAreStrictJSON() throws {
        var bytes = Array(#"{"task": "quad"#.utf8)
        bytes += [0xE9] + Array(#"ratic"}"#.utf8)
        do {
            let settings = try RunSettings.parse(Data(bytes), source: "my-run.json")
            XCTFail("accepted: \(settings.values)")
        } catch {
            XCTAssertEqual(error.problems, [#"is not valid JSON near "task": a byte that is not UTF-8 (at byte 14)"#])
        }
        XCTAssertEqual(problems(#"{"task": "quadratic",}"#), [#"is not valid JSON near "task": a comma before '}' (at byte 21)"#])
        XCTAssertEqual(try parse("\u{FEFF}{\"task\": \"quadratic\"}")["task"], .string("quadratic"))
    }

    // MARK: Values, layers, arguments

    func testValuesBecomeExactArguments() throws {
        let s = try parse("""
            {"description": "a note", "task": "mlp", "hidden-layers": 40, "labels": "0,1,2", "p": 20, "output-scale": 0.01,
             "learning-rate": 3e-3, "seed": 18446744073709551615, "random-scaling": "-1.5,0.5", "initial-scaling": 2,
             "meta-batch": 2.0, "iterations": 1e3, "clip-norm": null, "data-dir": "/data/with space"}
            """)
        XCTAssertEqual(s.note, "a note")
        XCTAssertEqual(s.arguments, [
            "--task=mlp", "--hidden-layers=40", "--data-dir=/data/with space", "--labels=0,1,2", "--p=20",
            "--output-scale=0.01", "--meta-batch=2", "--iterations=1000", "--learning-rate=0.003",
            "--random-scaling=-1.5,0.5", "--initial-scaling=2", "--seed=18446744073709551615",
        ])
    }

    /// Recipe, then file: the later layer's values win and its nulls remove the earlier ones.
    func testLaterLayersOverrideAndNullRemoves() throws {
        let recipe = try TrainingRecipes.settings(named: "mlp-p20")
        let file = try parse(#"{"p": 50, "validate-every": null, "validation-functions": null, "run-dir": "runs/p50"}"#)
        let merged = recipe.overridden(by: file)
        XCTAssertEqual(merged["p"], .integer("50"))
        XCTAssertNil(merged["validate-every"])
        XCTAssertNil(merged["validation-functions"])
        XCTAssertEqual(merged["run-dir"], .string("runs/p50"))
        XCTAssertEqual(merged["output-scale"], recipe["output-scale"])
        XCTAssertFalse(merged.arguments.contains { $0.hasPrefix("--validate-every") }, "\(merged.arguments)")
        XCTAssertTrue(merged.arguments.contains("--p=50"))
    }

    /// hidden-size and hidden-sizes state one setting: a later layer's one replaces an earlier
    /// layer's other (a file's hidden-size used to lose to a recipe's hidden-sizes, which takes
    /// precedence), and one file holding both is refused.
    func testHiddenSizeAndHiddenSizesReplaceEachOther() throws {
        let deep = try parse(#"{"hidden-sizes": "8,12,4", "p": 5}"#)
        let merged = deep.overridden(by: try parse(#"{"hidden-size": 30}"#))
        XCTAssertEqual(merged["hidden-size"], .integer("30"))
        XCTAssertNil(merged["hidden-sizes"])
        XCTAssertEqual(merged["p"], .integer("5"))
        let back = merged.overridden(by: try parse(#"{"hidden-sizes": "4,4,4"}"#))
        XCTAssertEqual(back["hidden-sizes"], .string("4,4,4"))
        XCTAssertNil(back["hidden-size"])
        // A null says "not given": the other way of stating the sizes stays.
        XCTAssertEqual(deep.overridden(by: try parse(#"{"hidden-size": null}"#))["hidden-sizes"], .string("8,12,4"))
        XCTAssertEqual(problems(#"{"hidden-size": 30, "hidden-sizes": "8,12,4"}"#),
                       ["'hidden-size' and 'hidden-sizes' both set the LSTM's sizes; give one of them"])
        XCTAssertNoThrow(try parse(#"{"hidden-size": null, "hidden-sizes": "8,12,4"}"#))
    }

    /// config.json's text reads back as the same settings, every number exactly.
    func testJSONTextReadsBackExactly() throws {
        var config = TrainingConfig(task: .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture(hiddenSizes: [20, 20], activation: .relu)),
                                                               directory: "/data/f\"mnist", labelSubset: [0, 3], batchSize: 64)),
                                    optimizer: LearnedOptimizerConfig(hiddenSizes: [7, 7], preprocessing: .logAndSign(p: 20),
                                                                      outputScale: 0.1 + 0.2),
                                    metaBatch: 3, blockSize: 2, unroll: 5, horizon: 15, iterations: 9, learningRate: 1e-5 / 3,
                                    clipNorm: 0.7, seed: .max, randomScaling: LogScaleRange(lower: -1.5, upper: 0.25),
                                    initialScaling: LogScaleRange(symmetric: 2.3), initFrom: "runs/a b/optimizer.json",
                                    validation: ValidationConfig(every: 3, functions: 4, seed: 11))
        config.maxConsecutiveSkips = 2
        config.consistencyCheckEvery = 7
        let settings = config.runSettings
        let read = try parse(settings.json())
        // JSON does not keep 20.0 apart from 20: numbers are compared as numbers.
        func normalized(_ s: RunSettings) -> [String] {
            s.arguments.map { argument in
                let (key, value) = (argument.prefix { $0 != "=" }, argument.drop { $0 != "=" }.dropFirst())
                return value.contains(",") ? argument : Double(value).map { "\(key)=\($0)" } ?? argument
            }
        }
        XCTAssertEqual(normalized(read), normalized(settings))
        XCTAssertEqual(Set(read.values.keys), Set(settings.values.keys))
        XCTAssertTrue(read.arguments.contains("--learning-rate=\(1e-5 / 3)"))
        XCTAssertTrue(read.arguments.contains("--output-scale=\(0.1 + 0.2)"))
        XCTAssertTrue(read.arguments.contains("--random-scaling=-1.5,0.25"))
        XCTAssertTrue(read.arguments.contains("--initial-scaling=2.3"))
        XCTAssertTrue(read.arguments.contains("--seed=18446744073709551615"))
        XCTAssertTrue(read.arguments.contains("--validation-seed=11"))
        XCTAssertTrue(read.arguments.contains("--data-dir=/data/f\"mnist"))
        XCTAssertEqual(read["loss-scaling"], .null)
    }

    /// TrainingConfig's stored properties are the ones `runSettings` writes. A new property fails
    /// this test until `TrainingConfig.runSettings` writes it (and this list names it), so that
    /// config.json keeps replaying every run.
    func testEveryTrainingConfigPropertyIsWritten() {
        let properties = Mirror(reflecting: TrainingConfig(task: .quadratic(dimension: 1))).children.compactMap(\.label)
        XCTAssertEqual(properties, ["task", "optimizer", "metaBatch", "blockSize", "unroll", "horizon", "iterations",
                                    "learningRate", "clipNorm", "seed", "mode", "maxConsecutiveSkips",
                                    "consistencyCheckEvery", "randomScaling", "initialScaling", "lossScaling", "initFrom",
                                    "validation", "lossNormalization"])
        let keys = Set(TrainingConfig(task: .quadratic(dimension: 1)).runSettings.values.keys)
        XCTAssertEqual(keys, ["task", "dimension", "hidden-size", "preprocessing", "output-scale", "meta-batch", "block-size",
                              "unroll", "horizon", "iterations", "learning-rate", "clip-norm", "seed", "mode", "max-skips",
                              "consistency-every", "random-scaling", "initial-scaling", "loss-scaling", "init-from",
                              "validate-every"])
    }
}
