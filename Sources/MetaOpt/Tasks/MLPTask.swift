/// The paper's MLP image classifier (`ImageClassificationFamily` with `.mlp`) as a task family.
package struct MLPTask: ImageTaskPlugin {
    /// The settings; `spec.architecture` is `.mlp`.
    package var spec: ImageTaskSpec

    package init(_ spec: ImageTaskSpec) {
        guard case .mlp = spec.architecture else { preconditionFailure("MLPTask needs an MLP architecture") }
        self.spec = spec
    }

    package static let name = "mlp"
    package static let options = ["hidden-layers", "activation"] + ImageTaskSpec.dataOptions
    package static let optimizerCount = 1

    package init(arguments a: TaskArguments) throws(TaskArgumentError) {
        let architecture = MLPArchitecture(hiddenSizes: try TaskArguments.integers(a.hiddenLayers, "--hidden-layers"),
                                           activation: a.activation)
        self.init(ImageTaskSpec(architecture: .mlp(architecture), arguments: a))
    }

    package static func decodeStored(from decoder: any Decoder) throws -> MLPTask? {
        let spec = try ImageTaskSpec.decodeStored(from: decoder)
        guard case .mlp = spec.architecture else { return nil }
        return MLPTask(spec)
    }

    package var runSettingsValues: [(key: String, value: RunSettings.Value)] {
        guard case .mlp(let a) = spec.architecture else { return [] }
        return [("hidden-layers", .list(a.hiddenSizes)), ("activation", .string(a.activation.rawValue))]
            + spec.dataSettingsValues
    }
}
