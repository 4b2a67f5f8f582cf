internal import CBLAS
import Foundation

/// Internal numerical kernels of the image classifiers (MLP and CNN optimizees). Namespaced so
/// that they do not collide with other components' helpers.
enum ClassifierKernels {
    /// C = alpha · op(A) · op(B) + beta · C, all row-major Float (cblas_sgemm).
    /// op(A) is m × k, op(B) is k × n, C is m × n.
    @inline(__always)
    static func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                     alpha: Float = 1, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0 && n > 0 else { return }
        if k == 0 {  // BLAS would leave C untouched only for beta = 1; be explicit
            if beta == 0 { c.update(repeating: 0, count: m * ldc) }
            return
        }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// Every row of the m × n matrix `c` set to `bias`.
    @inline(__always)
    static func broadcastRows(_ bias: UnsafePointer<Float>, rows m: Int, columns n: Int, into c: UnsafeMutablePointer<Float>) {
        for r in 0..<m { (c + r * n).update(from: bias, count: n) }
    }

    /// `sums[j] = Σ_r x[r, j]` for an m × n matrix (accumulated in Float, row by row).
    @inline(__always)
    static func columnSums(_ x: UnsafePointer<Float>, rows m: Int, columns n: Int, into sums: UnsafeMutablePointer<Float>) {
        sums.update(repeating: 0, count: n)
        for r in 0..<m {
            let row = x + r * n
            for j in 0..<n { sums[j] += row[j] }
        }
    }

    /// Softmax cross-entropy of `rows` rows of `classes` logits against `targets`.
    /// Returns the summed loss (Double) and the number of rows whose argmax equals the target.
    /// If `gradientScale` is given, overwrites the logits with `gradientScale · (softmax − onehot)`,
    /// i.e. the gradient of `gradientScale · Σ loss`. Computed in Double per row (only rows × classes
    /// values, so the cost is negligible and the loss is accurate to Float rounding of the logits).
    static func softmaxCrossEntropy(logits: UnsafeMutablePointer<Float>, rows: Int, classes: Int,
                                    targets: UnsafePointer<Int32>, gradientScale: Float?) -> (loss: Double, correct: Int) {
        var total = 0.0
        var correct = 0
        for r in 0..<rows {
            let z = logits + r * classes
            let y = Int(targets[r])
            var best = 0
            var maxZ = z[0]
            for j in 1..<max(classes, 1) where z[j] > maxZ { maxZ = z[j]; best = j }
            if best == y { correct += 1 }
            var s = 0.0
            for j in 0..<classes { s += Foundation.exp(Double(z[j] - maxZ)) }
            let logSum = Foundation.log(s)
            total += logSum - Double(z[y] - maxZ)
            if let scale = gradientScale {
                for j in 0..<classes {
                    let p = Foundation.exp(Double(z[j] - maxZ) - logSum)
                    z[j] = scale * Float(j == y ? p - 1 : p)
                }
            }
        }
        return (total, correct)
    }
}

/// A hidden-layer non-linearity.
public enum Activation: String, Sendable, Hashable, Codable, CaseIterable {
    case sigmoid
    case relu

    /// a = σ(z) in place.
    @inline(__always)
    func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .sigmoid:
            for i in 0..<count { x[i] = 1 / (1 + Foundation.exp(-x[i])) }
        case .relu:
            for i in 0..<count { x[i] = x[i] < 0 ? 0 : x[i] }  // NaN passes through, so divergence shows
        }
    }

    /// delta ⊙= σ'(z), with σ' written through the activation a = σ(z):
    /// sigmoid' = a (1 − a), relu' = [a > 0] (so the derivative at 0 is taken as 0).
    @inline(__always)
    func multiplyDerivative(_ delta: UnsafeMutablePointer<Float>, activations a: UnsafePointer<Float>, count: Int) {
        switch self {
        case .sigmoid:
            for i in 0..<count { delta[i] *= a[i] * (1 - a[i]) }
        case .relu:
            for i in 0..<count { delta[i] = a[i] > 0 ? delta[i] : 0 }
        }
    }
}

/// Owns raw Float/Int32 buffers for a network's scratch memory; frees them when released.
final class ScratchArena {
    private var floats: [UnsafeMutablePointer<Float>] = []
    private var ints: [UnsafeMutablePointer<Int32>] = []
    private var bytes: [UnsafeMutablePointer<UInt8>] = []

    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
        floats.append(p)
        return p
    }

    func ints(_ count: Int) -> UnsafeMutablePointer<Int32> {
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
        ints.append(p)
        return p
    }

    func bytes(_ count: Int) -> UnsafeMutablePointer<UInt8> {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
        bytes.append(p)
        return p
    }

    deinit {
        for p in floats { p.deallocate() }
        for p in ints { p.deallocate() }
        for p in bytes { p.deallocate() }
    }
}

