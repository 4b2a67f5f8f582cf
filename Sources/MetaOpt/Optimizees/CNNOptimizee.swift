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
    /// Columns of the im2col matrix: 3 · 3 · inChannels.
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
/// Convolutions run as im2col + cblas_sgemm on activations stored NHWC, over chunks of images so
/// that the im2col buffer stays below about 8k rows; the backward pass is written by hand.
public struct CNNOptimizee: ClassifierCoreBacked {
    public let architecture: CNNArchitecture
    public let dimension: Int
    /// Number of convolution parameters: θ[0..<convolutionParameterCount] is group 0.
    public let convolutionParameterCount: Int
    let core: ClassifierCore


    public init(data: ClassificationData, architecture: CNNArchitecture = CNNArchitecture(),
                batchSize: Int = 128, key: RandomKey) {
        self.init(data: data, architecture: architecture, batchSize: batchSize, key: key,
                  chunkRowLimit: CNNNetwork.defaultChunkRowLimit)
    }

    /// `chunkRowLimit`: rows per im2col chunk (tests use small values to exercise the chunking).
    init(data: ClassificationData, architecture: CNNArchitecture, batchSize: Int, key: RandomKey, chunkRowLimit: Int) {
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
                       chunkRowLimit: chunkRowLimit)
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

/// The CNN's scratch memory and passes. Activations are NHWC.
final class CNNNetwork: ClassifierNetwork {
    let capacity: Int
    /// Layer 0's input, capacity images in HWC order.
    let input: UnsafeMutablePointer<Float>
    private let imageHeight: Int, imageWidth: Int, imageChannels: Int
    private let shapes: [CNNConvolutionShape]
    /// Parameter offsets of each block's kernel and bias.
    private let kernelOffsets: [Int], biasOffsets: [Int]
    /// Per block: ReLU(conv) output (capacity·H·W·C_out), pooled output, argmax into the former, and
    /// gradients with respect to both.
    private let rectified: [UnsafeMutablePointer<Float>]
    private let pooled: [UnsafeMutablePointer<Float>]
    private let argmax: [UnsafeMutablePointer<Int32>]
    private let rectifiedGradient: [UnsafeMutablePointer<Float>]
    /// pooledGradient[l] for l < last (the last is the dense stack's input gradient).
    private let pooledGradient: [UnsafeMutablePointer<Float>]
    private let columns: UnsafeMutablePointer<Float>
    private let columnGradient: UnsafeMutablePointer<Float>
    private let chunkRows: Int
    private let dense: DenseStack
    private let arena = ScratchArena()

    /// Default upper bound on the rows of one im2col chunk (whole images per chunk, at least one).
    static let defaultChunkRowLimit = 8192

    init(image: (height: Int, width: Int, channels: Int), shapes: [CNNConvolutionShape],
         fullyConnected: [Int], outputs: Int, capacity: Int, chunkRowLimit: Int) {
        self.capacity = capacity
        (imageHeight, imageWidth, imageChannels) = image
        self.shapes = shapes
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
        precondition(shapes.allSatisfy { capacity * $0.height * $0.width * $0.outChannels < Int(Int32.max) },
                     "CNN activations too large for 32-bit argmax indices")
        input = arena.floats(capacity * image.height * image.width * image.channels)
        rectified = shapes.map { [arena] s in arena.floats(capacity * s.height * s.width * s.outChannels) }
        rectifiedGradient = shapes.map { [arena] s in arena.floats(capacity * s.height * s.width * s.outChannels) }
        pooled = shapes.map { [arena] s in arena.floats(capacity * s.pooledHeight * s.pooledWidth * s.outChannels) }
        argmax = shapes.map { [arena] s in arena.ints(capacity * s.pooledHeight * s.pooledWidth * s.outChannels) }
        pooledGradient = shapes.dropLast().map { [arena] s in arena.floats(capacity * s.pooledHeight * s.pooledWidth * s.outChannels) }
        let maxPixels = shapes.map { $0.height * $0.width }.max()!
        let imagesPerChunk = max(1, min(capacity, chunkRowLimit / maxPixels))
        chunkRows = imagesPerChunk * maxPixels
        let maxPatch = shapes.map(\.patch).max()!
        columns = arena.floats(chunkRows * maxPatch)
        columnGradient = arena.floats(shapes.count > 1 ? chunkRows * maxPatch : 0)
    }

