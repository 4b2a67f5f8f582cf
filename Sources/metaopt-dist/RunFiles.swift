import ArgumentParser
import Foundation
import MetaOpt

/// `train --recipe NAME` and `train --config FILE`: the settings they hold become command-line
/// arguments placed before the real ones (recipe first, then the file, then the command line), so
/// that one parser reads all three and an option given later wins (argument-parser keeps the last
/// value of a repeated option and the last of --resume/--no-resume). Merging the two files is done
/// here, by key, so that a `null` in the file removes the recipe's value.
enum RunFiles {
    /// Where the settings of a train invocation came from, for config.json's description.
    nonisolated(unsafe) static var provenance: [String] = []
    /// Which recipe or file each inserted setting came from (key → "recipe NAME" or the path).
    nonisolated(unsafe) static var sources: [String: String] = [:]

    /// The arguments of the whole program (without the executable) with the recipe's and the run
    /// file's settings inserted when it is a train invocation that names them; unchanged otherwise.
    /// Throws a `ValidationError` naming the file and key when a file cannot be used.
    static func expand(_ arguments: [String]) throws -> [String] {
        let others = MetaOptDist.configuration.subcommands.compactMap { $0.configuration.commandName }
            .filter { $0 != TrainCommand.configuration.commandName } + ["help"]
        var trainArguments = arguments
        if let first = arguments.first {
            if first == TrainCommand.configuration.commandName {
                trainArguments.removeFirst()
            } else if others.contains(first) {
                return arguments
            }
        }
        // Help stays help, whatever the files hold.
        let own = trainArguments.prefix { $0 != "--" }
        if own.contains(where: { ["-h", "--help", "--experimental-dump-help"].contains($0) }) { return arguments }
        let recipe = try value(of: "recipe", in: own)
        let config = try value(of: "config", in: own)
        guard recipe != nil || config != nil else { return arguments }

        var settings = RunSettings()
        var fileOutput: (output: String, runDir: String, source: String)?
        do {
            if let recipe {
                settings = try TrainingRecipes.settings(named: recipe)
                provenance.append("recipe \(recipe)")
                for key in settings.values.keys { sources[key] = "recipe \(recipe)" }
            }
            if let config {
                // Not FileManager: it blocks on a FIFO and reads a device without end.
                let data: Data
                do { data = Data(try RegularFile.read(config, limit: RegularFile.textFileLimit)) } catch {
                    throw RunSettingsError(source: config, problems: ["cannot read the run file: it \(error.reason)"])
                }
                let file = try RunSettings.parse(data, source: config, replaced: OptionScope.givenOnCommandLine)
                settings = settings.overridden(by: file)
                provenance.append(config)
                for key in file.values.keys { sources[key] = config }
                // The file's own run-dir, also where the command line replaces it (and so it is
                // not checked): it tells whether the file's output belongs to another run.
                let onlyRunDir = Set(RunSettings.keys.map(\.name)).subtracting(["run-dir"])
                if case .string(let output)? = file["output"],
                   case .string(let runDir)? = (try? RunSettings.parse(data, source: config, replaced: onlyRunDir))?["run-dir"] {
                    fileOutput = (output, runDir, config)
                }
            }
        } catch {
            throw ValidationError("\(error)")
        }
        provenance.append("the command line")
        if let fileOutput { try refuseOutputOfAnotherRun(fileOutput, own: own) }
        // A key the command line gives again is left out: the command line wins anyway, and the
        // value it replaces (a misspelt task in the file) should not stop the run.
        for key in OptionScope.givenOnCommandLine where settings[key] != nil { settings.set(key, nil) }
        // So is the other way of stating the same setting: a file's hidden-sizes would otherwise
        // take precedence over --hidden-size on the command line.
        for key in OptionScope.givenOnCommandLine {
            if let other = RunSettings.alternatives[key], settings[other] != nil { settings.set(other, nil) }
        }
        // --validate-every 0 turns validation off: a file's validation settings, which need it,
        // go with it (they refused the run, and the command line cannot give a null).
        if let every = try? value(of: "validate-every", in: own), Int(every) == 0 {
            for key in ["validation-functions", "validation-seed"] where !OptionScope.givenOnCommandLine.contains(key) {
                settings.set(key, nil)
            }
        }
        // Only the settings that take effect are attributed to their file in messages.
        sources = sources.filter { settings[$0.key] != nil }
        return [TrainCommand.configuration.commandName!] + settings.arguments + trainArguments
    }

