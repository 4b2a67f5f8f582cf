import Foundation

/// One optimizee family as a plug-in: a value is one configured task (its settings), the static
/// members describe the family. `TaskSpec` wraps a value; `TaskRegistry` lists the families, and
/// the command line, the trainer and the evaluator ask them instead of switching over names.
///
/// Adding a family is one new file with a type conforming to this protocol plus its line in
/// `TaskRegistry.plugins`.
package protocol TaskPlugin: Equatable, Sendable {
    /// The `--task` name, also the run settings' `task` value and the default run directory's name.
    static var name: String { get }
    /// The command-line options (long names, without "--") the family reads from `TaskArguments`.
    static var options: [String] { get }
    /// Settings of a run that does not say otherwise.
    static var defaults: TaskDefaults { get }
    /// Learned optimizers (LSTMs) the family's optimizees use: the one place this number is stated.
    static var optimizerCount: Int { get }
    /// Whether the optimizees provide a Hessian (`SecondOrderOptimizee`) for exact meta-gradients.
    static var supportsSecondOrder: Bool { get }
    /// Whether the family draws from a data set with a train and a test split (evaluate's
    /// `--split`); without one, held-out functions differ from training ones by their seed only.
    static var hasDataSplit: Bool { get }

    /// The key `TaskSpec` stores the settings under in JSON (checkpoints, optimizer files).
    static var storageKey: String { get }
    /// Writes the settings as they are stored under `storageKey`.
    func encodeStored(to encoder: any Encoder) throws
    /// Reads settings stored under `storageKey`; nil when they belong to another family that
    /// shares the key (the MLP and the CNN are both stored as "image").
    static func decodeStored(from decoder: any Decoder) throws -> Self?

    /// The task the command-line options describe.
    init(arguments: TaskArguments) throws(TaskArgumentError)
    /// What is wrong with these settings, one sentence each (empty: nothing).
    var problems: [String] { get }
    /// The run-settings keys and values of these settings (config.json), all of `options`.
    var runSettingsValues: [(key: String, value: RunSettings.Value)] { get }
    /// The same task on another data split; families without one return themselves.
    func onSplit(_ split: DatasetSplit) -> Self
    /// The same task with its data read from `directory`; families without data return themselves.
    func readingData(from directory: String) -> Self
    /// The data sets the task reads and where from (nil: the data set's standard location),
    /// one entry per image family or component; empty for families without data.
    var dataLocations: [(dataset: String, directory: String?)] { get }
    /// The family, ready to sample (a data set is loaded here, once per process).
    func makeFamily() throws -> any TaskFamily
    /// Coordinates of every sampled θ.
    func coordinateCount() throws -> Int
    /// Bytes that `count` sampled functions hold (a quadratic's W and y, an image network's
    /// scratch for its minibatch; not a data set that all functions share). For the memory
    /// estimates of train and evaluate, which refuse before sampling: from the settings alone
    /// (image tasks load their data set for its shape). Nil when it overflows Int.
    func estimatedBytes(functions count: Int) throws -> Int?
    /// Bytes of the copy an engine makes of `count` functions to evaluate them together
    /// (`OptimizeeBatch`; default 0: the family has none). Nil when it overflows Int.
    func estimatedBatchBytes(functions count: Int) -> Int?
    /// How evaluation reports name the task (report.json's `task`), e.g. "quadratic(dimension: 10)".
    var reportDescription: String { get }
}

extension TaskPlugin {
    package static var supportsSecondOrder: Bool { false }
    package static var hasDataSplit: Bool { false }
    package static var storageKey: String { name }

    package func onSplit(_ split: DatasetSplit) -> Self { self }
    package func readingData(from directory: String) -> Self { self }
    package var dataLocations: [(dataset: String, directory: String?)] { [] }
    package func estimatedBatchBytes(functions count: Int) -> Int? { 0 }
    package func coordinateCount() throws -> Int {
        try makeFamily().sample(RandomKey(seed: 0, horizon: 0, task: 0)).dimension
    }

    /// Equality with a task of any family (false across families).
    func isEqual(to other: any TaskPlugin) -> Bool { (other as? Self) == self }
}

extension TaskPlugin where Self: Codable {
    /// Stored as the settings' own JSON object.
    package func encodeStored(to encoder: any Encoder) throws { try encode(to: encoder) }
    package static func decodeStored(from decoder: any Decoder) throws -> Self? { try Self(from: decoder) }
}

/// A family's settings for a run that does not say otherwise.
package struct TaskDefaults: Sendable {
    /// The learned optimizer; its `optimizerCount` is the family's (`TaskPlugin.optimizerCount`).
    package var optimizer: LearnedOptimizerConfig
    /// Functions that run together in one block (one GEMM).
    package var blockSize: Int
    /// Functions per meta-step.
    package var metaBatch: Int
    /// Meta-steps.
    package var iterations: Int
    /// Adam's learning rate on φ.
    package var learningRate: Double
    /// Meta-steps between validations (`train --validate-every`); nil: no validation.
    package var validateEvery: Int?

    package init(optimizer: LearnedOptimizerConfig, blockSize: Int, metaBatch: Int, iterations: Int, learningRate: Double,
                 validateEvery: Int? = nil) {
        self.optimizer = optimizer
        self.blockSize = blockSize
        self.metaBatch = metaBatch
        self.iterations = iterations
        self.learningRate = learningRate
        self.validateEvery = validateEvery
    }
}

/// The task options of the command line, parsed but not yet interpreted: each family reads the
/// ones it uses (`TaskPlugin.options`), so that a malformed value of an option the family ignores
/// stays ignored.
package struct TaskArguments: Sendable {
    package var dimension: Int
    /// Comma-separated widths, as given.
    package var hiddenLayers: String
    package var activation: Activation
    /// Comma-separated channel counts, as given.
    package var convChannels: String
    /// Comma-separated widths, as given.
    package var fcLayers: String
    package var dataset: ImageTaskSpec.Dataset
    package var dataDirectory: String?
    package var labels: [Int]?
    package var minibatch: Int
    /// The mixture's components as `--mixture` gives them (`MixtureTask`).
    package var mixture: String?

    package init(dimension: Int = 10, hiddenLayers: String = "20", activation: Activation = .sigmoid,
                convChannels: String = "8,8,8", fcLayers: String = "32", dataset: ImageTaskSpec.Dataset = .fashionMNIST,
                dataDirectory: String? = nil, labels: [Int]? = nil, minibatch: Int = 128, mixture: String? = nil) {
        self.dimension = dimension
        self.hiddenLayers = hiddenLayers
        self.activation = activation
        self.convChannels = convChannels
        self.fcLayers = fcLayers
        self.dataset = dataset
        self.dataDirectory = dataDirectory
        self.labels = labels
        self.minibatch = minibatch
        self.mixture = mixture
    }

    /// Comma-separated whole numbers `text` of option `flag` ("--hidden-layers").
    package static func integers(_ text: String, _ flag: String) throws(TaskArgumentError) -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count else {
            throw TaskArgumentError(description: "\(flag) must be comma-separated whole numbers (got '\(text)')")
        }
        return values
    }
}

/// A task option that cannot be read; the description is the message for the user.
package struct TaskArgumentError: Error, CustomStringConvertible, Sendable {
    package var description: String
    package init(description: String) { self.description = description }
}

