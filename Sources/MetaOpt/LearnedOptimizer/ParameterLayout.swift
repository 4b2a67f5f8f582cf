/// Where each named tensor of the learned optimizer lives inside the one flat φ buffer.
///
/// For optimizer `o` (0-based) the tensors are, in this order:
/// - `lstm1.weight` ((inputs + H) × 4H, row-major), acting on the row vector [x, h_prev];
/// - `lstm1.bias` (4H);
/// - `lstm2.weight` ((H + H) × 4H) on [h1, h2_prev]; `lstm2.bias` (4H);
/// - `output.weight` (H), `output.bias` (1).
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

    /// Offsets of one LSTM optimizer's tensors.
    public struct Block: Hashable, Sendable {
        public var weight1: Int, bias1: Int, weight2: Int, bias2: Int, outputWeight: Int, outputBias: Int
        public var range: Range<Int>
    }

    public let config: LearnedOptimizerConfig
    public let blocks: [Block]
    public let tensors: [Tensor]
    public let count: Int

    public init(_ config: LearnedOptimizerConfig) {
        self.config = config
        let h = config.hiddenSize, gates = 4 * config.hiddenSize
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
            let w1 = add(prefix + "lstm1.weight", [config.inputCount + h, gates])
            let b1 = add(prefix + "lstm1.bias", [gates])
            let w2 = add(prefix + "lstm2.weight", [2 * h, gates])
            let b2 = add(prefix + "lstm2.bias", [gates])
            let wo = add(prefix + "output.weight", [h])
            let bo = add(prefix + "output.bias", [1])
            blocks.append(Block(weight1: w1, bias1: b1, weight2: w2, bias2: b2, outputWeight: wo,
                                outputBias: bo, range: start..<offset))
        }
        self.blocks = blocks
        self.tensors = tensors
        self.count = offset
    }

    /// The initial φ: every weight uniform in ±1/√H, biases 0 except the forget gate's, +1 (so the
    /// cell state is kept by default at the start, the usual LSTM choice), output bias 0.
    /// Drawn from `key`'s optimizer-initialisation stream, so it is the same on every rank.
    public func initialParameters<S: MetaScalar>(key: RandomKey, as: S.Type = S.self) -> [S] {
        var stream = key.stream(.optimizerInit)
        let h = config.hiddenSize
        let bound = 1 / Double(h).squareRoot()
        var phi = [S](repeating: 0, count: count)
        for block in blocks {
            for i in block.weight1..<block.bias1 { phi[i] = S(stream.uniform(-bound, bound)) }
            for i in block.weight2..<block.bias2 { phi[i] = S(stream.uniform(-bound, bound)) }
            for i in block.outputWeight..<block.outputBias { phi[i] = S(stream.uniform(-bound, bound)) }
            for j in 0..<h {
                phi[block.bias1 + h + j] = 1
                phi[block.bias2 + h + j] = 1
            }
        }
        return phi
    }
}