    /// `message` prefixed with the recipe or file that the values it is about came from, when they
    /// came from one and not from the command line: argument-parser's message for a value it could
    /// not read ("my.json: 'task': The value 'foo' is invalid for '--task <…>'") and a check's
    /// ("my.json: 'unroll': the horizon (100) must be a multiple of the unroll length (7)"); nil
    /// when none did.
    static func attribute(_ message: String) -> String? {
        let keys: [String]
        if let range = message.range(of: #"for '--([a-z0-9-]+)"#, options: .regularExpression) {
            keys = [String(message[range].dropFirst("for '--".count))]
        } else {
            keys = settingKeys(in: message)
        }
        let fromFiles = keys.filter { sources[$0] != nil && !OptionScope.givenOnCommandLine.contains($0) }
        guard !fromFiles.isEmpty else { return nil }
        // Grouped by source, in the order the sentence names them.
        var groups: [(source: String, keys: [String])] = []
        for key in fromFiles {
            if let i = groups.firstIndex(where: { $0.source == sources[key] }) { groups[i].keys.append(key) }
            else { groups.append((sources[key]!, [key])) }
        }
        return groups.map { "\($0.source): " + $0.keys.map { "'\($0)'" }.joined(separator: ", ") }
            .joined(separator: "; ") + ": " + message
    }

    /// The quantities that the configuration's checks name in their sentences
    /// (`TrainingConfig.problems()`, the tasks' and the optimizer's), with the keys that set them.
    static let quantities: [(phrase: String, keys: [String])] = [
        ("the meta-batch size", ["meta-batch"]), ("the block size", ["block-size"]),
        ("the unroll length", ["unroll"]), ("the horizon", ["horizon"]),
        ("the number of iterations", ["iterations"]), ("the learning rate", ["learning-rate"]),
        ("the clipping norm", ["clip-norm"]), ("the skip limit", ["max-skips"]),
        ("the consistency-check interval", ["consistency-every"]), ("the validation interval", ["validate-every"]),
        ("the number of validation functions", ["validation-functions"]), ("the validation seed", ["validation-seed"]),
        ("the training seed", ["seed"]), ("the quadratic dimension", ["dimension"]),
        ("the minibatch size", ["minibatch"]), ("hidden layer sizes", ["hidden-layers"]),
        ("fully connected sizes", ["fc-layers"]), ("convolution layer", ["conv-channels"]),
        ("the preprocessing constant p", ["p"]), ("mixture component", ["mixture"]),
        ("the hidden size", ["hidden-size", "hidden-sizes"]), ("hidden sizes", ["hidden-size", "hidden-sizes"]),
        ("the number of LSTM layers", ["hidden-sizes"]),
    ]

    /// The run-file keys that a problem sentence is about: the options it names (`--unroll`) and
    /// the quantities it names ("the unroll length"), in the order the sentence names them.
    static func settingKeys(in message: String) -> [String] {
        var found: [(position: String.Index, key: String)] = []
        var rest = message[...]
        while let range = rest.range(of: #"--[a-z0-9-]+"#, options: .regularExpression) {
            found.append((range.lowerBound, String(rest[range].dropFirst(2))))
            rest = rest[range.upperBound...]
        }
        for (phrase, keys) in quantities {
            if let range = message.range(of: phrase) { found += keys.map { (range.lowerBound, $0) } }
        }
        var seen: Set<String> = []
        return found.sorted { $0.position < $1.position }.map(\.key).filter { seen.insert($0).inserted }
    }

    /// A run file that gives both `output` and `run-dir` (as RUN_DIR/config.json does) names the
    /// optimizer file of the run in that directory: a replay in another run directory
    /// (`--run-dir OTHER`) would replace the first run's trained optimizer with its own. Refused
    /// unless the command line says where to write (then the file's `output` is not read).
    static func refuseOutputOfAnotherRun(_ file: (output: String, runDir: String, source: String),
                                         own: ArraySlice<String>) throws {
        guard let runDir = try value(of: "run-dir", in: own),
              FilePaths.url(runDir).standardized.path != FilePaths.url(file.runDir).standardized.path else { return }
        throw ValidationError("\(file.source): 'output': \(file.output) is the optimizer file of the run in \(file.runDir); this run trains in \(runDir) (--run-dir) and would replace it: give --output for this run's optimizer (\(joinedPath(runDir, "optimizer.json")), for one)")
    }

