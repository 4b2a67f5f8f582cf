/// Shape of a small convolutional classifier: `convolutionChannels.count` blocks of
/// (3×3 convolution, stride 1, zero padding 1 → ReLU → 2×2 max-pool, stride 2, rounding down),
/// then fully connected ReLU layers of `fullyConnectedSizes`, then a linear output layer and the
/// softmax. The default [8, 8, 8] + [32] follows the paper's CIFAR-10 network (three convolutional
/// layers with max-pooling, one fully connected layer of 32 units) without its batch
/// normalisation, with few channels to keep the cost modest.
public struct CNNArchitecture: Sendable, Hashable, Codable {
    public var convolutionChannels: [Int]
    public var fullyConnectedSizes: [Int]
    public var initialization: ParameterInitialization

    public init(convolutionChannels: [Int] = [8, 8, 8], fullyConnectedSizes: [Int] = [32],
                initialization: ParameterInitialization = .fanIn) {
        self.convolutionChannels = convolutionChannels
        self.fullyConnectedSizes = fullyConnectedSizes
        self.initialization = initialization
    }

    /// Per convolution block: input height, width, channels and output channels.
    func convolutionShapes(height: Int, width: Int, channels: Int) -> [CNNConvolutionShape] {
        var shapes: [CNNConvolutionShape] = []
        var h = height, w = width, c = channels
        for out in convolutionChannels {
            shapes.append(CNNConvolutionShape(height: h, width: w, inChannels: c, outChannels: out))
            h /= 2; w /= 2; c = out
        }
        return shapes
    }

    /// Number of parameters (and of them, in the convolution blocks) for images of this shape.
    public func parameterCounts(height: Int, width: Int, channels: Int, outputs: Int) -> (total: Int, convolution: Int) {
        let shapes = convolutionShapes(height: height, width: width, channels: channels)
        let conv = shapes.reduce(0) { $0 + $1.parameterCount }
        let flat = shapes.last.map { $0.pooledHeight * $0.pooledWidth * $0.outChannels } ?? height * width * channels
        return (conv + DenseStack.parameterCount([flat] + fullyConnectedSizes + [outputs]), conv)
    }
}

/// One convolution block's geometry.
struct CNNConvolutionShape: Hashable {
    var height: Int, width: Int, inChannels: Int, outChannels: Int
    var pooledHeight: Int { height / 2 }
    var pooledWidth: Int { width / 2 }
    /// Rows of the kernel matrix (one per tap of the 3×3 window and input channel): 3 · 3 · inChannels.
    var patch: Int { 9 * inChannels }
    var parameterCount: Int { patch * outChannels + outChannels }
}

/// A small convolutional network with softmax cross-entropy: the paper's CIFAR-10 optimizee, also
/// usable on Fashion-MNIST (any `ImageDataset`). See `CNNArchitecture` for the shape.
///
/// Parameter layout (flat θ), in two groups:
/// - group 0 (learned optimizer 0), the convolutions: for each block `l`, `K_l` then `c_l`:
///   `K_l` is `3·3·C_in × C_out` row-major in HWIO order, element `((ky·3 + kx)·C_in + ci)·C_out + co`
///   is the weight from input channel `ci` at offset (ky − 1, kx − 1) to output channel `co`
///   (cross-correlation, as in every deep-learning library); `c_l` is the `C_out` biases.
/// - group 1 (learned optimizer 1), the fully connected layers, laid out as in `MLPOptimizee`
///   (`W` row-major `n_in × n_out`, then `b`). Their input is the last pooled feature map flattened
///   in HWC order: feature `(y · W + x) · C + c`.
///
/// θ₀: `architecture.initialization` (default: He-normal weights, zero biases) from
/// `key.stream(.initialParameters)`. Minibatches: see `ImageClassifierOptimizee`.
/// Each convolution block (convolution, bias, ReLU, max-pool) runs as one direct vector kernel of
/// the kernel path (`KernelPath`: AVX-512, AVX2 or portable), image by image on activations stored
/// NHWC; the backward pass is written by hand (docs/performance.md, "The CNN optimizee").
public struct CNNOptimizee: ClassifierCoreBacked {
    public let architecture: CNNArchitecture
    public let dimension: Int
    /// Number of convolution parameters: θ[0..<convolutionParameterCount] is group 0.
    let convolutionParameterCount: Int
    let core: ClassifierCore


