/// The examples a classification task draws from: a data set, optionally restricted to a subset
/// of its labels (the paper's "LSTM-sub" experiments: train the optimizer on tasks over some
/// classes, test it on tasks over others).
///
/// With a label subset the classifier has `|labelSubset|` outputs, output `k` standing for class
/// `labelSubset[k]`: the task is then a genuine |S|-class problem (as the paper's CIFAR-5 and
/// CIFAR-2), with no dead output units, and the number of parameters depends on |S|. Minibatches
/// and evaluations use only the examples whose label is in the subset.
public struct ClassificationData: Sendable {
    public let dataset: ImageDataset
    /// The classes used, in output order; nil: all classes, output `k` = class `k`.
    public let labelSubset: [Int]?
    /// Number of outputs of the classifier: `labelSubset.count`, or `dataset.classCount`.
    public let outputCount: Int
    /// Indices (into `dataset`) of the examples the task uses, in increasing order.
    let exampleIndices: [Int32]
    /// Output index of each class, −1 for classes outside the subset.
    let outputForClass: [Int32]

    /// Throws `DataError.invalidConfiguration` for a subset with fewer than two labels, a repeated
    /// label or one outside 0..<classCount, or a label of the subset without any example.
    public init(dataset: ImageDataset, labelSubset: [Int]? = nil) throws(DataError) {
        var map = [Int32](repeating: -1, count: dataset.classCount)
        if let subset = labelSubset {
            guard subset.count >= 2 else {
                throw .invalidConfiguration("a label subset needs at least two labels, got \(subset)")
            }
            for (k, label) in subset.enumerated() {
                guard label >= 0 && label < dataset.classCount else {
                    throw .invalidConfiguration("label \(label) of subset \(subset) is outside 0..<\(dataset.classCount) (\(dataset.source))")
                }
                guard map[label] < 0 else { throw .invalidConfiguration("label \(label) appears twice in subset \(subset)") }
                map[label] = Int32(k)
            }
        } else {
            for k in 0..<dataset.classCount { map[k] = Int32(k) }
        }
        var indices: [Int32] = []
        if labelSubset == nil {
            indices = (0..<dataset.count).map { Int32($0) }
        } else {
            indices.reserveCapacity(dataset.count)
            for (i, label) in dataset.labels.enumerated() where map[Int(label)] >= 0 { indices.append(Int32(i)) }
            // A label without examples would leave its output unused: training on the others alone,
            // silently, is not what the subset asked for.
            var seen = [Bool](repeating: false, count: dataset.classCount)
            for i in indices { seen[Int(dataset.labels[Int(i)])] = true }
            if let absent = labelSubset?.filter({ !seen[$0] }), !absent.isEmpty {
                throw .invalidConfiguration("\(dataset.source): no example of label\(absent.count == 1 ? "" : "s") \(absent.map(String.init).joined(separator: ", ")) of subset \(labelSubset!)")
            }
        }
        guard !indices.isEmpty else {
            throw .invalidConfiguration("\(dataset.source): no example with a label in \(labelSubset.map { "\($0)" } ?? "the data set")")
        }
        guard dataset.count <= Int(Int32.max) else { throw .invalidConfiguration("\(dataset.source): too many examples") }
        self.dataset = dataset
        self.labelSubset = labelSubset
        self.outputCount = labelSubset?.count ?? dataset.classCount
        self.exampleIndices = indices
        self.outputForClass = map
    }

    /// Number of usable examples.
    public var count: Int { exampleIndices.count }

    /// The same label subset on another data set (e.g. the test split, for reports).
    public func restricting(_ other: ImageDataset) throws(DataError) -> ClassificationData {
        try ClassificationData(dataset: other, labelSubset: labelSubset)
    }

    /// The classifier output (target) of dataset example `index`; −1 if its class is not used.
    public func target(ofExample index: Int) -> Int { Int(outputForClass[Int(dataset.labels[index])]) }
}

/// Mean loss and accuracy of a classifier over a set of examples.
public struct ClassificationMetrics: Sendable, Hashable, Codable {
    /// Mean softmax cross-entropy (natural log).
    public var loss: Double
    /// Fraction of examples whose largest logit is the true class.
    public var accuracy: Double
    /// Number of examples evaluated.
    public var count: Int
}

/// How θ₀ is drawn from `key.stream(.initialParameters)`. One standard normal is drawn per
/// coordinate, in θ order, and multiplied by that coordinate's standard deviation (which can be 0),
/// so θ₀ depends only on the key and the layout.
public enum ParameterInitialization: Sendable, Hashable, Codable {
    /// Every coordinate, weights and biases alike, i.i.d. N(0, σ²). σ = 0.01 is what the JAX peer
    /// (and DeepMind's reference code for the MNIST experiment) uses.
    case normal(standardDeviation: Double)
    /// Weights N(0, gain / fanIn) with gain 2 when a ReLU follows (He) and 1 otherwise (LeCun);
    /// biases 0. The default for the CNN, whose signal would vanish through its layers at σ = 0.01.
    case fanIn

