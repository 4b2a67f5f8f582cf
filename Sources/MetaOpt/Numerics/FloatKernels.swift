internal import CMetaOptKernels
import Foundation

/// One kernel path's Float kernels, called with MetaOpt's own types (the C structs stay inside
/// this file and the engine). Rows are 64-byte aligned and padded to whole 16-float vectors, so
/// every path can run whole vectors over a row; the padding is computed but never read by a matrix
/// product, and masked out of every sum.
struct FloatKernels {
    let path: KernelPath
    let table: UnsafePointer<metaopt_kernel_table>

    /// Whether the LSTM layers' products z = Wᵀ X and dX = W dZ run as `product` (the path's
    /// register-blocked kernel) rather than as OpenBLAS's sgemm: the path's default (yes on x86-64:
    /// on avx2 and the portable path OpenBLAS's kernels for those CPUs have no small-matrix path and
    /// ours measured faster, on avx512 ours is as fast as OpenBLAS's AVX-512 kernels and twice as
    /// fast as the AVX2 ones OpenBLAS runs there with OPENBLAS_CORETYPE=Haswell; no on aarch64, not
    /// measured; docs/performance-log.md, "Own matrix products on AVX2" and "Zen 5").
    /// `METAOPT_MATRIX_PRODUCTS=own` or `openblas` overrides it for measurements.
    let ownsMatrixProducts: Bool

    /// Whether the layers' forward products z = Wᵀ X run as `pairedProduct` (Winograd's inner
    /// products: a third of the multiply-adds become adds, which Zen 4 runs beside its multiply-add
    /// units; docs/performance-log.md, "Winograd's inner products"): where the path has the kernel
    /// (AVX-512), runs the layers' products itself, and the CPU has add units of their own (AMD's
    /// from Zen 4 on; on Intel's the pairs' adds share the multiply-add ports, and the path keeps
    /// the plain product: paired, the forward products took 1.28–1.42 times as long on Emerald
    /// Rapids, docs/performance-log.md, "Intel Emerald Rapids"). Other bits than `product`, the
    /// largest error about twice as large, so the AVX-512 path's bits differ between those CPUs.
    /// `METAOPT_FORWARD_PRODUCTS=plain` (`product`) or `fused` switches it off, `paired` on where
    /// the path has the kernel (Intel's CPUs then give AMD's bits: a job over both kinds of node
    /// can take either kind's).
    let pairsForwardProducts: Bool

    init(_ path: KernelPath) {
        guard let table = metaopt_kernel_table_for(path.cPath) else {
            preconditionFailure("this build has no \(path.rawValue) kernels")
        }
        self.path = path
        self.table = table
        ownsMatrixProducts = Self.matrixProductsOverride ?? (table.pointee.owns_matrix_products != 0)
        pairsForwardProducts = table.pointee.paired_product != nil && ownsMatrixProducts
            && (Self.forwardProductsOverride.map { $0 == "paired" } ?? Self.cpuAddsBesideMultiplyAdds)
    }

    /// The measurement switches of the kernels and the values each takes; programs refuse any other
    /// value at start-up (`KernelPath.measurementSwitchProblem`), and the kernels ignore it.
    static let measurementSwitches: [(variable: String, values: [String])] = [
        ("METAOPT_MATRIX_PRODUCTS", ["own", "openblas"]),
        ("METAOPT_FORWARD_PRODUCTS", ["fused", "plain", "paired"]),
    ]

    /// `METAOPT_MATRIX_PRODUCTS` (own or openblas), read once per process; nil when unset or
    /// anything else.
    static let matrixProductsOverride: Bool? = {
        switch ProcessInfo.processInfo.environment["METAOPT_MATRIX_PRODUCTS"] {
        case "own": return true
        case "openblas": return false
        default: return nil
        }
    }()

    /// `METAOPT_FORWARD_PRODUCTS` (fused, plain or paired), read once per process; nil when unset or empty.
    static let forwardProductsOverride: String? = {
        let value = ProcessInfo.processInfo.environment["METAOPT_FORWARD_PRODUCTS"] ?? ""
        return value.isEmpty ? nil : value
    }()

