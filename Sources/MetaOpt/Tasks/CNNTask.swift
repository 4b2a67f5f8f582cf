/// The paper's CNN image classifier (`ImageClassificationFamily` with `.cnn`) as a task family.
package struct CNNTask: ImageTaskPlugin {
    /// The settings; `spec.architecture` is `.cnn`.
    package var spec: ImageTaskSpec

    package init(_ spec: ImageTaskSpec) {
        guard case .cnn = spec.architecture else { preconditionFailure("CNNTask needs a CNN architecture") }
        self.spec = spec
    }

    package static let name = "cnn"
    package static let options = ["conv-channels", "fc-layers"] + ImageTaskSpec.dataOptions
    /// The convolution and the fully connected parameters get separate learned optimizers, as in
    /// the paper.
    package static let optimizerCount = 2

    package init(arguments a: TaskArguments) throws(TaskArgumentError) {
        let architecture = CNNArchitecture(convolutionChannels: try TaskArguments.integers(a.convChannels, "--conv-channels"),
                                           fullyConnectedSizes: try TaskArguments.integers(a.fcLayers, "--fc-layers"))
        self.init(ImageTaskSpec(architecture: .cnn(architecture), arguments: a))
    }

    package static func decodeStored(from decoder: any Decoder) throws -> CNNTask? {
        let spec = try ImageTaskSpec.decodeStored(from: decoder)
        guard case .cnn = spec.architecture else { return nil }
        return CNNTask(spec)
    }

    package var runSettingsValues: [(key: String, value: RunSettings.Value)] {
        guard case .cnn(let a) = spec.architecture else { return [] }
        return [("conv-channels", .list(a.convolutionChannels)), ("fc-layers", .list(a.fullyConnectedSizes))]
            + spec.dataSettingsValues
    }
}