/// A stack of fully connected layers `sizes[0] → sizes[1] → … → sizes[L]`: hidden layers use
/// `activation`, the last layer is linear (the logits). Parameters, from `parameterOffset` on:
/// `W1 (sizes[0] × sizes[1], row-major, acting on row vectors: z = a·W + b), b1, W2, b2, …`.
/// Holds its activations for up to `capacity` rows.
final class DenseStack {
    let sizes: [Int]
    let activation: Activation
    let parameterOffset: Int
    let capacity: Int
    /// Offsets (absolute, into θ) of each layer's weights and biases.
    let weightOffsets: [Int]
    let biasOffsets: [Int]
    let parameterCount: Int
    /// activations[l] (l = 1…L): capacity × sizes[l]; activations[L] holds the logits.
    private var activations: [UnsafeMutablePointer<Float>] = []
    /// deltas[l] (l = 0…L−1): gradient with respect to layer l's output (0: the input, allocated
    /// only when `computesInputGradient`).
    private var deltas: [UnsafeMutablePointer<Float>] = []
    private let arena = ScratchArena()

    let computesInputGradient: Bool

    init(sizes: [Int], activation: Activation, parameterOffset: Int, capacity: Int, computesInputGradient: Bool) {
        precondition(sizes.count >= 2 && sizes.allSatisfy { $0 > 0 })
        self.sizes = sizes
        self.activation = activation
        self.parameterOffset = parameterOffset
        self.capacity = capacity
        self.computesInputGradient = computesInputGradient
        var w: [Int] = [0], b: [Int] = [0]
        var offset = parameterOffset
        for l in 1..<sizes.count {
            w.append(offset); offset += sizes[l - 1] * sizes[l]
            b.append(offset); offset += sizes[l]
        }
        weightOffsets = w
        biasOffsets = b
        parameterCount = offset - parameterOffset
        activations = [arena.floats(0)] + (1..<sizes.count).map { arena.floats(capacity * sizes[$0]) }
        deltas = (0..<(sizes.count - 1)).map { arena.floats($0 == 0 && !computesInputGradient ? 0 : capacity * sizes[$0]) }
    }

    /// Parameter count of a stack with these sizes.
    static func parameterCount(_ sizes: [Int]) -> Int {
        (1..<sizes.count).reduce(0) { $0 + sizes[$1 - 1] * sizes[$1] + sizes[$1] }
    }

    var layerCount: Int { sizes.count - 1 }

    /// Forward pass over `rows` input rows (rows × sizes[0]); returns the logits (rows × sizes[L]).
    func forward(theta: UnsafePointer<Float>, input: UnsafePointer<Float>, rows m: Int) -> UnsafeMutablePointer<Float> {
        precondition(m <= capacity)
        var previous = input
        for l in 1...layerCount {
            let out = activations[l]
            ClassifierKernels.broadcastRows(theta + biasOffsets[l], rows: m, columns: sizes[l], into: out)
            ClassifierKernels.gemm(m: m, n: sizes[l], k: sizes[l - 1], previous, lda: sizes[l - 1],
                                   theta + weightOffsets[l], ldb: sizes[l], beta: 1, out, ldc: sizes[l])
            if l < layerCount { activation.apply(out, count: m * sizes[l]) }
            previous = UnsafePointer(out)
        }
        return activations[layerCount]
    }

    /// Backward pass after `forward` on the same rows: `logitGradient` (rows × sizes[L]) is
    /// dLoss/dlogits; writes this stack's parameter gradients into `gradient` (same offsets as θ).
    /// Returns dLoss/dinput (rows × sizes[0]) when `computesInputGradient`, else nil.
    @discardableResult
    func backward(theta: UnsafePointer<Float>, input: UnsafePointer<Float>, rows m: Int,
                  logitGradient: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float>? {
        let inputGradient = computesInputGradient
        var delta = logitGradient
        for l in stride(from: layerCount, through: 1, by: -1) {
            let below: UnsafePointer<Float> = l > 1 ? UnsafePointer(activations[l - 1]) : input
            // dW_l = a_{l-1}ᵀ · δ_l ; db_l = Σ_rows δ_l
            ClassifierKernels.gemm(transposeA: true, m: sizes[l - 1], n: sizes[l], k: m, below, lda: sizes[l - 1],
                                   delta, ldb: sizes[l], beta: 0, gradient + weightOffsets[l], ldc: sizes[l])
            ClassifierKernels.columnSums(delta, rows: m, columns: sizes[l], into: gradient + biasOffsets[l])
            if l == 1 && !inputGradient { break }
            // δ_{l-1} = (δ_l · W_lᵀ) ⊙ σ'(z_{l-1})
            let next = deltas[l - 1]
            ClassifierKernels.gemm(transposeB: true, m: m, n: sizes[l - 1], k: sizes[l], delta, lda: sizes[l],
                                   theta + weightOffsets[l], ldb: sizes[l], beta: 0, next, ldc: sizes[l - 1])
            if l > 1 { activation.multiplyDerivative(next, activations: activations[l - 1], count: m * sizes[l - 1]) }
            delta = UnsafePointer(next)
        }
        return inputGradient ? deltas[0] : nil
    }
}