    /// Standard deviation of a weight of a layer with this fan-in, followed by a ReLU or not.
    func weightStandardDeviation(fanIn: Int, reluFollows: Bool) -> Double {
        switch self {
        case let .normal(sd): return sd
        case .fanIn: return ((reluFollows ? 2.0 : 1.0) / Double(fanIn)).squareRoot()
        }
    }

    func biasStandardDeviation() -> Double {
        switch self {
        case let .normal(sd): return sd
        case .fanIn: return 0
        }
    }
}

/// One block of consecutive coordinates of θ with one initial standard deviation.
struct InitializationSegment {
    var count: Int
    var standardDeviation: Double
}

/// θ₀ for a layout given as segments (see `ParameterInitialization`).
func drawInitialParameters(_ segments: [InitializationSegment], key: RandomKey) -> [Float] {
    var stream = key.stream(.initialParameters)
    var theta: [Float] = []
    theta.reserveCapacity(segments.reduce(0) { $0 + $1.count })
    for s in segments {
        for _ in 0..<s.count { theta.append(Float(stream.normal() * s.standardDeviation)) }
    }
    return theta
}

/// An image classifier trained with softmax cross-entropy on minibatches (MLP or CNN).
///
/// Minibatches: step `t` uses `batchSize` examples drawn uniformly with replacement from
/// `data.exampleIndices` with the stream `key.stream(.minibatches, substream: t)` (one
/// `integer(below:)` per example, in order) — the same scheme as the JAX peer's `randint`.
/// The loss is the mean over the minibatch.
///
/// Not thread-safe: a value holds scratch memory in a shared reference, so one task (and its
/// copies) must be used from one thread at a time. Tasks are independent of each other.
public protocol ImageClassifierOptimizee: Optimizee {
    var data: ClassificationData { get }
    var batchSize: Int { get }
    var key: RandomKey { get }
    /// The dataset indices of step `step`'s minibatch.
    func minibatchIndices(step: Int) -> [Int]
    /// Mean loss and accuracy at θ over the examples of `data` (default: the task's own), in
    /// order, the first `limit` of them if given. For reports; computed in chunks of `batchSize`.
    func evaluate(at theta: UnsafeBufferPointer<Float>, on data: ClassificationData?, limit: Int?) -> ClassificationMetrics
}

extension ImageClassifierOptimizee {
    public func evaluate(at theta: UnsafeBufferPointer<Float>) -> ClassificationMetrics {
        evaluate(at: theta, on: nil, limit: nil)
    }
}

/// An image classifier whose task state and passes are a `ClassifierCore`: the protocol's
/// requirements come from the core, once for MLPOptimizee and CNNOptimizee.
protocol ClassifierCoreBacked: ImageClassifierOptimizee {
    var core: ClassifierCore { get }
}

extension ClassifierCoreBacked {
    public var data: ClassificationData { core.data }
    public var batchSize: Int { core.batchSize }
    public var key: RandomKey { core.key }

    public func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                                gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        precondition(gradient.count == dimension, "gradient has \(gradient.count) coordinates, expected \(dimension)")
        return core.lossAndGradient(at: theta, step: step, gradient: gradient.baseAddress!)
    }

    /// The minibatch loss of step `step` (forward pass only).
    public func evaluationLoss(at theta: UnsafeBufferPointer<Float>, step: Int) -> Float {
        core.lossAndGradient(at: theta, step: step, gradient: nil)
    }

    public func minibatchIndices(step: Int) -> [Int] { core.minibatchIndices(step: step) }

    public func evaluate(at theta: UnsafeBufferPointer<Float>, on data: ClassificationData?, limit: Int?) -> ClassificationMetrics {
        core.evaluate(at: theta, on: data, limit: limit)
    }
}

/// What the shared classifier code needs from a network.
protocol ClassifierNetwork: AnyObject {
    /// Rows the input buffer holds.
    var capacity: Int { get }
    /// The input buffer: capacity rows, in the network's own layout.
    var input: UnsafeMutablePointer<Float> { get }
    /// Writes example `i` of `dataset` (CHW, `featureCount` values) into row `row` of `input`, in
    /// the network's layout.
    func loadExample(_ i: Int, of dataset: ImageDataset, row: Int)
    /// Logits (rows × outputCount) of the first `rows` input rows.
    func forward(theta: UnsafePointer<Float>, rows: Int) -> UnsafeMutablePointer<Float>
    /// After `forward` on the same rows: writes dLoss/dθ into `gradient` given dLoss/dlogits.
    func backward(theta: UnsafePointer<Float>, rows: Int, logitGradient: UnsafePointer<Float>,
                  gradient: UnsafeMutablePointer<Float>)
}

