/// Which optimizee family a run trains or evaluates on, with its settings.
public enum TaskSpec: Codable, Equatable, Sendable {
    /// f(θ) = ‖Wθ − y‖² with `dimension` coordinates.
    case quadratic(dimension: Int)
    /// An image classifier (MLP or CNN) on a data set split.
    case image(ImageTaskSpec)

    public var name: String {
        switch self {
        case .quadratic: return "quadratic"
        case .image(let s):
            switch s.architecture {
            case .mlp: return "mlp"
            case .cnn: return "cnn"
            }
        }
    }

    public static let names = ["quadratic", "mlp", "cnn"]

    /// The paper's settings per family: raw gradient and no output scaling for the quadratics;
    /// Appendix-A preprocessing (p = 10) and output scale 0.1 for the image tasks.
    public var defaultOptimizer: LearnedOptimizerConfig {
        switch self {
        case .quadratic: return LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .raw, outputScale: 1)
        case .image:
            return LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1,
                                          optimizerCount: optimizerCount)
        }
    }

    /// Tasks per block: quadratics are tiny, so 16 of them share one GEMM (128 functions make 8
    /// blocks, enough for 8 ranks); an image task has ~16k coordinates or more and is a block alone.
    public var defaultBlockSize: Int {
        switch self {
        case .quadratic: return 16
        case .image: return 1
        }
    }

    /// Functions per meta-step when the user does not say: 128 quadratics (8 blocks of 16), or 8
    /// image tasks (one block each, enough for 8 ranks).
    public var defaultMetaBatch: Int {
        switch self {
        case .quadratic: return 128
        case .image: return 8
        }
    }

    /// Meta-steps when the user does not say (the quadratic figure is the default job's, which
    /// beats the tuned baselines; docs/results.md).
    public var defaultIterations: Int {
        switch self {
        case .quadratic: return 4000
        case .image: return 1000
        }
    }

    /// Adam's learning rate on φ when the user does not say: 3e-3 for quadratics (the best of
    /// 1e-3 and 3e-3 in our runs, docs/results.md), 1e-3 otherwise.
    public var defaultLearningRate: Double {
        switch self {
        case .quadratic: return 3e-3
        case .image: return 1e-3
        }
    }

    public var optimizerCount: Int {
        switch self {
        case .quadratic: return 1
        case .image(let s):
            switch s.architecture {
            case .mlp: return 1
            case .cnn: return 2
            }
        }
    }

    public var supportsSecondOrder: Bool {
        if case .quadratic = self { return true }
        return false
    }

    public func problems() -> [String] {
        switch self {
        case .quadratic(let n): return n >= 1 ? [] : ["the quadratic dimension must be positive (got \(n))"]
        case .image(let s): return s.problems()
        }
    }

    /// The same task on another data split (held-out functions use the test split).
    public func onSplit(_ split: DatasetSplit) -> TaskSpec {
        guard case .image(var s) = self else { return self }
        s.split = split
        return .image(s)
    }

    /// The family, ready to sample. Image tasks load their data set here (once per process).
    public func makeFamily() throws -> any TaskFamily {
        switch self {
        case .quadratic(let n): return QuadraticFamily(dimension: n)
        case .image(let s): return try s.makeFamily()
        }
    }
}

/// An image-classification task: the network, the data set and split, labels and minibatch size.
public struct ImageTaskSpec: Codable, Equatable, Sendable {
    public enum Dataset: String, Codable, Sendable, CaseIterable {
        case fashionMNIST = "fashion-mnist"
        case mnist
        case cifar10
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

    public func problems() -> [String] {
        var p: [String] = []
        if batchSize < 1 { p.append("the minibatch size must be positive (got \(batchSize))") }
        if dataset != .fashionMNIST && directory == nil {
            p.append("the \(dataset.rawValue) data set needs --data-dir (only Fashion-MNIST has a default location)")
        }
        if let labels = labelSubset {
            if labels.isEmpty || Set(labels).count != labels.count || !labels.allSatisfy({ (0..<10).contains($0) }) {
                p.append("--labels must be distinct class numbers 0…9 (got \(labels))")
            }
        }
        switch architecture {
        case .mlp(let a):
            if a.hiddenSizes.contains(where: { $0 < 1 }) { p.append("hidden layer sizes must be positive") }
        case .cnn(let a):
            if a.convolutionChannels.isEmpty || a.convolutionChannels.contains(where: { $0 < 1 }) {
                p.append("the CNN needs at least one convolution layer with a positive channel count")
            }
            if a.fullyConnectedSizes.contains(where: { $0 < 1 }) { p.append("fully connected sizes must be positive") }
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