    /// Whether the CPU has vector add units of their own (`metaopt_cpu_adds_beside_multiply_adds`),
    /// asked once per process.
    private static let cpuAddsBesideMultiplyAdds = metaopt_cpu_adds_beside_multiply_adds() != 0

    /// Whether the engines run the LSTM layers' forward products fused into the forward kernel
    /// (`fusedForward`) rather than as an OpenBLAS sgemm and the elementwise kernel after it. No on
    /// every path: measured no faster on AVX-512 (0.94–1.01 of OpenBLAS's time on the forward-only
    /// MLP run), 13–19 % slower on AVX2 and 54–64 % on the portable path (docs/performance-log.md,
    /// "The fused forward kernel"). `METAOPT_FORWARD_PRODUCTS=fused` switches it on for
    /// measurements. Where the path fuses multiply-adds the kernel sums each product in OpenBLAS's
    /// order and gave its bits on the CPUs measured.
    var fusesForwardProducts: Bool { Self.forwardProductsOverride == "fused" }

    /// Floats per vector register.
    var width: Int { Int(table.pointee.width) }

    private static func matrix(_ m: MatrixView<Float>) -> metaopt_matrix { metaopt_matrix(base: m.base, stride: m.stride) }
    private static func matrix(_ m: MatrixView<Float>?) -> metaopt_matrix {
        m.map(matrix) ?? metaopt_matrix(base: nil, stride: 0)
    }

    /// LSTMKernels.forward for Float.
    func forward(preactivations z: MatrixView<Float>, gates: MatrixView<Float>, bias: UnsafePointer<Float>,
                 cellPrevious: MatrixView<Float>, cell: MatrixView<Float>, tanhCell: MatrixView<Float>?,
                 hidden: MatrixView<Float>, hiddenCopy: MatrixView<Float>?, output: LSTMKernels.OutputForward<Float>?,
                 keepHistory: Bool) {
        var args = metaopt_lstm_forward_args(
            hidden: cell.rows, columns: cell.columns, z: Self.matrix(z), gates: Self.matrix(gates), bias: bias,
            cell_previous: Self.matrix(cellPrevious), cell: Self.matrix(cell), tanh_cell: Self.matrix(tanhCell),
            hidden_out: Self.matrix(hidden), hidden_copy: Self.matrix(hiddenCopy), output_weights: output?.weights,
            output_bias: output?.bias ?? 0, update: output?.update, keep_history: keepHistory ? 1 : 0)
        table.pointee.lstm_forward(&args)
    }

    /// LSTMKernels.forward for Float with the layer's product z = Wᵀ x fused in (no z matrix):
    /// `x` = [in; h_prev] (K rows), `weight` W (K × 4H, φ's layout); `scratch` holds one hidden
    /// unit's four gate rows (4 × the padded columns).
    func fusedForward(input x: MatrixView<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                      scratch: MatrixView<Float>,
                      gates: MatrixView<Float>?, cellPrevious: MatrixView<Float>, cell: MatrixView<Float>,
                      tanhCell: MatrixView<Float>?, hidden: MatrixView<Float>, hiddenCopy: MatrixView<Float>?,
                      output: LSTMKernels.OutputForward<Float>?, keepHistory: Bool) {
        var args = metaopt_lstm_fused_forward_args(
            step: metaopt_lstm_forward_args(
                hidden: cell.rows, columns: cell.columns, z: Self.matrix(scratch), gates: Self.matrix(gates), bias: bias,
                cell_previous: Self.matrix(cellPrevious), cell: Self.matrix(cell), tanh_cell: Self.matrix(tanhCell),
                hidden_out: Self.matrix(hidden), hidden_copy: Self.matrix(hiddenCopy), output_weights: output?.weights,
                output_bias: output?.bias ?? 0, update: output?.update, keep_history: keepHistory ? 1 : 0),
            rows: x.rows, x: Self.matrix(x), weight: weight)
        table.pointee.lstm_fused_forward(&args)
    }