/// A task's scratch memory: the network (created on first use, so sampling a task is cheap and a
/// task that is never evaluated costs no memory) and the targets of the current rows.
final class ClassifierWorkspace {
    private let make: () -> any ClassifierNetwork
    private var made: (any ClassifierNetwork)?
    let capacity: Int
    let targets: UnsafeMutablePointer<Int32>

    init(capacity: Int, make: @escaping () -> any ClassifierNetwork) {
        self.capacity = capacity
        self.make = make
        targets = .allocate(capacity: capacity)
        targets.initialize(repeating: 0, count: capacity)
    }

    var network: any ClassifierNetwork {
        if let made { return made }
        let n = make()
        made = n
        return n
    }

    deinit { targets.deallocate() }
}

/// The code MLPOptimizee and CNNOptimizee share: minibatches, loss, evaluation.
struct ClassifierCore {
    let data: ClassificationData
    let key: RandomKey
    let batchSize: Int
    let dimension: Int
    let workspace: ClassifierWorkspace

    init(data: ClassificationData, key: RandomKey, batchSize: Int, dimension: Int,
         makeNetwork: @escaping (_ capacity: Int) -> any ClassifierNetwork) {
        precondition(batchSize > 0, "batch size must be positive")
        self.data = data
        self.key = key
        self.batchSize = batchSize
        self.dimension = dimension
        workspace = ClassifierWorkspace(capacity: batchSize) { makeNetwork(batchSize) }
    }

    func minibatchIndices(step: Int) -> [Int] {
        var stream = key.stream(.minibatches, substream: step)
        let pool = data.exampleIndices
        return (0..<batchSize).map { _ in Int(pool[stream.integer(below: pool.count)]) }
    }

    /// Loads step `step`'s minibatch into the network's input and the targets.
    private func loadMinibatch(step: Int, network: any ClassifierNetwork) {
        var stream = key.stream(.minibatches, substream: step)
        // The examples are scattered over the data set: all of their fetches are started first, so
        // that they overlap instead of each copy waiting for its own.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: batchSize) { examples in
            data.exampleIndices.withUnsafeBufferPointer { pool in
                for r in 0..<batchSize {
                    examples[r] = Int(pool[stream.integer(below: pool.count)])
                    data.dataset.prefetchExample(examples[r])
                }
            }
            for r in 0..<batchSize {
                let i = examples[r]
                network.loadExample(i, of: data.dataset, row: r)
                workspace.targets[r] = data.outputForClass[Int(data.dataset.labels[i])]
            }
        }
    }

    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutablePointer<Float>?) -> Float {
        precondition(theta.count == dimension, "θ has \(theta.count) coordinates, expected \(dimension)")
        let network = workspace.network
        loadMinibatch(step: step, network: network)
        let logits = network.forward(theta: theta.baseAddress!, rows: batchSize)
        let scale = Float(1) / Float(batchSize)
        let (sum, _) = ClassifierKernels.softmaxCrossEntropy(
            logits: logits, rows: batchSize, classes: data.outputCount, targets: workspace.targets,
            gradientScale: gradient == nil ? nil : scale)
        if let gradient {
            network.backward(theta: theta.baseAddress!, rows: batchSize, logitGradient: logits, gradient: gradient)
        }
        return Float(sum / Double(batchSize))
    }

    func evaluate(at theta: UnsafeBufferPointer<Float>, on other: ClassificationData?, limit: Int?) -> ClassificationMetrics {
        precondition(theta.count == dimension, "θ has \(theta.count) coordinates, expected \(dimension)")
        let d = other ?? data
        precondition(d.outputCount == data.outputCount && d.dataset.height == data.dataset.height
                     && d.dataset.width == data.dataset.width && d.dataset.channels == data.dataset.channels,
                     "evaluation data must have the task's image shape and number of classes")
        let network = workspace.network
        let total = min(limit ?? d.count, d.count)
        var lossSum = 0.0
        var correct = 0
        var start = 0
        while start < total {
            let rows = min(batchSize, total - start)
            for r in 0..<rows {
                let i = Int(d.exampleIndices[start + r])
                network.loadExample(i, of: d.dataset, row: r)
                workspace.targets[r] = d.outputForClass[Int(d.dataset.labels[i])]
            }
            let logits = network.forward(theta: theta.baseAddress!, rows: rows)
            let (s, c) = ClassifierKernels.softmaxCrossEntropy(logits: logits, rows: rows, classes: d.outputCount,
                                                               targets: workspace.targets, gradientScale: nil)
            lossSum += s
            correct += c
            start += rows
        }
        return ClassificationMetrics(loss: total > 0 ? lossSum / Double(total) : 0,
                                     accuracy: total > 0 ? Double(correct) / Double(total) : 0, count: total)
    }
}