    /// CHW image → HWC row.
    func loadExample(_ image: UnsafePointer<Float>, row: Int) {
        let h = imageHeight, w = imageWidth, c = imageChannels
        let out = input + row * h * w * c
        if c == 1 { out.update(from: image, count: h * w); return }
        for ch in 0..<c {
            for p in 0..<(h * w) { out[p * c + ch] = image[ch * h * w + p] }
        }
    }

    /// Images per im2col chunk for a block.
    private func imagesPerChunk(_ s: CNNConvolutionShape) -> Int { max(1, chunkRows / (s.height * s.width)) }

    func forward(theta: UnsafePointer<Float>, rows: Int) -> UnsafeMutablePointer<Float> {
        precondition(rows <= capacity)
        var source = UnsafePointer(input)
        for (l, s) in shapes.enumerated() {
            let pixels = s.height * s.width
            let per = imagesPerChunk(s)
            let out = rectified[l]
            var start = 0
            while start < rows {
                let n = min(per, rows - start)
                Self.im2col(source + start * pixels * s.inChannels, images: n, s, into: columns)
                let chunkOut = out + start * pixels * s.outChannels
                ClassifierKernels.gemm(m: n * pixels, n: s.outChannels, k: s.patch, columns, lda: s.patch,
                                       theta + kernelOffsets[l], ldb: s.outChannels, beta: 0, chunkOut, ldc: s.outChannels)
                start += n
            }
            Self.addBiasAndRectify(out, rows: rows * pixels, channels: s.outChannels, bias: theta + biasOffsets[l])
            Self.maxPool(out, images: rows, s, into: pooled[l], argmax: argmax[l])
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
            let pixels = s.height * s.width
            let dR = rectifiedGradient[l]
            let total = rows * pixels * s.outChannels
            // Max-pool: route each pooled gradient to its argmax, through the ReLU (kept where the
            // output is > 0); every other position gets 0.
            dR.update(repeating: 0, count: total)
            let pooledCount = rows * s.pooledHeight * s.pooledWidth * s.outChannels
            let am = argmax[l], r = rectified[l]
            for j in 0..<pooledCount {
                let i = Int(am[j])
                dR[i] = r[i] > 0 ? pooledGrad[j] : 0
            }
            // dK = colsᵀ · dR (chunk by chunk), dc = Σ dR, dInput = col2im(dR · Kᵀ).
            let gK = gradient + kernelOffsets[l]
            gK.update(repeating: 0, count: s.patch * s.outChannels)
            ClassifierKernels.columnSums(dR, rows: rows * pixels, columns: s.outChannels, into: gradient + biasOffsets[l])
            let source: UnsafePointer<Float> = l == 0 ? UnsafePointer(input) : UnsafePointer(pooled[l - 1])
            let inputGradient: UnsafeMutablePointer<Float>? = l == 0 ? nil : pooledGradient[l - 1]
            if let g = inputGradient { g.update(repeating: 0, count: rows * pixels * s.inChannels) }
            let per = imagesPerChunk(s)
            var start = 0
            while start < rows {
                let n = min(per, rows - start)
                Self.im2col(source + start * pixels * s.inChannels, images: n, s, into: columns)
                let chunkGrad = dR + start * pixels * s.outChannels
                ClassifierKernels.gemm(transposeA: true, m: s.patch, n: s.outChannels, k: n * pixels, columns, lda: s.patch,
                                       chunkGrad, ldb: s.outChannels, beta: 1, gK, ldc: s.outChannels)
                if let g = inputGradient {
                    ClassifierKernels.gemm(transposeB: true, m: n * pixels, n: s.patch, k: s.outChannels, chunkGrad,
                                           lda: s.outChannels, theta + kernelOffsets[l], ldb: s.outChannels, beta: 0,
                                           columnGradient, ldc: s.patch)
                    Self.col2imAdd(columnGradient, images: n, s, into: g + start * pixels * s.inChannels)
                }
                start += n
            }
            if let g = inputGradient { pooledGrad = g }
        }
    }

