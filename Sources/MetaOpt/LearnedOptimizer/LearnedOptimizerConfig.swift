/// How a gradient coordinate is turned into the LSTM's input.
public enum InputPreprocessing: Codable, Hashable, Sendable {
    /// The raw gradient coordinate, one input (the paper's choice for the quadratics).
    case raw
    /// Appendix A of the paper, two inputs per coordinate g with constant p:
    /// `(log|g| / p, sign g)` if `|g| ≥ e^-p`, else `(-1, e^p · g)`. The paper uses p = 10.
    case logAndSign(p: Double)

    /// Number of LSTM inputs per coordinate.
    public var inputCount: Int {
        switch self {
        case .raw: return 1
        case .logAndSign: return 2
        }
    }

    public var description: String {
        switch self {
        case .raw: return "raw"
        case .logAndSign(let p): return "log-sign(p=\(p))"
        }
    }
}

/// The architecture of the learned optimizer m(·; φ): two LSTM layers of `hiddenSize` units,
/// then a linear map hiddenSize → 1 multiplied by `outputScale`, run coordinatewise.
///
/// `optimizerCount` independent copies (each with its own weights) exist in one φ: the CNN
/// optimizee uses one for convolution parameters and one for fully connected parameters.
public struct LearnedOptimizerConfig: Codable, Hashable, Sendable {
    public var hiddenSize: Int
    public var preprocessing: InputPreprocessing
    /// Multiplies the network's output: 1 for the quadratics (paper), 0.1 for MNIST/CIFAR.
    public var outputScale: Double
    public var optimizerCount: Int

    public init(hiddenSize: Int = 20, preprocessing: InputPreprocessing = .raw,
                outputScale: Double = 1, optimizerCount: Int = 1) {
        self.hiddenSize = hiddenSize
        self.preprocessing = preprocessing
        self.outputScale = outputScale
        self.optimizerCount = optimizerCount
    }

    /// One line for messages: "hidden size 20, log-sign(p=5.0), output scale 0.01, 1 optimizer".
    public var summary: String {
        "hidden size \(hiddenSize), \(preprocessing.description), output scale \(outputScale), \(optimizerCount) optimizer\(optimizerCount == 1 ? "" : "s")"
    }

    /// Number of inputs per coordinate of the first LSTM layer.
    public var inputCount: Int { preprocessing.inputCount }
}