    public init(data: ClassificationData, architecture: CNNArchitecture = CNNArchitecture(),
                batchSize: Int = 128, key: RandomKey) {
        self.init(data: data, architecture: architecture, batchSize: batchSize, key: key, kernels: .default)
    }

    /// `kernels`: the kernel path the convolution blocks run on (tests run every path).
    init(data: ClassificationData, architecture: CNNArchitecture, batchSize: Int, key: RandomKey, kernels: KernelPath) {
        let d = data.dataset
        precondition(!architecture.convolutionChannels.isEmpty && architecture.convolutionChannels.allSatisfy { $0 > 0 },
                     "a CNN needs at least one convolution layer with positive channels")
        precondition(architecture.fullyConnectedSizes.allSatisfy { $0 > 0 }, "fully connected sizes must be positive")
        let shapes = architecture.convolutionShapes(height: d.height, width: d.width, channels: d.channels)
        precondition(shapes.last!.pooledHeight >= 1 && shapes.last!.pooledWidth >= 1,
                     "\(shapes.count) poolings shrink a \(d.height)×\(d.width) image to nothing")
        let counts = architecture.parameterCounts(height: d.height, width: d.width, channels: d.channels,
                                                  outputs: data.outputCount)
        self.architecture = architecture
        self.dimension = counts.total
        self.convolutionParameterCount = counts.convolution
        let fc = architecture.fullyConnectedSizes
        let outputs = data.outputCount
        let image = (d.height, d.width, d.channels)
        core = ClassifierCore(data: data, key: key, batchSize: batchSize, dimension: counts.total) { capacity in
            CNNNetwork(image: image, shapes: shapes, fullyConnected: fc, outputs: outputs, capacity: capacity,
                       kernels: FloatKernels(kernels))
        }
    }

    /// Convolutions → learned optimizer 0, fully connected layers → learned optimizer 1.
    public var parameterGroups: [ParameterGroup] {
        [ParameterGroup(range: 0..<convolutionParameterCount, optimizer: 0),
         ParameterGroup(range: convolutionParameterCount..<dimension, optimizer: 1)]
    }

    public func initialParameters() -> [Float] {
        let d = data.dataset
        let ini = architecture.initialization
        var segments: [InitializationSegment] = []
        let shapes = architecture.convolutionShapes(height: d.height, width: d.width, channels: d.channels)
        for s in shapes {
            segments.append(InitializationSegment(count: s.patch * s.outChannels,
                                                  standardDeviation: ini.weightStandardDeviation(fanIn: s.patch, reluFollows: true)))
            segments.append(InitializationSegment(count: s.outChannels, standardDeviation: ini.biasStandardDeviation()))
        }
        let last = shapes.last!
        let sizes = [last.pooledHeight * last.pooledWidth * last.outChannels] + architecture.fullyConnectedSizes + [data.outputCount]
        for l in 1..<sizes.count {
            let sd = ini.weightStandardDeviation(fanIn: sizes[l - 1], reluFollows: l < sizes.count - 1)
            segments.append(InitializationSegment(count: sizes[l - 1] * sizes[l], standardDeviation: sd))
            segments.append(InitializationSegment(count: sizes[l], standardDeviation: ini.biasStandardDeviation()))
        }
        return drawInitialParameters(segments, key: key)
    }
}

/// The CNN's scratch memory and passes. Activations are NHWC. Only the pooled maps (and which
/// window position each maximum came from) are kept between the passes: the kernels recompute
/// nothing and keep everything at full resolution in a per-image scratch.
final class CNNNetwork: ClassifierNetwork {
    let capacity: Int
    /// Layer 0's input, capacity images in HWC order.
    let input: UnsafeMutablePointer<Float>
    private let imageHeight: Int, imageWidth: Int, imageChannels: Int
    private let shapes: [CNNConvolutionShape]
    private let kernels: FloatKernels
    /// Parameter offsets of each block's kernel and bias.
    private let kernelOffsets: [Int], biasOffsets: [Int]
    /// Per block: the pooled output (capacity·H/2·W/2·C_out) and each value's window position.
    private let pooled: [UnsafeMutablePointer<Float>]
    private let which: [UnsafeMutablePointer<UInt8>]
    /// pooledGradient[l] for l < last (the last is the dense stack's input gradient).
    private let pooledGradient: [UnsafeMutablePointer<Float>]
    /// The kernels' scratch, enough for any block.
    private let scratch: UnsafeMutablePointer<Float>
    private let offsets: UnsafeMutablePointer<Int32>
    /// One example in the data set's CHW order, before `loadExample` reorders it.
    private let example: UnsafeMutablePointer<Float>
    private let dense: DenseStack
    private let arena = ScratchArena()

