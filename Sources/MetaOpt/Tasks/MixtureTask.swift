import Foundation

/// One component of a mixture: a full task of any other family and its weight.
package struct MixtureComponent: Codable, Equatable, Sendable {
    /// Relative probability of drawing this component (positive; weights need not sum to 1).
    package var weight: Double
    package var task: TaskSpec

    package init(weight: Double, task: TaskSpec) {
        self.weight = weight
        self.task = task
    }
}

/// A mixture of task families (`train --task mix --mixture TEXT`): every block of the meta-batch
/// draws one component from its key (`MixtureFamily`), so the mixture does not depend on the
/// number of ranks.
///
/// `--mixture` lists the components separated by ";", each `[WEIGHT*]FAMILY [OPTION=VALUE ...]`
/// with the family's own task options (the long option names without "--"), e.g.
/// `"quadratic; mlp; mlp activation=relu; mlp hidden-layers=20,20; 2*cnn"`. A component starts
/// from the command line's task options (so `--data-dir` is given once) and its OPTION=VALUE
/// pairs override them. Values may contain neither spaces nor ";".
///
/// The mixture's φ has one learned optimizer for every component (the CNN's two parameter groups
/// share it) and the optimizer settings of the command line (one preprocessing, one output scale
/// for all), because the point is one optimizer for every family. Stored as
/// `{"mix": {"components": [{"weight": 1, "task": {"quadratic": {...}}}, ...]}}`, each component
/// a complete `TaskSpec`, so evaluation and resumption read it without the text.
package struct MixtureTask: TaskPlugin, Codable {
    package var components: [MixtureComponent]

    package init(components: [MixtureComponent]) { self.components = components }

    package static let name = "mix"
    package static let options = ["mixture"]
    /// The image tasks' optimizer (log/sign preprocessing, p = 10, output scale 0.1: gradients of
    /// the families differ by orders of magnitude, which raw inputs cannot take). A block is one
    /// function (families cost very different amounts, so small blocks spread them over the ranks
    /// most evenly), 16 per meta-step so that each step sees several families.
    package static let defaults = TaskDefaults(
        optimizer: LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1),
        blockSize: 1, metaBatch: 16, iterations: 1000, learningRate: 1e-3)
    /// One optimizer for all components (see the type's comment).
    package static let optimizerCount = 1
    package static let hasDataSplit = true

    /// The mixture of a run that gives no `--mixture`: the families issue #19 names, equally
    /// weighted (the paper's quadratics; its MLP with sigmoid and ReLU, 20 and 40 units, one and
    /// two hidden layers; the CNN).
    package static let defaultText = "quadratic; mlp; mlp activation=relu; mlp hidden-layers=40; mlp hidden-layers=20,20; cnn"

    package init(arguments: TaskArguments) throws(TaskArgumentError) {
        guard let text = arguments.mixture else {
            self.init(components: try Self.parse(Self.defaultText, base: arguments))
            return
        }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw TaskArgumentError(description: "--mixture is empty; give components such as \"quadratic; mlp; mlp activation=relu; cnn\"")
        }
        self.init(components: try Self.parse(text, base: arguments))
    }

    /// A component's option that cannot be read, said as `problems()` says a component's problems
    /// ("mixture component 2 (cnn): fc-layers must be …"): it named the top-level flag
    /// (`--fc-layers`), which a run file's messages then blamed on its own `fc-layers` key.
    private static func inComponent(_ index: Int, _ name: String, _ error: TaskArgumentError) -> TaskArgumentError {
        var message = error.description
        if message.hasPrefix("--") { message.removeFirst(2) }
        return TaskArgumentError(description: "mixture component \(index + 1) (\(name)): \(message)")
    }

    /// The components `text` lists, each starting from `base`'s options.
    package static func parse(_ text: String, base: TaskArguments) throws(TaskArgumentError) -> [MixtureComponent] {
        var components: [MixtureComponent] = []
        for (index, part) in text.split(separator: ";", omittingEmptySubsequences: false).enumerated() {
            let words = part.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
            guard let head = words.first else {
                throw TaskArgumentError(description: "--mixture has an empty component in '\(text)'")
            }
            var weight = 1.0, name = head
            if let star = head.firstIndex(of: "*") {
                guard let w = Double(head[..<star]), w > 0, w.isFinite else {
                    throw TaskArgumentError(description: "--mixture: the weight in '\(head)' must be a positive number")
                }
                weight = w
                name = String(head[head.index(after: star)...])
            }
            guard let plugin = TaskRegistry.plugin(named: name), plugin.name != MixtureTask.name else {
                let names = TaskRegistry.names.filter { $0 != MixtureTask.name }
                throw TaskArgumentError(description: "--mixture: unknown family '\(name)'; the families are \(names.joined(separator: ", "))")
            }
            var arguments = base
            arguments.mixture = nil
            var given: Set<String> = []
            for word in words.dropFirst() {
                guard let eq = word.firstIndex(of: "=") else {
                    throw TaskArgumentError(description: "--mixture: '\(word)' is not OPTION=VALUE (in the \(name) component)")
                }
                let option = String(word[..<eq]), value = String(word[word.index(after: eq)...])
                guard plugin.options.contains(option) else {
                    throw TaskArgumentError(description: "--mixture: the \(name) family has no option '\(option)'; it reads \(plugin.options.joined(separator: ", "))")
                }
                // As a run file refuses a key given twice: the last one used to win silently.
                guard given.insert(option).inserted else {
                    throw TaskArgumentError(description: "--mixture: '\(option)' is given twice in the \(name) component; give it once")
                }
                do { try arguments.set(option, value) } catch { throw inComponent(index, name, error) }
            }
            do {
                components.append(MixtureComponent(weight: weight, task: TaskSpec(try plugin.init(arguments: arguments))))
            } catch {
                throw inComponent(index, name, error)
            }
        }
        return components
    }

    package var problems: [String] {
        if components.isEmpty { return ["a mixture needs at least one component"] }
        var p: [String] = []
        for (i, c) in components.enumerated() {
            if !(c.weight > 0 && c.weight.isFinite) { p.append("mixture component \(i + 1): the weight must be positive and finite (got \(c.weight))") }
            if c.task.settings is MixtureTask { p.append("mixture component \(i + 1): a mixture cannot contain a mixture") }
            p += c.task.problems().map { "mixture component \(i + 1) (\(c.task.name)): \($0)" }
            // The run's settings hold the mixture as text, whose words are split at spaces and
            // its components at ';': such a value (a --data-dir with a space) could not be read back.
            for (key, value) in c.task.settings.runSettingsValues {
                if case .string(let text) = value, text.contains(where: { $0.isWhitespace || $0 == ";" }) {
                    p.append("mixture component \(i + 1) (\(c.task.name)): its \(key) '\(text)' holds a space or ';', which a mixture cannot hold (it is written as text); use a path without them, e.g. a symbolic link")
                }
            }
        }
        // Each weight finite, their sum too: 1e308 twice made it infinite, and the first
        // component was never drawn.
        if !components.isEmpty, !components.reduce(0, { $0 + $1.weight }).isFinite {
            p.append("the mixture's weights must have a finite sum (got \(components.map { "\($0.weight)" }.joined(separator: " + ")))")
        }
        return p
    }

    /// The components as `--mixture` text with every option spelled out, so that a run file
    /// gives back exactly these components whatever the other options say.
    package var text: String {
        components.map { c in
            let weight = c.weight == c.weight.rounded() && abs(c.weight) < 1e15 ? String(Int(c.weight)) : "\(c.weight)"
            let options = c.task.settings.runSettingsValues.compactMap { key, value -> String? in
                switch value {
                case .null: return nil
                case .integer(let digits): return "\(key)=\(digits)"
                case .number(let d): return "\(key)=\(d)"
                case .string(let s): return "\(key)=\(s)"
                case .bool(let b): return "\(key)=\(b)"
                }
            }
            return (["\(weight)*\(c.task.name)"] + options).joined(separator: " ")
        }.joined(separator: "; ")
    }

    package var runSettingsValues: [(key: String, value: RunSettings.Value)] { [("mixture", .string(text))] }

    package func onSplit(_ split: DatasetSplit) -> MixtureTask {
        MixtureTask(components: components.map { MixtureComponent(weight: $0.weight, task: $0.task.onSplit(split)) })
    }

    package func readingData(from directory: String) -> MixtureTask {
        MixtureTask(components: components.map { MixtureComponent(weight: $0.weight, task: $0.task.readingData(from: directory)) })
    }

    package var dataLocations: [(dataset: String, directory: String?)] { components.flatMap { $0.task.dataLocations } }

    /// One component per function (validation and evaluation).
    package func makeFamily() throws -> any TaskFamily { try makeFamily(functionsPerDraw: 1) }

    /// One component per `functionsPerDraw` consecutive functions (a block in meta-training).
    package func makeFamily(functionsPerDraw: Int) throws -> any TaskFamily {
        MixtureFamily(components: try components.map { ($0.weight, try $0.task.makeFamily()) }, functionsPerDraw: functionsPerDraw)
    }

    /// The largest component's coordinates (the functions differ in size).
    package func coordinateCount() throws -> Int {
        try components.map { try $0.task.dimension() }.max() ?? 0
    }

    /// A block draws one component for all its functions: the largest component's.
    package func estimatedBytes(functions count: Int) throws -> Int? {
        try largest { try $0.estimatedBytes(functions: count) }
    }

    package func estimatedBatchBytes(functions count: Int) -> Int? {
        largest { $0.estimatedBatchBytes(functions: count) }
    }

    private func largest(_ bytes: (any TaskPlugin) throws -> Int?) rethrows -> Int? {
        var largest = 0
        for c in components {
            guard let b = try bytes(c.task.settings) else { return nil }
            largest = max(largest, b)
        }
        return largest
    }

    package var reportDescription: String {
        "mix(" + components.map { "\($0.weight) × \($0.task.description)" }.joined(separator: ", ") + ")"
    }
}

extension TaskArguments {
    /// Sets task option `option` (a long name without "--") from its command-line text.
    mutating func set(_ option: String, _ value: String) throws(TaskArgumentError) {
        switch option {
        case "dimension":
            guard let v = Int(value) else { throw TaskArgumentError(description: "dimension must be a whole number (got '\(value)')") }
            dimension = v
        case "hidden-layers": hiddenLayers = value
        case "activation":
            guard let v = Activation(rawValue: value) else {
                throw TaskArgumentError(description: "activation must be one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(value)')")
            }
            activation = v
        case "conv-channels": convChannels = value
        case "fc-layers": fcLayers = value
        case "dataset":
            guard let v = ImageTaskSpec.Dataset(rawValue: value) else {
                throw TaskArgumentError(description: "dataset must be one of \(ImageTaskSpec.Dataset.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(value)')")
            }
            dataset = v
        case "data-dir": dataDirectory = value
        case "labels": labels = try Self.integers(value, "labels")
        case "minibatch":
            guard let v = Int(value) else { throw TaskArgumentError(description: "minibatch must be a whole number (got '\(value)')") }
            minibatch = v
        default:
            throw TaskArgumentError(description: "the option '\(option)' cannot be set in a component")
        }
    }
}
