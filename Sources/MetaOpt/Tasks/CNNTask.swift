/// The paper's CNN image classifier (`ImageClassificationFamily` with `.cnn`) as a task family.
package struct CNNTask: TaskPlugin {
    /// The settings; `spec.architecture` is `.cnn`.
    package var spec: ImageTaskSpec

    package init(_ spec: ImageTaskSpec) {
        guard case .cnn = spec.architecture else { preconditionFailure("CNNTask needs a CNN architecture") }
        self.spec = spec
    }

    package static let name = "cnn"
    package static let options = ["conv-channels", "fc-layers"] + ImageTaskSpec.dataOptions
    package static var defaults: TaskDefaults { ImageTaskSpec.defaults }
    /// The convolution and the fully connected parameters get separate learned optimizers, as in
    /// the paper.
    package static let optimizerCount = 2
    package static let hasDataSplit = true
    package static var storageKey: String { ImageTaskSpec.storageKey }

    package init(arguments a: TaskArguments) throws(TaskArgumentError) {
        let architecture = CNNArchitecture(convolutionChannels: try TaskArguments.integers(a.convChannels, "--conv-channels"),
                                           fullyConnectedSizes: try TaskArguments.integers(a.fcLayers, "--fc-layers"))
        self.init(ImageTaskSpec(architecture: .cnn(architecture), arguments: a))
    }

    package func encodeStored(to encoder: any Encoder) throws { try spec.encodeStored(to: encoder) }

    package static func decodeStored(from decoder: any Decoder) throws -> CNNTask? {
        let spec = try ImageTaskSpec.decodeStored(from: decoder)
        guard case .cnn = spec.architecture else { return nil }
        return CNNTask(spec)
    }

    package var problems: [String] { spec.problems() }

    package var runSettingsValues: [(key: String, value: RunSettings.Value)] {
        guard case .cnn(let a) = spec.architecture else { return [] }
        return [("conv-channels", .list(a.convolutionChannels)), ("fc-layers", .list(a.fullyConnectedSizes))]
            + spec.dataSettingsValues
    }

    package func onSplit(_ split: DatasetSplit) -> CNNTask { CNNTask(spec.onSplit(split)) }

    package func makeFamily() throws -> any TaskFamily { try spec.makeFamily() }

    package func coordinateCount() throws -> Int { try spec.makeFamily().dimension }

    package func estimatedBytes(functions count: Int) throws -> Int? {
        try spec.makeFamily().estimatedScratchBytes.flatMap { SizeLimits.product(count, $0) }
    }

    package var reportDescription: String { spec.reportDescription }
}