    init(image: (height: Int, width: Int, channels: Int), shapes: [CNNConvolutionShape],
         fullyConnected: [Int], outputs: Int, capacity: Int, kernels: FloatKernels) {
        self.capacity = capacity
        (imageHeight, imageWidth, imageChannels) = image
        self.shapes = shapes
        self.kernels = kernels
        var k: [Int] = [], b: [Int] = [], offset = 0
        for s in shapes {
            k.append(offset); offset += s.patch * s.outChannels
            b.append(offset); offset += s.outChannels
        }
        kernelOffsets = k
        biasOffsets = b
        let last = shapes.last!
        let flat = last.pooledHeight * last.pooledWidth * last.outChannels
        dense = DenseStack(sizes: [flat] + fullyConnected + [outputs], activation: .relu, parameterOffset: offset,
                           capacity: capacity, computesInputGradient: true)
        input = arena.floats(capacity * image.height * image.width * image.channels)
        example = arena.floats(image.height * image.width * image.channels)
        pooled = shapes.map { [arena] s in arena.floats(capacity * s.pooledHeight * s.pooledWidth * s.outChannels) }
        which = shapes.map { [arena] s in arena.bytes(capacity * s.pooledHeight * s.pooledWidth * s.outChannels) }
        pooledGradient = shapes.dropLast().map { [arena] s in arena.floats(capacity * s.pooledHeight * s.pooledWidth * s.outChannels) }
        let needs = shapes.map {
            FloatKernels.convolutionBlockScratch(height: $0.height, width: $0.width, inChannels: $0.inChannels,
                                                 outChannels: $0.outChannels)
        }
        scratch = arena.floats(needs.map(\.floats).max()!)
        offsets = arena.ints(needs.map(\.offsets).max()!)
    }

    /// CHW example → HWC row; with one channel the orders agree and the example is converted straight
    /// into the row, otherwise through `example`.
    func loadExample(_ i: Int, of dataset: ImageDataset, row: Int) {
        let h = imageHeight, w = imageWidth, c = imageChannels
        let out = input + row * h * w * c
        if c == 1 { dataset.copyExample(i, into: out); return }
        dataset.copyExample(i, into: example)
        for ch in 0..<c {
            for p in 0..<(h * w) { out[p * c + ch] = example[ch * h * w + p] }
        }
    }

    func forward(theta: UnsafePointer<Float>, rows: Int) -> UnsafeMutablePointer<Float> {
        precondition(rows <= capacity)
        var source = UnsafePointer(input)
        for (l, s) in shapes.enumerated() {
            kernels.convolutionBlockForward(images: rows, height: s.height, width: s.width, inChannels: s.inChannels,
                                            outChannels: s.outChannels, input: source, kernel: theta + kernelOffsets[l],
                                            bias: theta + biasOffsets[l], pooled: pooled[l], which: which[l],
                                            scratch: scratch, offsets: offsets)
            source = UnsafePointer(pooled[l])
        }
        return dense.forward(theta: theta, input: pooled[shapes.count - 1], rows: rows)
    }

    func backward(theta: UnsafePointer<Float>, rows: Int, logitGradient: UnsafePointer<Float>,
                  gradient: UnsafeMutablePointer<Float>) {
        let last = shapes.count - 1
        var pooledGrad = dense.backward(theta: theta, input: pooled[last], rows: rows,
                                        logitGradient: logitGradient, gradient: gradient)!
        for l in stride(from: last, through: 0, by: -1) {
            let s = shapes[l]
            let source: UnsafePointer<Float> = l == 0 ? UnsafePointer(input) : UnsafePointer(pooled[l - 1])
            let inputGradient: UnsafeMutablePointer<Float>? = l == 0 ? nil : pooledGradient[l - 1]
            kernels.convolutionBlockBackward(images: rows, height: s.height, width: s.width, inChannels: s.inChannels,
                                             outChannels: s.outChannels, input: source, kernel: theta + kernelOffsets[l],
                                             pooled: pooled[l], which: which[l], dPooled: pooledGrad,
                                             dKernel: gradient + kernelOffsets[l], dBias: gradient + biasOffsets[l],
                                             dInput: inputGradient, scratch: scratch, offsets: offsets)
            if let g = inputGradient { pooledGrad = g }
        }
    }
}
