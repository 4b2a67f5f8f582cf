import Foundation

/// Which optimizee family a run trains or evaluates on, with its settings: one `TaskPlugin` value
/// of any registered family (`TaskRegistry`).
///
/// Stored as a one-key JSON object, the family's `storageKey` over its settings:
/// `{"quadratic":{"dimension":10}}`, `{"image":{"_0":{...}}}` (the MLP and the CNN, the form of
/// the enum this type replaced, so that checkpoints, optimizer files and config hashes stay as
/// they were).
public struct TaskSpec: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The family's settings.
    package let settings: any TaskPlugin

    package init(_ settings: any TaskPlugin) { self.settings = settings }

    /// f(θ) = ‖Wθ − y‖² with `dimension` coordinates.
    public static func quadratic(dimension: Int) -> TaskSpec { TaskSpec(QuadraticTask(dimension: dimension)) }

    /// An image classifier, the MLP or the CNN as `spec.architecture` says.
    public static func image(_ spec: ImageTaskSpec) -> TaskSpec {
        switch spec.architecture {
        case .mlp: return TaskSpec(MLPTask(spec))
        case .cnn: return TaskSpec(CNNTask(spec))
        }
    }

    /// The registered families' names.
    public static var names: [String] { TaskRegistry.names }

    /// The task the command-line options describe for family `name`.
    package static func parse(name: String, arguments: TaskArguments) throws(TaskArgumentError) -> TaskSpec {
        guard let plugin = TaskRegistry.plugin(named: name) else {
            throw TaskArgumentError(description: "unknown task '\(name)'; valid tasks: \(names.joined(separator: ", "))")
        }
        return TaskSpec(try plugin.init(arguments: arguments))
    }

    private var family: any TaskPlugin.Type { type(of: settings) }

    public var name: String { family.name }
    public var optimizerCount: Int { family.optimizerCount }
    public var supportsSecondOrder: Bool { family.supportsSecondOrder }
    /// Whether `--split` chooses something: the image families, and a mixture with one of them.
    public var hasDataSplit: Bool {
        guard let mixture = settings as? MixtureTask else { return family.hasDataSplit }
        return mixture.components.contains { $0.task.hasDataSplit }
    }

    /// The family's default learned optimizer, with the family's optimizer count.
    public var defaultOptimizer: LearnedOptimizerConfig {
        var c = family.defaults.optimizer
        c.optimizerCount = family.optimizerCount
        return c
    }
    public var defaultBlockSize: Int { family.defaults.blockSize }
    public var defaultMetaBatch: Int { family.defaults.metaBatch }
    public var defaultIterations: Int { family.defaults.iterations }
    public var defaultLearningRate: Double { family.defaults.learningRate }
    /// Meta-steps between the validations of `metaopt-dist train` when it is not told; nil: none.
    public var defaultValidateEvery: Int? { family.defaults.validateEvery }

    public func problems() -> [String] { settings.problems }

    /// The same task on another data split (held-out functions use the test split).
    public func onSplit(_ split: DatasetSplit) -> TaskSpec { TaskSpec(settings.onSplit(split)) }

    /// The same task with its data read from `directory` (image families, and a mixture's image
    /// components; the others are unchanged): a trained task on a host that keeps the data elsewhere.
    public func readingData(from directory: String) -> TaskSpec { TaskSpec(settings.readingData(from: directory)) }

    /// The data sets the task reads and their directories (nil: the standard location), one
    /// entry per image family or mixture component.
    package var dataLocations: [(dataset: String, directory: String?)] { settings.dataLocations }

    /// The family, ready to sample. Image tasks load their data set here (once per process).
    public func makeFamily() throws -> any TaskFamily { try settings.makeFamily() }

    /// Coordinates of every sampled θ (image tasks load their data set for it).
    public func dimension() throws -> Int { try settings.coordinateCount() }

    /// Bytes `count` sampled functions hold, with the copy an engine makes of them as one batch
    /// when `batched` (`TaskPlugin.estimatedBytes(functions:)`, `estimatedBatchBytes(functions:)`).
    package func estimatedBytes(functions count: Int, batched: Bool) throws -> Int? {
        guard let own = try settings.estimatedBytes(functions: count),
              let batch = batched ? settings.estimatedBatchBytes(functions: count) : 0 else { return nil }
        return SizeLimits.sum(own, batch)
    }

    public var description: String { settings.reportDescription }

    public static func == (a: TaskSpec, b: TaskSpec) -> Bool { a.settings.isEqual(to: b.settings) }

    // MARK: Codable

    private struct StorageKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Encodes the settings' `encodeStored` through the settings' own type.
    private struct StoredSettings: Encodable {
        let settings: any TaskPlugin
        func encode(to encoder: any Encoder) throws { try settings.encodeStored(to: encoder) }
    }

    /// Decodes whichever family claims the stored value.
    private struct DecodedSettings: Decodable {
        let settings: any TaskPlugin
        init(from decoder: any Decoder) throws {
            let key = decoder.codingPath.last?.stringValue ?? ""
            for plugin in TaskRegistry.plugins where plugin.storageKey == key {
                if let s = try plugin.decodeStored(from: decoder) { settings = s; return }
            }
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "no task family stores '\(key)' like this"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: StorageKey.self)
        try c.encode(StoredSettings(settings: settings), forKey: StorageKey(stringValue: family.storageKey))
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: StorageKey.self)
        let keys = Set(TaskRegistry.plugins.map { $0.storageKey })
        guard c.allKeys.count == 1, let key = c.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "a task is an object with one key of \(keys.sorted())"))
        }
        guard keys.contains(key.stringValue) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [key],
                                                    debugDescription: "unknown task '\(key.stringValue)'; known: \(keys.sorted())"))
        }
        settings = try c.decode(DecodedSettings.self, forKey: key).settings
    }
}
