import Foundation

/// An image-classification task: the network, the data set and split, labels and minibatch size.
public struct ImageTaskSpec: Codable, Equatable, Sendable {
    public enum Dataset: String, Codable, Sendable, CaseIterable {
        case fashionMNIST = "fashion-mnist"
        case mnist
        case cifar10

        /// The images' side in pixels: 28 for the MNIST sets, 32 for CIFAR-10.
        var imageSide: Int { self == .cifar10 ? CIFAR10.height : 28 }
    }

    public var architecture: ImageClassificationFamily.Architecture
    public var dataset: Dataset
    /// Directory of the data files (nil: Fashion-MNIST's Debian package directory).
    public var directory: String?
    public var split: DatasetSplit
    /// Train on these labels only (the paper's "LSTM-sub"); nil: all ten.
    public var labelSubset: [Int]?
    public var batchSize: Int

    public init(architecture: ImageClassificationFamily.Architecture, dataset: Dataset = .fashionMNIST,
                directory: String? = nil, split: DatasetSplit = .train, labelSubset: [Int]? = nil, batchSize: Int = 128) {
        self.architecture = architecture
        self.dataset = dataset
        self.directory = directory
        self.split = split
        self.labelSubset = labelSubset
        self.batchSize = batchSize
    }

    private enum CodingKeys: String, CodingKey { case architecture, dataset, directory, split, labelSubset, batchSize }

    /// As the synthesized decoder, but Fashion-MNIST's standard location is read as none
    /// (`standardLocationAsNone`): checkpoints and files of earlier versions stored it as given.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let dataset = try c.decode(Dataset.self, forKey: .dataset)
        self.init(architecture: try c.decode(ImageClassificationFamily.Architecture.self, forKey: .architecture),
                  dataset: dataset,
                  directory: Self.standardLocationAsNone(try c.decodeIfPresent(String.self, forKey: .directory), dataset: dataset),
                  split: try c.decode(DatasetSplit.self, forKey: .split),
                  labelSubset: try c.decodeIfPresent([Int].self, forKey: .labelSubset),
                  batchSize: try c.decode(Int.self, forKey: .batchSize))
    }

    /// The directory written one way: without a trailing "/", "//" or "." components (a resume
    /// that spelt it another way was refused as another run's), and nil for Fashion-MNIST's
    /// standard location, as config.json documents it. By the text alone, not the file system:
    /// the configuration must be the same on every host, whatever a path resolves to there. A
    /// ".." is kept (after a link it names the link target's parent, not the text's), and an empty
    /// text is left for `problems()` to refuse.
    static func standardLocationAsNone(_ directory: String?, dataset: Dataset) -> String? {
        guard let directory, !directory.trimmingCharacters(in: .whitespaces).isEmpty else { return directory }
        let absolute = directory.hasPrefix("/")
        let components = directory.split(separator: "/").filter { $0 != "." }
        let text = components.isEmpty ? (absolute ? "/" : ".") : (absolute ? "/" : "") + components.joined(separator: "/")
        if dataset == .fashionMNIST, absolute, !components.contains(".."), text == FashionMNIST.defaultDirectory { return nil }
        return text
    }

    /// An empty `--data-dir` names no directory: it used to pass and end in an internal error when
    /// config.json's replay read `--data-dir=` as a missing value. Also bench's check.
    package static func directoryProblem(_ directory: String?) -> String? {
        guard let directory, directory.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return "--data-dir must not be empty (leave it out for Fashion-MNIST's default location)"
    }

    public func problems() -> [String] {
        var p: [String] = []
        if batchSize < 1 { p.append("the minibatch size must be positive (got \(batchSize))") }
        p += limitProblems()
        if let problem = Self.directoryProblem(directory) { p.append(problem) }
        if dataset != .fashionMNIST && directory == nil {
            p.append("the \(dataset.rawValue) data set needs --data-dir (only Fashion-MNIST has a default location)")
        }
        if let labels = labelSubset {
            if labels.isEmpty || Set(labels).count != labels.count || !labels.allSatisfy({ (0..<10).contains($0) }) {
                p.append("--labels must be distinct class numbers 0…9 (got \(labels))")
            } else if labels.count < 2 {
                // Checked here, before any rank starts, not first by the data set (status 1 there).
                p.append("--labels needs at least two classes to tell apart (got \(labels))")
            }
        }
        switch architecture {
        case .mlp(let a):
            if let bad = a.hiddenSizes.first(where: { $0 < 1 }) {
                p.append("hidden layer sizes (--hidden-layers) must be positive (got \(bad) in \(a.hiddenSizes))")
            }
        case .cnn(let a):
            let side = dataset.imageSide, most = ImageClassificationFamily.mostPoolings(side: side)
            if a.convolutionChannels.isEmpty {
                p.append("the CNN needs at least one convolution layer")
            } else if let bad = a.convolutionChannels.first(where: { $0 < 1 }) {
                p.append("convolution channel counts (--conv-channels) must be positive (got \(bad) in \(a.convolutionChannels))")
            } else if a.convolutionChannels.count > most {
                // As the family checks it, but before any rank starts (--print-config accepted it).
                p.append("the CNN's \(a.convolutionChannels.count) convolution layers (--conv-channels) each end in a 2×2 pooling, which halves the image: \(side)×\(side) images (\(dataset.rawValue)) allow at most \(most)")
            }
            if let bad = a.fullyConnectedSizes.first(where: { $0 < 1 }) {
                p.append("fully connected sizes (--fc-layers) must be positive (got \(bad) in \(a.fullyConnectedSizes))")
            }
        }
        return p
    }

    func makeFamily() throws -> ImageClassificationFamily {
        let data: ImageDataset
        switch dataset {
        case .fashionMNIST: data = try FashionMNIST.load(directory: directory ?? FashionMNIST.defaultDirectory, split: split)
        case .mnist: data = try MNIST.load(directory: directory ?? "", split: split)
        case .cifar10: data = try CIFAR10.load(directory: directory ?? "", split: split)
        }
        return try ImageClassificationFamily(dataset: data, architecture: architecture, labelSubset: labelSubset,
                                             batchSize: batchSize)
    }
}