    /// c = A · b over `columns` columns (beta 0; c's padding is left alone), A(i, p) =
    /// a[i·rowStride + p·innerStride] for i < m, p < k; b has k rows. Each sum runs p = 0, 1, …
    /// with one fused multiply-add per term where the path has them.
    func product(m: Int, columns: Int, k: Int, a: UnsafePointer<Float>, rowStride: Int, innerStride: Int,
                 b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        table.pointee.matrix_product(m, columns, k, a, rowStride, innerStride, b, ldb, c, ldc)
    }

    /// Whether the path has `pairedProduct` at all (whatever `pairsForwardProducts` chose).
    var hasPairedProducts: Bool { table.pointee.paired_product != nil }

    /// Floats `pairedPrepare` writes for m × k weights (m a multiple of 4).
    static func pairedFloats(m: Int, k: Int) -> Int { metaopt_paired_floats(m, k) }

    /// Floats of `pairedProduct`'s scratch for k terms.
    static func pairedPackedFloats(k: Int) -> Int { metaopt_paired_packed_floats(k) }

    /// The weights A(i, p) = a[i·rowStride + p·innerStride] (m × k, m a multiple of 4) as
    /// `pairedProduct` reads them, into `prepared` (`pairedFloats(m:k:)` floats, 64-byte aligned).
    /// `unpaired`: b's first rows (at most 2 are taken) that `pairedProduct` keeps out of the pairs,
    /// for values of another scale than the weights' (the first layer's preprocessed gradient: a
    /// pair rounds a weight added to a raw gradient of 10³ away). Only where `pairsForwardProducts`.
    func pairedPrepare(m: Int, k: Int, a: UnsafePointer<Float>, rowStride: Int, innerStride: Int, unpaired: Int = 0,
                       into prepared: UnsafeMutablePointer<Float>) {
        table.pointee.paired_prepare(m, k, a, rowStride, innerStride, unpaired, prepared)
    }

    /// c = A · b over exactly `columns` columns, A as `pairedPrepare` left it (with the same
    /// `unpaired`), with Winograd's inner products; `packed`: `pairedPackedFloats(k:)` floats of
    /// 64-byte aligned scratch.
    func pairedProduct(m: Int, columns: Int, k: Int, prepared: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                       unpaired: Int = 0, c: UnsafeMutablePointer<Float>, ldc: Int, packed: UnsafeMutablePointer<Float>) {
        table.pointee.paired_product(m, columns, k, prepared, b, ldb, unpaired, c, ldc, packed)
    }

    /// LSTMKernels.backward for Float.
    func backward(gates: MatrixView<Float>, cellPrevious: MatrixView<Float>, tanhCell: MatrixView<Float>,
                  dHidden: MatrixView<Float>, dHiddenExtra: MatrixView<Float>?, output: LSTMKernels.OutputBackward<Float>?,
                  dCell: MatrixView<Float>, dGates: MatrixView<Float>, biasGradient: UnsafeMutablePointer<Float>) {
        var args = metaopt_lstm_backward_args(
            hidden: tanhCell.rows, columns: tanhCell.columns, gates: Self.matrix(gates),
            cell_previous: Self.matrix(cellPrevious), tanh_cell: Self.matrix(tanhCell), d_hidden: Self.matrix(dHidden),
            d_hidden_extra: Self.matrix(dHiddenExtra), output_weights: output?.weights, du: output?.du,
            output_weight_gradient: output?.weightGradient, output_bias_gradient: output?.biasGradient,
            d_cell: Self.matrix(dCell), d_gates: Self.matrix(dGates), bias_gradient: biasGradient)
        table.pointee.lstm_backward(&args)
    }