    /// x[r, c] = max(x[r, c] + bias[c], 0) (NaN passes through).
    static func addBiasAndRectify(_ x: UnsafeMutablePointer<Float>, rows: Int, channels c: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * c
            for j in 0..<c {
                let v = row[j] + bias[j]
                row[j] = v < 0 ? 0 : v
            }
        }
    }

    /// im2col for a 3×3, pad-1 convolution on NHWC input: row (image, y, x), column
    /// (ky·3 + kx)·C + c holds input (image, y + ky − 1, x + kx − 1, c), zero outside the image.
    /// For each ky the three kx taps are 3·C consecutive input values (NHWC), copied in one run
    /// away from the left and right borders. Short loops, not memcpy: runs are only 3–24 floats.
    static func im2col(_ x: UnsafePointer<Float>, images: Int, _ s: CNNConvolutionShape, into col: UnsafeMutablePointer<Float>) {
        let h = s.height, w = s.width, c = s.inChannels, patch = s.patch, run = 3 * c
        for img in 0..<images {
            let image = x + img * h * w * c
            for y in 0..<h {
                for xx in 0..<w {
                    let row = col + ((img * h + y) * w + xx) * patch
                    for ky in 0..<3 {
                        let iy = y + ky - 1
                        let dst = row + ky * run
                        if iy < 0 || iy >= h {
                            for j in 0..<run { dst[j] = 0 }
                        } else if xx >= 1 && xx + 1 < w {
                            let src = image + (iy * w + xx - 1) * c
                            for j in 0..<run { dst[j] = src[j] }
                        } else {
                            for kx in 0..<3 {
                                let ix = xx + kx - 1
                                let d = dst + kx * c
                                if ix >= 0 && ix < w {
                                    let src = image + (iy * w + ix) * c
                                    for j in 0..<c { d[j] = src[j] }
                                } else {
                                    for j in 0..<c { d[j] = 0 }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds each column-matrix entry to the input position it was copied from.
    static func col2imAdd(_ col: UnsafePointer<Float>, images: Int, _ s: CNNConvolutionShape, into x: UnsafeMutablePointer<Float>) {
        let h = s.height, w = s.width, c = s.inChannels, patch = s.patch, run = 3 * c
        for img in 0..<images {
            let image = x + img * h * w * c
            for y in 0..<h {
                for xx in 0..<w {
                    let row = col + ((img * h + y) * w + xx) * patch
                    for ky in 0..<3 {
                        let iy = y + ky - 1
                        guard iy >= 0 && iy < h else { continue }
                        let src = row + ky * run
                        if xx >= 1 && xx + 1 < w {
                            let dst = image + (iy * w + xx - 1) * c
                            for j in 0..<run { dst[j] += src[j] }
                        } else {
                            for kx in 0..<3 {
                                let ix = xx + kx - 1
                                guard ix >= 0 && ix < w else { continue }
                                let dst = image + (iy * w + ix) * c
                                let sk = src + kx * c
                                for j in 0..<c { dst[j] += sk[j] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// 2×2 max-pool, stride 2, on NHWC; a trailing odd row or column is dropped. `argmax` receives the
    /// index into `x` of each maximum (the first one on ties).
    static func maxPool(_ x: UnsafePointer<Float>, images: Int, _ s: CNNConvolutionShape,
                        into out: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
        let h = s.height, w = s.width, c = s.outChannels, ph = s.pooledHeight, pw = s.pooledWidth
        for img in 0..<images {
            for py in 0..<ph {
                for px in 0..<pw {
                    let o = ((img * ph + py) * pw + px) * c
                    let base = ((img * h + 2 * py) * w + 2 * px) * c
                    for ch in 0..<c {
                        var best = base + ch
                        var value = x[best]
                        let right = base + c + ch, down = base + w * c + ch, diagonal = base + w * c + c + ch
                        if x[right] > value { best = right; value = x[right] }
                        if x[down] > value { best = down; value = x[down] }
                        if x[diagonal] > value { best = diagonal; value = x[diagonal] }
                        out[o + ch] = value
                        argmax[o + ch] = Int32(best)
                    }
                }
            }
        }
    }
}