/// What the MLP and the CNN families share: options, defaults, storage and the data split.
extension ImageTaskSpec {
    /// The command-line options of every image task, besides the network's own.
    static let dataOptions = ["dataset", "data-dir", "labels", "minibatch"]

    /// The paper's settings for the image tasks: Appendix-A preprocessing (p = 10) and output
    /// scale 0.1. A task has ~16k coordinates or more and is a block alone; 8 tasks per meta-step
    /// (one block each, enough for 8 ranks), 1000 meta-steps at 1e-3.
    static let defaults = TaskDefaults(
        optimizer: LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1),
        blockSize: 1, metaBatch: 8, iterations: 1000, learningRate: 1e-3)

    /// The key both image families are stored under (the earlier enum's case).
    static let storageKey = "image"

    /// The earlier enum stored its unlabelled payload under "_0".
    private enum StoredKey: String, CodingKey { case payload = "_0" }

    func encodeStored(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: StoredKey.self)
        try c.encode(self, forKey: .payload)
    }

    static func decodeStored(from decoder: any Decoder) throws -> ImageTaskSpec {
        try decoder.container(keyedBy: StoredKey.self).decode(ImageTaskSpec.self, forKey: .payload)
    }

    /// The task with `architecture` on the data the options name (Fashion-MNIST's standard
    /// location as none: `standardLocationAsNone`).
    init(architecture: ImageClassificationFamily.Architecture, arguments a: TaskArguments) {
        self.init(architecture: architecture, dataset: a.dataset,
                  directory: Self.standardLocationAsNone(a.dataDirectory, dataset: a.dataset),
                  labelSubset: a.labels, batchSize: a.minibatch)
    }

    /// The data keys of the run settings (the network's are the family's).
    var dataSettingsValues: [(key: String, value: RunSettings.Value)] {
        [("dataset", .string(dataset.rawValue)),
         ("data-dir", directory.map(RunSettings.Value.string) ?? .null),
         ("labels", labelSubset.map(RunSettings.Value.list) ?? .null),
         ("minibatch", .integer(String(batchSize)))]
    }

    func onSplit(_ split: DatasetSplit) -> ImageTaskSpec {
        var s = self
        s.split = split
        return s
    }

    /// The same task with its data in `directory` (spelt as `standardLocationAsNone` stores it).
    func readingData(from directory: String) -> ImageTaskSpec {
        var s = self
        s.directory = Self.standardLocationAsNone(directory, dataset: dataset)
        return s
    }
}