    /// The value of `--NAME VALUE` or `--NAME=VALUE` in `arguments`; nil when absent. Given twice
    /// is refused, with `remedy`: the second would silently replace the first.
    static func value(of name: String, in arguments: ArraySlice<String>,
                      remedy: String = "a run file can hold any of the settings, and later flags override it") throws -> String? {
        var found: [String] = []
        var i = arguments.startIndex
        while i < arguments.endIndex {
            let a = arguments[i]
            if a == "--\(name)", i + 1 < arguments.endIndex {
                found.append(arguments[i + 1])
                i += 1
            } else if a.hasPrefix("--\(name)=") {
                found.append(String(a.dropFirst(name.count + 3)))
            }
            i += 1
        }
        guard found.count <= 1 else {
            throw ValidationError("--\(name) is given \(found.count) times; give it once (\(remedy))")
        }
        return found.first
    }
}

extension TrainCommand {
    /// The recipes, one per line, for the help text.
    static var recipeList: String {
        TrainingRecipes.files.map { name, json in
            let note = (try? RunSettings.parse(Data(json.utf8), source: name))?.note ?? ""
            return "  \(name): \(note)"
        }.joined(separator: "\n")
    }

    /// Everything that RUN_DIR/config.json holds: the configuration with every default resolved,
    /// where the run writes, and how often it checkpoints and reports. Checked by reading it back
    /// as `train --config` would: the result must be this very run, or the run does not start.
    func effectiveSettings(_ config: TrainingConfig) throws -> RunSettings {
        var settings = config.runSettings
        settings.set("description", .string("the settings of a metaopt-dist train run (from \(RunFiles.provenance.isEmpty ? "the command line" : RunFiles.provenance.joined(separator: ", then "))); `metaopt-dist train --config FILE` runs it again"))
        settings.set("run-dir", .string(runDirectoryPath(config)))
        settings.set("output", output.map(RunSettings.Value.string) ?? .null)
        settings.set("checkpoint-every", .integer(String(checkpointEvery)))
        settings.set("keep-checkpoints", .integer(String(keepCheckpoints)))
        settings.set("progress-every", .integer(String(progressEvery)))
        // The replay: parsed as the file alone (what `train --config` sees without other flags),
        // so with no option given on the command line (whose checks read values this run had).
        let replay: TrainCommand
        let given = OptionScope.givenOnCommandLine
        OptionScope.givenOnCommandLine = []
        defer { OptionScope.givenOnCommandLine = given }
        do {
            replay = try TrainCommand.parse(settings.arguments)
        } catch {
            throw ReplayError(detail: TrainCommand.message(for: error), settings: settings)
        }
        let replayConfig = try replay.trainingConfig()
        guard replayConfig == config else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let a = (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
            let b = (try? encoder.encode(replayConfig)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
            throw ReplayError(detail: "this run: \(a)\nread back: \(b)", settings: settings)
        }
        guard replay.runDirectoryPath(replayConfig) == runDirectoryPath(config), replay.output == output,
              replay.checkpointEvery == checkpointEvery, replay.keepCheckpoints == keepCheckpoints,
              replay.progressEvery == progressEvery else {
            throw ReplayError(detail: "the run directory, output or checkpoint settings differ", settings: settings)
        }
        return settings
    }

    /// --run-dir, or runs/TASK.
    func runDirectoryPath(_ config: TrainingConfig) -> String { runDir ?? "runs/\(config.task.name)" }
}

/// RUN_DIR/config.json would not reproduce the run: a bug in the mapping from options to settings
/// (`TrainingConfig.runSettings`), reported instead of writing a file that lies.
struct ReplayError: Error, CustomStringConvertible {
    var detail: String
    var settings: RunSettings
    var description: String {
        "internal error: the run's settings, read back, do not give this run, so no config.json could replay it (please report):\n\(detail)\nsettings:\n\(settings.json())"
    }
}


/// The program as this process was started (`metaopt-dist` when found on the PATH), for commands
/// printed for the user to run.
func invocationName() -> String {
    let name = CommandLine.arguments.first ?? "metaopt-dist"
    return name.contains("/") ? shellQuoted(name) : "metaopt-dist"
}

/// `directory/file` for display, as the user wrote `directory`.
func joinedPath(_ directory: String, _ file: String) -> String {
    directory.hasSuffix("/") ? directory + file : directory + "/" + file
}