    /// The Appendix-A preprocessing of `count` gradients into two rows (see `InputPreprocessing`).
    func logAndSign(_ g: UnsafePointer<Float>, count: Int, p: Float, threshold: Float, scale: Float,
                    into r0: UnsafeMutablePointer<Float>, _ r1: UnsafeMutablePointer<Float>) {
        table.pointee.log_and_sign(g, count, p, threshold, scale, r0, r1)
    }

    /// tanh(c) into `tanhCell` and, if `hidden` is given, h = o ⊙ tanh(c) into it (o: `outputGate`),
    /// over whole vectors of each row: the same tanh and product as `forward`, so the same bits
    /// from the same c (the backward pass recomputes tanh(c) instead of keeping it).
    func tanhCell(of cell: MatrixView<Float>, outputGate: MatrixView<Float>?, into tanhCell: MatrixView<Float>,
                  hidden: MatrixView<Float>?) {
        table.pointee.lstm_tanh_cell(cell.rows, cell.columns, Self.matrix(cell), Self.matrix(outputGate),
                                     Self.matrix(tanhCell), Self.matrix(hidden))
    }

    /// r = a ⊙ b over `count` floats rounded up to whole vectors (rows are padded to 16 floats).
    func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into r: UnsafeMutablePointer<Float>, count: Int) {
        table.pointee.multiply(a, b, r, count)
    }

    /// y += alpha·x (a product and a sum, not fused).
    func addScaled(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, count: Int) {
        table.pointee.add_scaled(y, alpha, x, count)
    }

    /// Scratch a convolution block of this geometry needs: floats and Int32 patch offsets.
    static func convolutionBlockScratch(height: Int, width: Int, inChannels: Int, outChannels: Int) -> (floats: Int, offsets: Int) {
        (metaopt_conv_block_scratch_floats(height, width, inChannels, outChannels),
         metaopt_conv_block_scratch_offsets(inChannels, outChannels))
    }

    /// One CNN block (3×3 convolution, bias, ReLU, 2×2 max-pool) forward over `images` NHWC
    /// images; see `CNNNetwork` and metaopt_conv_block_forward_args.
    func convolutionBlockForward(images: Int, height: Int, width: Int, inChannels: Int, outChannels: Int,
                                 input: UnsafePointer<Float>, kernel: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                 pooled: UnsafeMutablePointer<Float>, which: UnsafeMutablePointer<UInt8>,
                                 scratch: UnsafeMutablePointer<Float>, offsets: UnsafeMutablePointer<Int32>) {
        var args = metaopt_conv_block_forward_args(
            images: images, height: height, width: width, in_channels: inChannels, out_channels: outChannels,
            input: input, kernel: kernel, bias: bias, pooled: pooled, which: which, scratch: scratch, offsets: offsets)
        table.pointee.conv_block_forward(&args)
    }

    /// The same block backward: overwrites dKernel, dBias and (if given) dInput.
    func convolutionBlockBackward(images: Int, height: Int, width: Int, inChannels: Int, outChannels: Int,
                                  input: UnsafePointer<Float>, kernel: UnsafePointer<Float>, pooled: UnsafePointer<Float>,
                                  which: UnsafePointer<UInt8>, dPooled: UnsafePointer<Float>,
                                  dKernel: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                                  dInput: UnsafeMutablePointer<Float>?,
                                  scratch: UnsafeMutablePointer<Float>, offsets: UnsafeMutablePointer<Int32>) {
        var args = metaopt_conv_block_backward_args(
            images: images, height: height, width: width, in_channels: inChannels, out_channels: outChannels,
            input: input, kernel: kernel, pooled: pooled, which: which, d_pooled: dPooled, d_kernel: dKernel,
            d_bias: dBias, d_input: dInput, scratch: scratch, offsets: offsets)
        table.pointee.conv_block_backward(&args)
    }

    /// `function` of every element, a vector at a time as the kernels compute it.
    func evaluate(_ function: FastMath.Function, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                table.pointee.evaluate(function.cFunction, xp.baseAddress, yp.baseAddress, x.count)
            }
        }
        return y
    }
}
