/// The paper's CNN image classifier (`ImageClassificationFamily` with `.cnn`) as a task family.
public struct CNNTask: TaskPlugin {
    /// The settings; `spec.architecture` is `.cnn`.
    public var spec: ImageTaskSpec

    public init(_ spec: ImageTaskSpec) {
        guard case .cnn = spec.architecture else { preconditionFailure("CNNTask needs a CNN architecture") }
        self.spec = spec
    }

    public static let name = "cnn"
    public static let options = ["conv-channels", "fc-layers"] + ImageTaskSpec.dataOptions
    public static var defaults: TaskDefaults { ImageTaskSpec.defaults }
    /// The convolution and the fully connected parameters get separate learned optimizers, as in
    /// the paper.
    public static let optimizerCount = 2
    public static let hasDataSplit = true
    public static var storageKey: String { ImageTaskSpec.storageKey }

    public init(arguments a: TaskArguments) throws(TaskArgumentError) {
        let architecture = CNNArchitecture(convolutionChannels: try TaskArguments.integers(a.convChannels, "--conv-channels"),
                                           fullyConnectedSizes: try TaskArguments.integers(a.fcLayers, "--fc-layers"))
        self.init(ImageTaskSpec(architecture: .cnn(architecture), arguments: a))
    }

    public func encodeStored(to encoder: any Encoder) throws { try spec.encodeStored(to: encoder) }

    public static func decodeStored(from decoder: any Decoder) throws -> CNNTask? {
        let spec = try ImageTaskSpec.decodeStored(from: decoder)
        guard case .cnn = spec.architecture else { return nil }
        return CNNTask(spec)
    }

    public var problems: [String] { spec.problems() }

    public var runSettingsValues: [(key: String, value: RunSettings.Value)] {
        guard case .cnn(let a) = spec.architecture else { return [] }
        return [("conv-channels", .list(a.convolutionChannels)), ("fc-layers", .list(a.fullyConnectedSizes))]
            + spec.dataSettingsValues
    }

    public func onSplit(_ split: DatasetSplit) -> CNNTask { CNNTask(spec.onSplit(split)) }

    public func makeFamily() throws -> any TaskFamily { try spec.makeFamily() }

    public func coordinateCount() throws -> Int { try spec.makeFamily().dimension }

    public var reportDescription: String { spec.reportDescription }
}
