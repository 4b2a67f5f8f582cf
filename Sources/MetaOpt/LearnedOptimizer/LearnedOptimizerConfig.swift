/// How a gradient coordinate is turned into the LSTM's input.
public enum InputPreprocessing: Codable, Hashable, Sendable, CustomStringConvertible {
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

    /// The encoded form's one key, by name.
    private struct Kind: CodingKey {
        var stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// Reads the synthesized encoding (`{"raw": {}}`, `{"logAndSign": {"p": 10}}`), naming an
    /// unknown kind or a wrong shape in the error (the synthesized decoder said "Invalid number of
    /// keys found, expected one" of `{"clip": {}}`, which has one).
    public init(from decoder: any Decoder) throws {
        let shape = "an object with one key, {\"raw\": {}} or {\"logAndSign\": {\"p\": 10}}"
        let c: KeyedDecodingContainer<Kind>
        do { c = try decoder.container(keyedBy: Kind.self) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be \(shape)"))
        }
        guard c.allKeys.count == 1, let key = c.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "must be \(shape) (got \(c.allKeys.count) keys)"))
        }
        switch key.stringValue {
        case "raw":
            _ = try c.nestedContainer(keyedBy: Kind.self, forKey: key)
            self = .raw
        case "logAndSign":
            struct Constant: Decodable { var p: Double }
            self = .logAndSign(p: try c.decode(Constant.self, forKey: key).p)
        default:
            throw DecodingError.dataCorruptedError(forKey: key, in: c,
                                                   debugDescription: "unknown preprocessing '\(key.stringValue)' (raw or logAndSign)")
        }
    }
}

/// The architecture of the learned optimizer m(·; φ): a stack of LSTM layers of `hiddenSizes`
/// units (first to last; the paper's is two layers of 20), then a linear map from the last
/// layer's state to 1 output, multiplied by `outputScale`, run coordinatewise.
///
/// `optimizerCount` independent copies (each with its own weights) exist in one φ: the CNN
/// optimizee uses one for convolution parameters and one for fully connected parameters.
///
/// Encoded as before the depth could change where that is possible: two equal layers are written
/// as `"hiddenSize": H` (so older builds read them and the bytes are the same), any other stack
/// as `"hiddenSizes": [...]`. Files that hold `"hiddenSize": H` decode as [H, H].
public struct LearnedOptimizerConfig: Codable, Hashable, Sendable {
    /// Units of each LSTM layer, first (reading the preprocessed gradient) to last (read by the
    /// output layer). At least one layer.
    public var hiddenSizes: [Int]
    public var preprocessing: InputPreprocessing
    /// Multiplies the network's output: 1 for the quadratics (paper), 0.1 for MNIST/CIFAR.
    public var outputScale: Double
    public var optimizerCount: Int

    public init(hiddenSizes: [Int] = [20, 20], preprocessing: InputPreprocessing = .raw,
                outputScale: Double = 1, optimizerCount: Int = 1) {
        self.hiddenSizes = hiddenSizes
        self.preprocessing = preprocessing
        self.outputScale = outputScale
        self.optimizerCount = optimizerCount
    }

    /// The size of both layers when the stack is the paper's shape (two equal layers), else nil.
    var twoLayerHiddenSize: Int? {
        hiddenSizes.count == 2 && hiddenSizes[0] == hiddenSizes[1] ? hiddenSizes[0] : nil
    }

    /// One line for messages: "hidden size 20, log-sign(p=5.0), output scale 0.01, 1 optimizer"
    /// ("hidden sizes 20,40,20, ..." for another stack than two equal layers).
    public var summary: String {
        let hidden = twoLayerHiddenSize.map { "hidden size \($0)" }
            ?? "hidden sizes \(hiddenSizes.map(String.init).joined(separator: ","))"
        return "\(hidden), \(preprocessing.description), output scale \(outputScale), \(optimizerCount) optimizer\(optimizerCount == 1 ? "" : "s")"
    }

    /// Number of inputs per coordinate of the first LSTM layer.
    public var inputCount: Int { preprocessing.inputCount }

    private enum CodingKeys: String, CodingKey {
        case hiddenSize, hiddenSizes, preprocessing, outputScale, optimizerCount
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // One of the two, never both: a reader that preferred the other would build another
        // architecture from the same file (the Python reader refuses both too).
        if c.contains(.hiddenSize) && c.contains(.hiddenSizes) {
            throw DecodingError.dataCorruptedError(forKey: .hiddenSizes, in: c,
                                                   debugDescription: "give hiddenSize or hiddenSizes, not both")
        }
        guard c.contains(.hiddenSize) || c.contains(.hiddenSizes) else {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: c.codingPath, debugDescription: "states neither hiddenSize nor hiddenSizes (give one of them)"))
        }
        if let sizes = try c.decodeIfPresent([Int].self, forKey: .hiddenSizes) {
            hiddenSizes = sizes
        } else {
            // Files from before the depth could change: two layers of hiddenSize units.
            let h = try c.decode(Int.self, forKey: .hiddenSize)
            hiddenSizes = [h, h]
        }
        preprocessing = try c.decode(InputPreprocessing.self, forKey: .preprocessing)
        outputScale = try c.decode(Double.self, forKey: .outputScale)
        optimizerCount = try c.decode(Int.self, forKey: .optimizerCount)
    }

    /// Keys in the order the synthesised encoder wrote them, so files keep their bytes.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if let h = twoLayerHiddenSize {
            try c.encode(h, forKey: .hiddenSize)
        } else {
            try c.encode(hiddenSizes, forKey: .hiddenSizes)
        }
        try c.encode(preprocessing, forKey: .preprocessing)
        try c.encode(outputScale, forKey: .outputScale)
        try c.encode(optimizerCount, forKey: .optimizerCount)
    }
}

extension LearnedOptimizerConfig {
    /// The first of `functions` with a parameter group for a learned optimizer this configuration
    /// lacks (outside 0..<optimizerCount), and that optimizer's index; nil when every group has one.
    /// The engine traps on such a function; `LearnedOptimizer.run` and `MetaTrainer` throw first.
    package func firstUnknownOptimizer(in functions: [any Optimizee]) -> (function: Int, optimizer: Int)? {
        for (f, function) in functions.enumerated() {
            if let group = function.parameterGroups.first(where: { !(0..<optimizerCount).contains($0.optimizer) }) {
                return (f, group.optimizer)
            }
        }
        return nil
    }
}