/// The MLP and the CNN as task plug-ins: a value is an `ImageTaskSpec` with the family's
/// architecture, and everything but the network's own options, its optimizer count and which
/// architecture it stores comes from the spec.
package protocol ImageTaskPlugin: TaskPlugin {
    /// The settings; `spec.architecture` is the family's.
    var spec: ImageTaskSpec { get }
    /// The task of `spec`, whose architecture must be the family's.
    init(_ spec: ImageTaskSpec)
}

extension ImageTaskPlugin {
    package static var defaults: TaskDefaults { ImageTaskSpec.defaults }
    package static var hasDataSplit: Bool { true }
    package static var storageKey: String { ImageTaskSpec.storageKey }

    package func encodeStored(to encoder: any Encoder) throws { try spec.encodeStored(to: encoder) }

    package var problems: [String] { spec.problems() }

    package func onSplit(_ split: DatasetSplit) -> Self { Self(spec.onSplit(split)) }

    package func readingData(from directory: String) -> Self { Self(spec.readingData(from: directory)) }

    package var dataLocations: [(dataset: String, directory: String?)] { [(spec.dataset.rawValue, spec.directory)] }

    package func makeFamily() throws -> any TaskFamily { try spec.makeFamily() }

    package func coordinateCount() throws -> Int { try spec.makeFamily().dimension }

    package func estimatedBytes(functions count: Int) throws -> Int? {
        try spec.makeFamily().estimatedScratchBytes.flatMap { SizeLimits.product(count, $0) }
    }

    /// "mlp(hidden-layers: 40, activation: sigmoid, …, minibatch: 128, split: test)": the options
    /// as config.json has them (those not set left out) and the split. Reports before this named
    /// the task by the Swift value's dump ("image(MetaOpt.ImageTaskSpec(architecture: …))").
    package var reportDescription: String {
        let options = runSettingsValues.compactMap { key, value -> String? in
            switch value {
            case .null: return nil
            // Quoted (as JSON) where the text could be read as more than one value, a data
            // directory "fm, x: (1)"; lists of whole numbers ("20,20") as they are.
            case .string(let text) where !text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ",") })
                && text.contains(where: { ",:()\"\\".contains($0) || $0.isWhitespace }):
                return "\(key): \(value.json)"
            case .string(let text): return "\(key): \(text)"
            default: return "\(key): \(value.json)"
            }
        }
        return "\(Self.name)(" + (options + ["split: \(spec.split.rawValue)"]).joined(separator: ", ") + ")"
    }
}

extension RunSettings.Value {
    /// Comma-separated whole numbers, as on the command line ("20,20").
    static func list(_ values: [Int]) -> RunSettings.Value { .string(values.map(String.init).joined(separator: ",")) }
}

extension ImageTaskSpec {
    /// The upper limits (`SizeLimits`) of the network's sizes and the minibatch, and the
    /// network's parameter count formed without overflow.
    func limitProblems() -> [String] {
        let widths: [Int]
        switch architecture {
        case .mlp(let a): widths = a.hiddenSizes
        case .cnn(let a): widths = a.convolutionChannels + a.fullyConnectedSizes
        }
        var p = [SizeLimits.problem("the minibatch size", batchSize, limit: SizeLimits.functions),
                 SizeLimits.problem("the number of network layers", widths.count, limit: SizeLimits.networkLayers),
                 widths.max().flatMap { SizeLimits.problem("a layer width or channel count", $0, limit: 1 << 16) }]
            .compactMap { $0 }
        // Adjacent widths multiply into weight counts (3072 inputs for CIFAR-10's pixels).
        var previous = 3 * 32 * 32
        var total = 0
        for w in widths where w >= 1 {
            guard let weights = SizeLimits.product(previous, w, 9), let next = SizeLimits.sum(total, weights),
                  next <= SizeLimits.coordinates else {
                p.append("the network has more than \(SizeLimits.coordinates) parameters")
                break
            }
            total = next
            previous = w
        }
        return p
    }
}
