/// Shape of a multilayer perceptron classifier.
public struct MLPArchitecture: Sendable, Hashable, Codable {
    /// Hidden layer widths, input side first. The paper's base network: [20].
    public var hiddenSizes: [Int]
    /// Non-linearity of every hidden layer (the output layer is linear, followed by the softmax).
    public var activation: Activation
    public var initialization: ParameterInitialization

    public init(hiddenSizes: [Int] = [20], activation: Activation = .sigmoid,
                initialization: ParameterInitialization = .normal(standardDeviation: 0.01)) {
        self.hiddenSizes = hiddenSizes
        self.activation = activation
        self.initialization = initialization
    }

    /// Number of parameters for `inputs` features and `outputs` classes
    /// (784-20-10: 784·20 + 20 + 20·10 + 10 = 15,910).
    public func parameterCount(inputs: Int, outputs: Int) -> Int {
        DenseStack.parameterCount([inputs] + hiddenSizes + [outputs])
    }
}

/// A multilayer perceptron on flattened images with softmax cross-entropy: the paper's MNIST
/// optimizee (784-20-10, sigmoid, minibatch 128) and its variants (more units or layers, ReLU).
///
/// Parameter layout (flat θ, one parameter group for one learned optimizer):
/// `[W1, b1, W2, b2, …, W_out, b_out]`, each `W_l` row-major `n_{l−1} × n_l` acting on row vectors
/// (`z_l = a_{l−1} · W_l + b_l`), where `n_0` is the image's feature count (CHW order, see
/// `ImageDataset`) and the last width is `data.outputCount`.
///
/// θ₀: `architecture.initialization` from `key.stream(.initialParameters)`; the default, every
/// coordinate N(0, 0.01²), is the JAX peer's. Minibatches: see `ImageClassifierOptimizee`.
/// Forward and backward use cblas_sgemm over the whole minibatch; scratch memory is allocated on
/// the first call and reused.
public struct MLPOptimizee: ClassifierCoreBacked {
    public let architecture: MLPArchitecture
    public let dimension: Int
    let core: ClassifierCore

    /// Layer widths, input and output included.
    public var layerSizes: [Int] { [data.dataset.featureCount] + architecture.hiddenSizes + [data.outputCount] }

    public init(data: ClassificationData, architecture: MLPArchitecture = MLPArchitecture(),
                batchSize: Int = 128, key: RandomKey) {
        precondition(architecture.hiddenSizes.allSatisfy { $0 > 0 }, "hidden layer sizes must be positive")
        let sizes = [data.dataset.featureCount] + architecture.hiddenSizes + [data.outputCount]
        self.architecture = architecture
        self.dimension = DenseStack.parameterCount(sizes)
        let activation = architecture.activation
        core = ClassifierCore(data: data, key: key, batchSize: batchSize, dimension: dimension) { capacity in
            MLPNetwork(sizes: sizes, activation: activation, capacity: capacity)
        }
    }

    public func initialParameters() -> [Float] {
        let sizes = layerSizes
        var segments: [InitializationSegment] = []
        for l in 1..<sizes.count {
            let hidden = l < sizes.count - 1
            let sd = architecture.initialization.weightStandardDeviation(
                fanIn: sizes[l - 1], reluFollows: hidden && architecture.activation == .relu)
            segments.append(InitializationSegment(count: sizes[l - 1] * sizes[l], standardDeviation: sd))
            segments.append(InitializationSegment(count: sizes[l], standardDeviation: architecture.initialization.biasStandardDeviation()))
        }
        return drawInitialParameters(segments, key: key)
    }
}

/// The MLP's scratch: its input rows and a dense stack.
final class MLPNetwork: ClassifierNetwork {
    let capacity: Int
    let input: UnsafeMutablePointer<Float>
    private let features: Int
    private let stack: DenseStack
    private let arena = ScratchArena()

    init(sizes: [Int], activation: Activation, capacity: Int) {
        self.capacity = capacity
        features = sizes[0]
        stack = DenseStack(sizes: sizes, activation: activation, parameterOffset: 0, capacity: capacity,
                           computesInputGradient: false)
        input = arena.floats(capacity * sizes[0])
    }

    /// The input rows hold the data set's examples as they are: converted straight into the row.
    func loadExample(_ i: Int, of dataset: ImageDataset, row: Int) {
        dataset.copyExample(i, into: input + row * features)
    }

    func forward(theta: UnsafePointer<Float>, rows: Int) -> UnsafeMutablePointer<Float> {
        stack.forward(theta: theta, input: input, rows: rows)
    }

    func backward(theta: UnsafePointer<Float>, rows: Int, logitGradient: UnsafePointer<Float>,
                  gradient: UnsafeMutablePointer<Float>) {
        stack.backward(theta: theta, input: input, rows: rows, logitGradient: logitGradient, gradient: gradient)
    }
}

extension MLPOptimizee: TensorNamedOptimizee {
    /// θ's tensors in layout order: W1, b1, W2, b2, …, the last pair being the output layer.
    public var tensors: [NamedTensor] {
        let sizes = layerSizes
        var result: [NamedTensor] = []
        var offset = 0
        for l in 1..<sizes.count {
            let weights = sizes[l - 1] * sizes[l]
            result.append(NamedTensor(name: "W\(l)", range: offset..<(offset + weights)))
            offset += weights
            result.append(NamedTensor(name: "b\(l)", range: offset..<(offset + sizes[l])))
            offset += sizes[l]
        }
        return result
    }
}
