/// The image-classification task family: a data set (one split, optionally restricted to a label
/// subset), a network architecture and a minibatch size. Every sampled task is the same network
/// on the same data with its own θ₀ and its own minibatch sequence, both drawn from the task's key
/// (so the set of tasks does not depend on the number of ranks).
///
/// `name` is "mlp" or "cnn"; `optimizerCount` is 1 for the MLP and 2 for the CNN (convolution and
/// fully connected parameters get separate learned optimizers, as in the paper).
public struct ImageClassificationFamily: TaskFamily {
    public enum Architecture: Sendable, Hashable, Codable {
        case mlp(MLPArchitecture)
        case cnn(CNNArchitecture)
    }

    public let data: ClassificationData
    public let architecture: Architecture
    public let batchSize: Int

    public init(data: ClassificationData, architecture: Architecture, batchSize: Int = 128) throws(DataError) {
        guard batchSize > 0 else { throw .invalidConfiguration("minibatch size must be positive, got \(batchSize)") }
        let d = data.dataset
        switch architecture {
        case let .mlp(a):
            guard a.hiddenSizes.allSatisfy({ $0 > 0 }) else {
                throw .invalidConfiguration("MLP hidden layer sizes must be positive, got \(a.hiddenSizes)")
            }
        case let .cnn(a):
            guard !a.convolutionChannels.isEmpty, a.convolutionChannels.allSatisfy({ $0 > 0 }),
                  a.fullyConnectedSizes.allSatisfy({ $0 > 0 }) else {
                throw .invalidConfiguration("CNN needs positive convolution channels (at least one layer) and fully connected sizes, got \(a.convolutionChannels) + \(a.fullyConnectedSizes)")
            }
            let poolings = a.convolutionChannels.count, most = Self.mostPoolings(side: min(d.height, d.width))
            guard poolings <= most else {
                throw .invalidConfiguration("the CNN's \(poolings) convolution layers each end in a 2×2 pooling, which halves the image: \(d.height)×\(d.width) images (\(d.source)) allow at most \(most)")
            }
        }
        self.data = data
        self.architecture = architecture
        self.batchSize = batchSize
    }

    /// How many convolution layers images of `side` pixels allow: each ends in a 2×2 pooling that
    /// halves the image, rounding down (28×28 allows four, 32×32 five).
    public static func mostPoolings(side: Int) -> Int { Int.bitWidth - 1 - side.leadingZeroBitCount }

    /// Convenience: the family over `dataset`, restricted to `labelSubset` if given.
    public init(dataset: ImageDataset, architecture: Architecture, labelSubset: [Int]? = nil,
                batchSize: Int = 128) throws(DataError) {
        try self.init(data: ClassificationData(dataset: dataset, labelSubset: labelSubset),
                      architecture: architecture, batchSize: batchSize)
    }

    /// The family over a Fashion-MNIST split (loaded once per process).
    public static func fashionMNIST(split: DatasetSplit = .train, architecture: Architecture = .mlp(MLPArchitecture()),
                                    labelSubset: [Int]? = nil, batchSize: Int = 128,
                                    directory: String = FashionMNIST.defaultDirectory) throws(DataError) -> ImageClassificationFamily {
        try ImageClassificationFamily(dataset: FashionMNIST.load(directory: directory, split: split),
                                      architecture: architecture, labelSubset: labelSubset, batchSize: batchSize)
    }

    public var dataFingerprint: UInt64? { data.dataset.fingerprint }

    public var name: String {
        switch architecture {
        case .mlp: return "mlp"
        case .cnn: return "cnn"
        }
    }

    public var optimizerCount: Int {
        switch architecture {
        case .mlp: return MLPTask.optimizerCount
        case .cnn: return CNNTask.optimizerCount
        }
    }

    /// Number of coordinates of every task's θ.
    public var dimension: Int {
        let d = data.dataset
        switch architecture {
        case let .mlp(a): return a.parameterCount(inputs: d.featureCount, outputs: data.outputCount)
        case let .cnn(a): return a.parameterCounts(height: d.height, width: d.width, channels: d.channels, outputs: data.outputCount).total
        }
    }

    public func sample(_ key: RandomKey) -> any Optimizee { classifier(key) }

    /// Bytes of one function's scratch once it is evaluated (`ClassifierWorkspace`), in Floats per
    /// minibatch row: the input, and every layer's output and its gradient; a CNN block's map
    /// counted before its 2×2 pooling, which covers the pooled map, its gradient and the
    /// argmax bytes (the convolution kernel's per-block scratch is left out). Nil on overflow.
    package var estimatedScratchBytes: Int? {
        let d = data.dataset
        let perRow: Int
        switch architecture {
        case let .mlp(a):
            perRow = d.featureCount + 2 * (a.hiddenSizes.reduce(0, +) + data.outputCount)
        case let .cnn(a):
            let shapes = a.convolutionShapes(height: d.height, width: d.width, channels: d.channels)
            let maps = shapes.reduce(0) { $0 + $1.height * $1.width * $1.outChannels }
            let flat = shapes.last.map { $0.pooledHeight * $0.pooledWidth * $0.outChannels } ?? 0
            perRow = d.featureCount + maps + 2 * (flat + a.fullyConnectedSizes.reduce(0, +) + data.outputCount)
        }
        return SizeLimits.product(batchSize, perRow + 1, 4)  // + 1: the row's target
    }

    /// The task for `key`, with the classifier-specific API (full-data evaluation, minibatch indices).
    public func classifier(_ key: RandomKey) -> any ImageClassifierOptimizee {
        switch architecture {
        case let .mlp(a): return MLPOptimizee(data: data, architecture: a, batchSize: batchSize, key: key)
        case let .cnn(a): return CNNOptimizee(data: data, architecture: a, batchSize: batchSize, key: key)
        }
    }

    /// The same label subset on another split (e.g. the test split), for `evaluate(at:on:limit:)`.
    public func evaluationData(_ dataset: ImageDataset) throws(DataError) -> ClassificationData {
        try data.restricting(dataset)
    }
}
