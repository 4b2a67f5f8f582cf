/// The paper's MLP image classifier (`ImageClassificationFamily` with `.mlp`) as a task family.
public struct MLPTask: TaskPlugin {
    /// The settings; `spec.architecture` is `.mlp`.
    public var spec: ImageTaskSpec

    public init(_ spec: ImageTaskSpec) {
        guard case .mlp = spec.architecture else { preconditionFailure("MLPTask needs an MLP architecture") }
        self.spec = spec
    }

    public static let name = "mlp"
    public static let options = ["hidden-layers", "activation"] + ImageTaskSpec.dataOptions
    public static var defaults: TaskDefaults { ImageTaskSpec.defaults }
    public static let optimizerCount = 1
    public static let hasDataSplit = true
    public static var storageKey: String { ImageTaskSpec.storageKey }

    public init(arguments a: TaskArguments) throws(TaskArgumentError) {
        let architecture = MLPArchitecture(hiddenSizes: try TaskArguments.integers(a.hiddenLayers, "--hidden-layers"),
                                           activation: a.activation)
        self.init(ImageTaskSpec(architecture: .mlp(architecture), arguments: a))
    }

    public func encodeStored(to encoder: any Encoder) throws { try spec.encodeStored(to: encoder) }

    public static func decodeStored(from decoder: any Decoder) throws -> MLPTask? {
        let spec = try ImageTaskSpec.decodeStored(from: decoder)
        guard case .mlp = spec.architecture else { return nil }
        return MLPTask(spec)
    }

    public var problems: [String] { spec.problems() }

    public var runSettingsValues: [(key: String, value: RunSettings.Value)] {
        guard case .mlp(let a) = spec.architecture else { return [] }
        return [("hidden-layers", .list(a.hiddenSizes)), ("activation", .string(a.activation.rawValue))]
            + spec.dataSettingsValues
    }

    public func onSplit(_ split: DatasetSplit) -> MLPTask { MLPTask(spec.onSplit(split)) }

    public func makeFamily() throws -> any TaskFamily { try spec.makeFamily() }

    public func coordinateCount() throws -> Int { try spec.makeFamily().dimension }

    public var reportDescription: String { spec.reportDescription }
}
