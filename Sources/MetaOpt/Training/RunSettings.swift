import Foundation

/// The settings of a `metaopt-dist train` run as one JSON object keyed by the train command's long
/// option names, e.g. `{"task": "mlp", "meta-batch": 2, "p": 20, "output-scale": 0.01}`: run files
/// (`train --config FILE`), recipes (`train --recipe NAME`, `TrainingRecipes`) and the
/// RUN_DIR/config.json that every run writes (docs/usage.md, "Run files and recipes").
///
/// A file is turned into command-line arguments (`arguments`) that go before the real ones, so one
/// parser reads flags, files and recipes, and an option given later wins. A value of JSON `null`
/// means "not given": the program's default, and when a later layer says it (`overridden(by:)`), it
/// removes an earlier layer's value.
package struct RunSettings: Equatable, Sendable {
    /// One value as the file holds it.
    package enum Value: Equatable, Sendable, Decodable {
        /// A JSON number with an integral value, as decimal digits (exact for every Int64 and UInt64).
        case integer(String)
        /// Any other JSON number.
        case number(Double)
        case string(String)
        case bool(Bool)
        /// "Not given".
        case null

        package init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null; return }
            if let b = try? c.decode(Bool.self) { self = .bool(b); return }
            if let i = try? c.decode(Int64.self) { self = .integer(String(i)); return }
            if let u = try? c.decode(UInt64.self) { self = .integer(String(u)); return }
            if let d = try? c.decode(Double.self) { self = .number(d); return }
            if let s = try? c.decode(String.self) { self = .string(s); return }
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "an array, an object or a number beyond Double's range")
        }

        /// The value as JSON text.
        package var json: String {
            switch self {
            case .integer(let digits): return digits
            // Swift prints the shortest text that reads back as the same Double, in JSON's syntax
            // ("0.003", "1e-05"); the settings never hold non-finite numbers (they are refused).
            case .number(let d): return "\(d)"
            case .string(let s): return RunSettings.jsonString(s)
            case .bool(let b): return b ? "true" : "false"
            case .null: return "null"
            }
        }
    }

    /// What a key's value must be.
    package enum Kind: Sendable {
        /// A whole number (JSON integer).
        case integer
        /// A whole number ≥ 0 (seeds).
        case unsignedInteger
        /// Any number.
        case number
        /// A string (names, paths).
        case string
        /// Comma-separated whole numbers as on the command line ("20,20"), or one whole number.
        case integerList
        /// A number A (the range [−A, A)) or a string "LO,HI" (the random-scaling options).
        case range
        /// Free text, ignored by training (`description`).
        case note
    }

    /// Every key a file may hold, in the order config.json lists them: the train command's long
    /// option names, less those that belong to one invocation only (`commandLineOnly`), plus
    /// `description`.
    package static let keys: [(name: String, kind: Kind)] = [
        ("description", .note),
        ("task", .string), ("dimension", .integer),
        ("hidden-layers", .integerList), ("activation", .string),
        ("conv-channels", .integerList), ("fc-layers", .integerList),
        ("dataset", .string), ("data-dir", .string), ("labels", .integerList), ("minibatch", .integer), ("mixture", .string),
        ("hidden-size", .integer), ("hidden-sizes", .integerList), ("preprocessing", .string), ("p", .number), ("output-scale", .number),
        ("meta-batch", .integer), ("block-size", .integer), ("unroll", .integer), ("horizon", .integer),
        ("iterations", .integer), ("learning-rate", .number), ("clip-norm", .number),
        ("random-scaling", .range), ("initial-scaling", .range), ("loss-scaling", .range), ("loss-normalization", .string),
        ("init-from", .string),
        ("validate-every", .integer), ("validation-functions", .integer), ("validation-seed", .unsignedInteger),
        ("seed", .unsignedInteger), ("mode", .string), ("max-skips", .integer), ("consistency-every", .integer),
        ("run-dir", .string), ("output", .string),
        ("checkpoint-every", .integer), ("keep-checkpoints", .integer), ("progress-every", .integer),
    ]

    /// Options of train that a file may not set, and why.
    package static let commandLineOnly: [String: String] = [
        "config": "run files do not include other files; give --recipe and --config on the command line",
        "recipe": "run files do not name recipes; give --recipe and --config on the command line",
        "print-config": "it is an action, not a setting; give --print-config on the command line",
        "resume": "resuming is chosen per invocation; give --resume or --no-resume on the command line",
        "no-resume": "resuming is chosen per invocation; give --resume or --no-resume on the command line",
        "inject-fault": "fault injection is for tests; give --inject-fault on the command line",
        "verbose": "logging is chosen per invocation; give --verbose on the command line",
        "log-level": "logging is chosen per invocation; give --log-level on the command line",
        "collective-timeout": "the watchdog's deadline depends on the machines, not the run; give --collective-timeout on the command line",
        "max-memory": "the memory limit depends on the machines, not the run; give --max-memory on the command line",
        "shards": "the split of the ranks depends on the job (φ does not); give --shards on the command line",
        "help": "give --help on the command line",
        "version": "give --version on the command line",
    ]

    /// Keys that state one setting in two ways (`hidden-size` is `hidden-sizes` "H,H"): a layer
    /// that gives one replaces an earlier layer's other, and one file may not hold both.
    package static let alternatives: [String: String] = ["hidden-size": "hidden-sizes", "hidden-sizes": "hidden-size"]

    static let kinds: [String: Kind] = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0.kind) })

    /// The values by key; only keys of `keys`.
    package private(set) var values: [String: Value]

    package init() { values = [:] }

    package subscript(key: String) -> Value? {
        get { values[key] }
    }

    /// Sets `key` (one of `keys`) to `value`; nil removes it.
    package mutating func set(_ key: String, _ value: Value?) {
        precondition(Self.kinds[key] != nil, "\(key) is not a run-settings key")
        values[key] = value
    }

    /// Reads a run file. `source` names it in messages (a path, or "recipe 'NAME'"). The keys in
    /// `replaced` (those the command line gives again) are left out unchecked: their values here
    /// would be replaced anyway.
    package static func parse(_ text: Data, source: String, replaced: Set<String> = []) throws(RunSettingsError) -> RunSettings {
        let utf8 = JSONDiagnosis.utf8(text)
        let data = JSONSyntax.zerosSpeltPlainly(utf8)
        // Strict JSON, as for optimizer files: Foundation's reader takes a comma before '}' and
        // bytes that are not UTF-8 inside a string, which then read as a number out of range.
        if let problem = JSONDiagnosis.strictSyntaxProblem(in: data, transcoded: utf8 != text) {
            throw RunSettingsError(source: source, problems: [problem])
        }
        /// A value, an array or object (which no setting takes), or a number beyond Double's
        /// range, so that every key is checked.
        enum Entry: Decodable {
            case value(Value)
            case compound
            case outOfRange
            init(from decoder: any Decoder) throws {
                if let value = try? Value(from: decoder) { self = .value(value); return }
                // Valid JSON that no Value holds and that is neither an array nor an object can
                // only be a number too large for a Double (1e400).
                let c = try decoder.singleValueContainer()
                let compound = (try? c.decode([Entry].self)) != nil || (try? c.decode([String: Entry].self)) != nil
                self = compound ? .compound : .outOfRange
            }
        }
        let entries: [String: Entry]
        do {
            entries = try JSONDecoder().decode([String: Entry].self, from: data)
        } catch DecodingError.typeMismatch {
            throw RunSettingsError(source: source, problems: ["must hold one JSON object keyed by train's long option names, e.g. {\"task\": \"mlp\", \"meta-batch\": 2}"])
        } catch {
            var detail = ""
            if case DecodingError.dataCorrupted(let context) = error, let underlying = context.underlyingError {
                detail = ": \(underlying)"
            }
            throw RunSettingsError(source: source, problems: ["is not valid JSON\(detail)"])
        }
        var object: [String: Value] = [:]
        var problems: [String] = []
        // A setting the command line replaces is skipped; a key no file may hold is refused still.
        for (key, entry) in entries where !(replaced.contains(key) && kinds[key] != nil) {
            switch entry {
            case .value(let v): object[key] = v
            case .compound:
                // Unknown keys are reported as such below; known ones need a number or a string.
                if let kind = kinds[key] { problems.append("'\(key)' must be \(describe(kind)) (got an array or object)") }
                else { object[key] = .null }
            case .outOfRange:
                if let kind = kinds[key] {
                    problems.append("'\(key)' is out of range: a number beyond ±1.8e308, the largest a Double holds (it must be \(describe(kind)))")
                } else { object[key] = .null }
            }
        }
        for key in duplicateKeys(in: data) {
            problems.append("'\(key)' is given more than once; give each key once (a JSON reader keeps one of them, silently)")
        }
        problems = (problems + Self.problems(of: object)).sorted { a, b in key(of: a) < key(of: b) }
        if !problems.isEmpty { throw RunSettingsError(source: source, problems: problems) }
        var settings = RunSettings()
        settings.values = object
        return settings
    }

    /// The keys of the outermost JSON object in `data` (valid JSON) that occur more than once,
    /// sorted (a nested object is refused for its key anyway).
    static func duplicateKeys(in data: Data) -> [String] {
        JSONDiagnosis.duplicateKeys(in: data).filter { $0.count == 1 }.map { $0[0] }
    }

    /// The key a problem sentence is about (the first quoted word), for ordering.
    private static func key(of problem: String) -> String {
        problem.split(separator: "'").dropFirst().first.map(String.init) ?? problem
    }

    /// Every problem with `values`, one sentence each, keys in file order (sorted).
    static func problems(of values: [String: Value]) -> [String] {
        var problems: [String] = []
        for key in values.keys.sorted() {
            let value = values[key]!
            guard let kind = kinds[key] else {
                if let reason = commandLineOnly[key.hasPrefix("--") ? String(key.dropFirst(2)) : key] {
                    problems.append("'\(key)' cannot be set in a file: \(reason)")
                } else if let guess = suggestion(for: key) {
                    problems.append("unknown key '\(key)' (did you mean '\(guess)'?); the keys are train's long option names")
                } else {
                    problems.append("unknown key '\(key)'; the keys are train's long option names: \(keys.map(\.name).joined(separator: ", "))")
                }
                continue
            }
            if case .null = value { continue }
            if let other = alternatives[key], key < other, let second = values[other], second != .null {
                problems.append("'\(key)' and '\(other)' both set the LSTM's sizes; give one of them")
            }
            if argumentText(value, kind) == nil {
                problems.append("'\(key)' must be \(describe(kind)) (got \(value.json))")
            } else if case .string(let text) = value, text.utf8.contains(0), kind != .note {
                // No command line can carry a NUL; a path with one was written under another
                // name (Foundation encodes it as %00) than the one printed. (Free text may.)
                problems.append("'\(key)' must not contain a NUL character (\\u0000; got \(value.json))")
            }
        }
        return problems
    }

    /// A key of `keys` that `key` looks like a misspelling of: another case, underscores, camel
    /// case or a leading "--", else one a typo or two away ("iteration", "seeds"; one for keys of
    /// up to five letters, so that "x" is not taken for "p").
    static func suggestion(for key: String) -> String? {
        var k = key
        while k.hasPrefix("-") { k.removeFirst() }
        var kebab = ""
        for ch in k {
            if ch.isUppercase { if !kebab.isEmpty && kebab.last != "-" { kebab.append("-") }; kebab.append(contentsOf: ch.lowercased()) }
            else if ch == "_" || ch == " " { kebab.append("-") }
            else { kebab.append(ch) }
        }
        if kinds[kebab] != nil && kebab != key { return kebab }
        let squeezed = kebab.replacingOccurrences(of: "-", with: "")
        if let same = keys.first(where: { $0.name.replacingOccurrences(of: "-", with: "") == squeezed }) { return same.name }
        return Spelling.closest(to: kebab, among: keys.map(\.name), maxDistance: kebab.count > 5 ? 2 : kebab.count > 1 ? 1 : 0)
    }

    static func describe(_ kind: Kind) -> String {
        switch kind {
        case .integer: return "a whole number"
        case .unsignedInteger: return "a whole number from 0 to \(UInt64.max)"  // as the flag says (SeedArgument)
        case .number: return "a finite number"
        case .string, .note: return "a string"
        case .integerList: return "a whole number or a string of comma-separated whole numbers (\"20,20\")"
        case .range: return "a number A or a string \"LO,HI\""
        }
    }

    /// The command-line text of `value` for an option of `kind`, or nil when the value has the
    /// wrong type. Values are not range-checked here: the command's own validation does that, with
    /// the same messages as for flags.
    static func argumentText(_ value: Value, _ kind: Kind) -> String? {
        switch (kind, value) {
        case (.integer, .integer(let digits)), (.integerList, .integer(let digits)): return digits
        case (.unsignedInteger, .integer(let digits)): return digits.hasPrefix("-") ? nil : digits
        case (.number, .integer(let digits)), (.range, .integer(let digits)): return digits
        case (.number, .number(let d)), (.range, .number(let d)): return d.isFinite ? "\(d)" : nil
        case (.string, .string(let s)), (.note, .string(let s)), (.integerList, .string(let s)), (.range, .string(let s)):
            return s
        default: return nil
        }
    }

    /// These settings with `later`'s on top: its values replace these, and its nulls remove them.
    package func overridden(by later: RunSettings) -> RunSettings {
        var merged = self
        for (key, value) in later.values {
            if case .null = value { merged.values[key] = nil } else { merged.values[key] = value }
        }
        // A file's hidden-size replaced the recipe's hidden-size but left its hidden-sizes, which
        // takes precedence, so the later layer lost.
        for (key, value) in later.values where value != .null {
            if let other = Self.alternatives[key], later.values[other] == nil { merged.values[other] = nil }
        }
        return merged
    }

    /// Command-line arguments with the same meaning, `--key=value` (so that values starting with
    /// "-" stay values), in `keys` order; nulls and `description` give none. An empty value is
    /// two words, `--key ""`: argument-parser reads `--key=` as a missing value, which hid the
    /// option's own message ("--run-dir must not be empty").
    package var arguments: [String] {
        Self.keys.flatMap { key, kind -> [String] in
            guard kind != .note, let value = values[key], value != .null,
                  let text = Self.argumentText(value, kind) else { return [] }
            return text.isEmpty ? ["--\(key)", ""] : ["--\(key)=\(text)"]
        }
    }

    /// The `description` value, if any.
    package var note: String? {
        if case .string(let s)? = values["description"] { return s }
        return nil
    }

    /// The settings as a JSON object, one key per line in `keys` order, ending with a newline.
    package func json() -> String {
        let lines = Self.keys.compactMap { key, _ in values[key].map { "  \(Self.jsonString(key)): \($0.json)" } }
        return lines.isEmpty ? "{}\n" : "{\n" + lines.joined(separator: ",\n") + "\n}\n"
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// A run file that cannot be used: every problem, each naming the key.
package struct RunSettingsError: Error, CustomStringConvertible, Sendable {
    /// The file's path, or "recipe 'NAME'".
    package var source: String
    package var problems: [String]
    package init(source: String, problems: [String]) {
        self.source = source
        self.problems = problems
    }
    package var description: String { problems.map { "\(source): \($0)" }.joined(separator: "\n") }
}

extension TrainingConfig {
    /// This configuration as run settings: every key that shapes the run, with the value in
    /// effect (defaults resolved), so that reading them back gives this configuration whatever
    /// the defaults are then. Keys that do not apply to the task are left out; optional settings
    /// that are off are `null`. The run directory and the other per-run keys are the caller's.
    package var runSettings: RunSettings {
        var s = RunSettings()
        func range(_ r: LogScaleRange?) -> RunSettings.Value {
            guard let r else { return .null }
            return r.lower == -r.upper && r.upper > 0 ? .number(r.upper) : .string("\(r.lower),\(r.upper)")
        }
        func int<T: BinaryInteger>(_ v: T) -> RunSettings.Value { .integer(String(v)) }
        s.set("task", .string(task.name))
        for (key, value) in task.settings.runSettingsValues { s.set(key, value) }
        // Two equal layers as before the depth could change (config.json keeps its bytes).
        if let h = optimizer.twoLayerHiddenSize {
            s.set("hidden-size", int(h))
        } else {
            s.set("hidden-sizes", .list(optimizer.hiddenSizes))
        }
        switch optimizer.preprocessing {
        case .raw:
            s.set("preprocessing", .string("raw"))
        case .logAndSign(let p):
            s.set("preprocessing", .string("log-sign"))
            s.set("p", .number(p))
        }
        s.set("output-scale", .number(optimizer.outputScale))
        s.set("meta-batch", int(metaBatch))
        s.set("block-size", int(blockSize))
        s.set("unroll", int(unroll))
        s.set("horizon", int(horizon))
        s.set("iterations", int(iterations))
        s.set("learning-rate", .number(learningRate))
        s.set("clip-norm", clipNorm.map(RunSettings.Value.number) ?? .null)
        s.set("random-scaling", range(randomScaling))
        s.set("initial-scaling", range(initialScaling))
        s.set("loss-scaling", range(lossScaling))
        // Only when on, or off for a mixture (where it is on by default), so that the config.json
        // of a run of another family without it keeps its bytes.
        if let lossNormalization {
            s.set("loss-normalization", .string(lossNormalization.rawValue))
        } else if task.settings is MixtureTask {
            s.set("loss-normalization", .string("none"))
        }
        s.set("init-from", initFrom.map(RunSettings.Value.string) ?? .null)
        if let validation {
            s.set("validate-every", int(validation.every))
            s.set("validation-functions", int(validation.functions))
            s.set("validation-seed", int(validation.seed))
        } else {
            // Off is null, except for a family that validates by default (0 turns it off there),
            // so that the config.json of a run of another family keeps its bytes.
            s.set("validate-every", task.defaultValidateEvery == nil ? .null : int(0))
        }
        s.set("seed", int(seed))
        s.set("mode", .string(mode.rawValue))
        s.set("max-skips", int(maxConsecutiveSkips))
        s.set("consistency-every", int(consistencyCheckEvery))
        return s
    }
}

extension TrainingRecipes {
    /// The recipes' names, in `files` order.
    package static var names: [String] { files.map(\.name) }

    /// The settings of recipe `name`.
    package static func settings(named name: String) throws(RunSettingsError) -> RunSettings {
        guard let file = files.first(where: { $0.name == name }) else {
            throw RunSettingsError(source: "--recipe", problems: ["no recipe '\(name)'; the recipes are \(names.joined(separator: ", "))"])
        }
        return try RunSettings.parse(Data(file.json.utf8), source: "recipe '\(name)' (recipes/\(name).json)")
    }
}
