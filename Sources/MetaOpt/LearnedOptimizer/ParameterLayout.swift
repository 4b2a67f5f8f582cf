/// Where each named tensor of the learned optimizer lives inside the one flat φ buffer.
///
/// For optimizer `o` (0-based) with LSTM layers 1…K of H₁…H_K units the tensors are, in this order:
/// - `lstm1.weight` ((inputs + H₁) × 4H₁, row-major), acting on the row vector [x, h1_prev];
/// - `lstm1.bias` (4H₁);
/// - `lstmk.weight` ((H_{k−1} + H_k) × 4H_k) on [h_{k−1}, h_k_prev]; `lstmk.bias` (4H_k), k = 2…K;
/// - `output.weight` (H_K), `output.bias` (1).
/// The 4H gate columns are ordered i, f, g, o (input, forget, cell candidate, output).
/// One flat buffer means one allreduce and one Adam step act on all of φ.
public struct ParameterLayout: Hashable, Sendable {
    public struct Tensor: Hashable, Sendable {
        public var name: String
        public var offset: Int
        public var shape: [Int]
        public var count: Int { shape.reduce(1, *) }
        public var range: Range<Int> { offset..<(offset + count) }
    }

    /// One LSTM layer of one optimizer: its sizes and where its tensors start.
    public struct Layer: Hashable, Sendable {
        /// Rows of the layer's input below the recurrent part: the preprocessed gradient's inputs
        /// for the first layer, the previous layer's units otherwise.
        public var inputs: Int
        public var hidden: Int
        /// (inputs + hidden) × 4·hidden, row-major.
        public var weight: Int
        /// 4·hidden.
        public var bias: Int
        /// Rows of the weight: inputs + hidden.
        public var weightRows: Int { inputs + hidden }
        public var gates: Int { 4 * hidden }
    }

    /// Offsets of one LSTM optimizer's tensors.
    public struct Block: Hashable, Sendable {
        /// First to last.
        public var layers: [Layer]
        public var outputWeight: Int, outputBias: Int
        public var range: Range<Int>
    }

    public let config: LearnedOptimizerConfig
    public let blocks: [Block]
    public let tensors: [Tensor]
    public let count: Int

    /// Traps, naming the problems, on a configuration whose `problems()` is not empty (no layer,
    /// a size past the limits, whose counts would overflow): check it first where it comes from
    /// outside (`MetaTrainer` and `OptimizerFile.read` do, and throw instead).
    public init(_ config: LearnedOptimizerConfig) {
        let problems = config.problems()
        // fatalError, not precondition: an optimized build drops a precondition's message.
        if !problems.isEmpty { fatalError("ParameterLayout: an unusable learned optimizer configuration: \(problems.joined(separator: "; "))") }
        self.config = config
        var offset = 0
        var blocks: [Block] = []
        var tensors: [Tensor] = []
        func add(_ name: String, _ shape: [Int]) -> Int {
            let t = Tensor(name: name, offset: offset, shape: shape)
            tensors.append(t)
            offset += t.count
            return t.offset
        }
        for o in 0..<config.optimizerCount {
            let prefix = config.optimizerCount == 1 ? "" : "optimizer\(o)."
            let start = offset
            var layers: [Layer] = []
            var inputs = config.inputCount
            for (k, h) in config.hiddenSizes.enumerated() {
                let weight = add(prefix + "lstm\(k + 1).weight", [inputs + h, 4 * h])
                let bias = add(prefix + "lstm\(k + 1).bias", [4 * h])
                layers.append(Layer(inputs: inputs, hidden: h, weight: weight, bias: bias))
                inputs = h
            }
            let wo = add(prefix + "output.weight", [inputs])
            let bo = add(prefix + "output.bias", [1])
            blocks.append(Block(layers: layers, outputWeight: wo, outputBias: bo, range: start..<offset))
        }
        self.blocks = blocks
        self.tensors = tensors
        self.count = offset
    }

    /// The initial φ: every weight uniform in ±1/√H (H the units of the layer it produces: the
    /// LSTM layer's own for its weight, the last layer's for the output weight), biases 0 except
    /// the forget gate's, +1 (so the cell state is kept by default at the start, the usual LSTM
    /// choice), output bias 0. Drawn from `key`'s optimizer-initialisation stream in tensor order,
    /// so it is the same on every rank.
    public func initialParameters<S: MetaScalar>(key: RandomKey, as: S.Type = S.self) -> [S] {
        var stream = key.stream(.optimizerInit)
        var phi = [S](repeating: 0, count: count)
        func drawUniform(_ range: Range<Int>, units: Int) {
            let bound = 1 / Double(units).squareRoot()
            for i in range { phi[i] = S(stream.uniform(-bound, bound)) }
        }
        for block in blocks {
            for layer in block.layers {
                drawUniform(layer.weight..<layer.bias, units: layer.hidden)
            }
            drawUniform(block.outputWeight..<block.outputBias, units: block.layers.last!.hidden)
            for layer in block.layers {
                for j in 0..<layer.hidden { phi[layer.bias + layer.hidden + j] = 1 }
            }
        }
        return phi
    }
}
