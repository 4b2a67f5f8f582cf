/// The paper's MLP image classifier (`ImageClassificationFamily` with `.mlp`) as a task family.
package struct MLPTask: TaskPlugin {
    /// The settings; `spec.architecture` is `.mlp`.
    package var spec: ImageTaskSpec

    package init(_ spec: ImageTaskSpec) {
        guard case .mlp = spec.architecture else { preconditionFailure("MLPTask needs an MLP architecture") }
        self.spec = spec
    }

    package static let name = "mlp"
    package static let options = ["hidden-layers", "activation"] + ImageTaskSpec.dataOptions
    package static var defaults: TaskDefaults { ImageTaskSpec.defaults }
    package static let optimizerCount = 1
    package static let hasDataSplit = true
    package static var storageKey: String { ImageTaskSpec.storageKey }

    package init(arguments a: TaskArguments) throws(TaskArgumentError) {
        let architecture = MLPArchitecture(hiddenSizes: try TaskArguments.integers(a.hiddenLayers, "--hidden-layers"),
                                           activation: a.activation)
        self.init(ImageTaskSpec(architecture: .mlp(architecture), arguments: a))
    }

    package func encodeStored(to encoder: any Encoder) throws { try spec.encodeStored(to: encoder) }

    package static func decodeStored(from decoder: any Decoder) throws -> MLPTask? {
        let spec = try ImageTaskSpec.decodeStored(from: decoder)
        guard case .mlp = spec.architecture else { return nil }
        return MLPTask(spec)
    }

    package var problems: [String] { spec.problems() }

    package var runSettingsValues: [(key: String, value: RunSettings.Value)] {
        guard case .mlp(let a) = spec.architecture else { return [] }
        return [("hidden-layers", .list(a.hiddenSizes)), ("activation", .string(a.activation.rawValue))]
            + spec.dataSettingsValues
    }

    package func onSplit(_ split: DatasetSplit) -> MLPTask { MLPTask(spec.onSplit(split)) }

    package func makeFamily() throws -> any TaskFamily { try spec.makeFamily() }

    package func coordinateCount() throws -> Int { try spec.makeFamily().dimension }

    package func estimatedBytes(functions count: Int) throws -> Int? {
        try spec.makeFamily().estimatedScratchBytes.flatMap { SizeLimits.product(count, $0) }
    }

    package var reportDescription: String { spec.reportDescription }
}
