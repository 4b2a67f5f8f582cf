// The vector kernels of MetaOpt's Float path, compiled once per kernel path (AVX-512, AVX2 + FMA,
// portable) and picked at run time. Not API: only the MetaOpt target imports this module, and no
// C type leaves that target's public interface. See ../README.md.
#ifndef METAOPT_KERNELS_H
#define METAOPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Kernel paths; a larger value is a faster path (on CPUs that have it).
typedef enum {
    METAOPT_PATH_PORTABLE = 0,  ///< Compiler vectors for the architecture's baseline (SSE2 on x86-64, NEON on aarch64).
    METAOPT_PATH_AVX2 = 1,      ///< x86-64 with AVX2 and FMA: 8 lanes, fused multiply-adds, non-temporal stores.
    METAOPT_PATH_AVX512 = 2,    ///< x86-64 with AVX-512 F/DQ/BW/VL/CD: 16 lanes, vscalefps, non-temporal stores.
} metaopt_path;

/// A row-major matrix of floats: row r starts at base + r·stride. A NULL base means "absent".
typedef struct {
    float *base;
    ptrdiff_t stride;
} metaopt_matrix;

/// A range of memory to prefetch.
typedef struct {
    const void *start;
    ptrdiff_t bytes;
} metaopt_memory_range;

/// A list of memory ranges prefetched bit by bit between blocks of compute-bound work; `range`
/// and `offset` say how far it has got.
typedef struct {
    const metaopt_memory_range *ranges;
    int count;
    int range;
    ptrdiff_t offset;
} metaopt_prefetch;

/// One coordinatewise LSTM layer forward, elementwise part (LSTMKernels.swift documents the maths).
typedef struct {
    ptrdiff_t hidden;        ///< H: rows of the state matrices; z and gates have 4H rows (i, f, g, o).
    ptrdiff_t columns;       ///< M: coordinates; the kernels run over M rounded up to whole vectors.
    metaopt_matrix z;        ///< pre-activations Wᵀ[x; h_prev] without bias (scratch: may be overwritten)
    metaopt_matrix gates;    ///< out: σ/tanh of the gates (may be z's memory)
    const float *bias;       ///< 4H
    metaopt_matrix cell_previous, cell;
    metaopt_matrix tanh_cell;     ///< optional: tanh(c) is stored there (no engine keeps it: the backward pass recomputes it)
    metaopt_matrix hidden_out;
    metaopt_matrix hidden_copy;   ///< optional second copy of h
    const float *output_weights;  ///< optional output layer u = b + Σⱼ wⱼ hⱼ (H weights)
    float output_bias;
    float *update;           ///< u (one row), with output_weights
    int keep_history;        ///< store the gates (only the backward pass reads them)
} metaopt_lstm_forward_args;

/// One LSTM layer forward with its matrix product fused in: z = Wᵀ x (x = [in; h_prev]) hidden
/// unit by hidden unit, its four gate rows in registers, then the elementwise part of `step` on
/// them; step.z is scratch for four rows (i, f, g, o of one unit) of at least the padded columns.
/// Each z is Σ_k W[k][r]·x[k][c] in the order k = 0, 1, …, one multiply-add per term from zero.
typedef struct {
    metaopt_lstm_forward_args step;
    ptrdiff_t rows;          ///< K: rows of x and of W (the layer's inputs, then H)
    metaopt_matrix x;        ///< K × columns; must not overlap step.hidden_out or step.hidden_copy
    const float *weight;     ///< W, K × 4H row-major (φ's layout: row k holds the i, f, g, o columns)
} metaopt_lstm_fused_forward_args;

/// The same layer backward, elementwise part.
typedef struct {
    ptrdiff_t hidden, columns;
    metaopt_matrix gates, cell_previous, tanh_cell, d_hidden;
    metaopt_matrix d_hidden_extra;     ///< optional, added to d_hidden
    const float *output_weights;       ///< optional output layer (with du and its gradients)
    const float *du;
    float *output_weight_gradient;
    float *output_bias_gradient;
    metaopt_matrix d_cell;             ///< in: dL/dc_t; out: dL/dc_{t-1}
    metaopt_matrix d_gates;            ///< out: dL/dz
    float *bias_gradient;              ///< 4H, accumulated
} metaopt_lstm_backward_args;

/// One block of the CNN optimizee over NHWC images: a 3×3, stride-1, zero-padding-1 convolution
/// (cross-correlation), bias, ReLU and a 2×2, stride-2 max-pool (a trailing odd row or column is
/// dropped): rectified[n, y, x, o] = max(0, bias[o] + Σ_{ky, kx, c} input[n, y + ky − 1, x + kx − 1, c]
/// · kernel[(ky·3 + kx)·C_in + c][o]) (input 0 outside the image, NaN kept), pooled = each window's
/// maximum, which = its position in the window (0 top-left, 1 top-right, 2 bottom-left, 3
/// bottom-right; the first maximum on ties).
typedef struct {
    ptrdiff_t images, height, width, in_channels, out_channels;
    const float *input;    ///< images × height × width × in_channels
    const float *kernel;   ///< (9·in_channels) × out_channels, row-major
    const float *bias;     ///< out_channels
    float *pooled;         ///< images × ⌊height/2⌋ × ⌊width/2⌋ × out_channels
    uint8_t *which;        ///< as pooled
    float *scratch;        ///< metaopt_conv_block_scratch_floats
    int32_t *offsets;      ///< metaopt_conv_block_scratch_offsets
} metaopt_conv_block_forward_args;

/// The same block backward from d_pooled (the loss's gradient with respect to pooled): the
/// gradient reaches each window's maximum where the pooled value is > 0; d_kernel and d_bias
/// (summed over the images) and d_input are overwritten.
typedef struct {
    ptrdiff_t images, height, width, in_channels, out_channels;
    const float *input, *kernel, *pooled;
    const uint8_t *which;
    const float *d_pooled;
    float *d_kernel;       ///< (9·in_channels) × out_channels
    float *d_bias;         ///< out_channels
    float *d_input;        ///< as input, or NULL where not needed (the first block)
    float *scratch;
    int32_t *offsets;
} metaopt_conv_block_backward_args;

/// Scratch floats of one convolution block, forward or backward.
static inline ptrdiff_t metaopt_conv_block_scratch_floats(ptrdiff_t height, ptrdiff_t width, ptrdiff_t in_channels,
                                                          ptrdiff_t out_channels) {
    ptrdiff_t wider = in_channels > out_channels ? in_channels : out_channels;
    return (height + 2) * (width + 2) * wider + height * width * out_channels +
           72 * in_channels * ((out_channels + 7) / 8) + 72 * out_channels * ((in_channels + 7) / 8);
}

/// Scratch int32 values (patch offsets) of one convolution block.
static inline ptrdiff_t metaopt_conv_block_scratch_offsets(ptrdiff_t in_channels, ptrdiff_t out_channels) {
    return 9 * (in_channels + out_channels);
}

/// Asks for the cache lines of [p, p + bytes) ahead of their use, without waiting for them (the
/// minibatch loader: its examples are scattered over a data set far larger than the caches).
static inline void metaopt_prefetch_bytes(const void *p, ptrdiff_t bytes) {
    if (bytes <= 0) return;
    // Every line the range touches: from the line that holds its first byte to the one that holds its last.
    uintptr_t first = (uintptr_t)p & ~(uintptr_t)63, last = (uintptr_t)p + (uintptr_t)bytes - 1;
    for (uintptr_t line = first; line <= last; line += 64) __builtin_prefetch((const void *)line, 0, 3);
}

/// Floats of paired_prepare's output for m × k weights (m a multiple of 4): per block of 4 rows,
/// 16 lanes of each row's −Σ w₀w₁, of the three weights of each group of three terms, and of
/// each remaining term's weight.
static inline ptrdiff_t metaopt_paired_floats(ptrdiff_t m, ptrdiff_t k) {
    return (m / 4) * 16 * (4 + 12 * (k / 3) + 4 * (k % 3));
}

/// Floats of paired_product's scratch for k terms: X's rows for one block of 64 columns.
static inline ptrdiff_t metaopt_paired_packed_floats(ptrdiff_t k) { return 64 * k; }

/// The elementary functions of `metaopt_kernel_table.evaluate`.
typedef enum {
    METAOPT_FUNCTION_EXP = 0,
    METAOPT_FUNCTION_SIGMOID = 1,
    METAOPT_FUNCTION_TANH = 2,
    METAOPT_FUNCTION_LOG = 3,
} metaopt_function;

/// One kernel path's entry points.
typedef struct {
    metaopt_path path;
    /// Floats per vector register.
    int width;
    void (*lstm_forward)(const metaopt_lstm_forward_args *args);
    void (*lstm_backward)(const metaopt_lstm_backward_args *args);
    void (*lstm_fused_forward)(const metaopt_lstm_fused_forward_args *args);
    /// c[i][j] = Σ_p a[i·ai + p·ap] · b[p·ldb + j] for i < m, j < columns (beta 0; exactly those
    /// columns are written), each sum one fused multiply-add per term in the order p = 0, 1, …
    /// from zero: the layers' products z = Wᵀ X (ai = 1, ap = 4H) and dX = W dZ (ai = 4H, ap = 1).
    void (*matrix_product)(ptrdiff_t m, ptrdiff_t columns, ptrdiff_t k, const float *a, ptrdiff_t ai, ptrdiff_t ap,
                           const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc);
    /// 1 where the engine uses matrix_product for those products by default, 0 where OpenBLAS's
    /// sgemm does (docs/performance-log.md says which was measured faster on which path).
    int owns_matrix_products;
    /// The forward products z = Wᵀ X with Winograd's inner products (kernels_paired.h); NULL on
    /// the paths without them. paired_prepare writes metaopt_paired_floats(m, k) floats for the
    /// m × k matrix a[i·ai + p·ap] (m a multiple of 4; once per φ); paired_product then computes
    /// c[i][j] = Σ_p a[i·ai + p·ap] · b[p·ldb + j] for i < m, j < columns (exactly those columns are
    /// written) with `packed`, 64-byte aligned scratch of metaopt_paired_packed_floats(k) floats.
    /// `lead`, the same in both calls: the first rows of b (at most 2 are taken) kept out of the
    /// pairs, for values whose scale is not the weights' (the preprocessed gradient's).
    void (*paired_prepare)(ptrdiff_t m, ptrdiff_t k, const float *a, ptrdiff_t ai, ptrdiff_t ap, ptrdiff_t lead,
                           float *prepared);
    void (*paired_product)(ptrdiff_t m, ptrdiff_t columns, ptrdiff_t k, const float *prepared, const float *b,
                           ptrdiff_t ldb, ptrdiff_t lead, float *c, ptrdiff_t ldc, float *packed);
    /// Outputs of the weight-gradient kernel's register blocks: block_rows × block_columns (the
    /// last rows of a form one smaller block).
    int block_rows, block_columns;
    /// acc[(i·n + j)·width + l] += Σ over columns c ≡ l (mod width) of a[i][c]·b[j][c], for
    /// i < m, j < n (n a multiple of 8), width the path's lanes (16 or 8); `lines_per_block` lines
    /// of `prefetch` are fetched after each block of outputs. acc needs m·n·width floats (m·n·16
    /// serves every path).
    void (*weight_gradient_accumulate)(float *acc, const float *a, ptrdiff_t lda, ptrdiff_t m,
                                       const float *b, ptrdiff_t ldb, ptrdiff_t n, ptrdiff_t columns,
                                       metaopt_prefetch *prefetch, ptrdiff_t lines_per_block);
    /// g[i·ldg + j] += Σ lanes of acc's output (i, j); clears acc.
    void (*weight_gradient_reduce)(float *acc, ptrdiff_t m, ptrdiff_t n, float *g, ptrdiff_t ldg);
    /// The Appendix-A input preprocessing of `count` gradients: r0 = log|g|/p and r1 = sign(g)
    /// where |g| ≥ threshold = e^−p, else r0 = −1 and r1 = scale·g (scale = e^p).
    void (*log_and_sign)(const float *g, ptrdiff_t count, float p, float threshold, float scale,
                         float *r0, float *r1);
    /// r = a ⊙ b over `count` floats, rounded up to whole vectors (the rows' padding).
    void (*multiply)(const float *a, const float *b, float *r, ptrdiff_t count);
    /// tanh(c) into tanh_cell and, where hidden.base is not NULL, h = o ⊙ tanh(c) into hidden
    /// (o: output_gate), over `rows` rows of `columns` rounded up to whole vectors; the same
    /// tanh and product as lstm_forward, so the same bits from the same c.
    void (*lstm_tanh_cell)(ptrdiff_t rows, ptrdiff_t columns, metaopt_matrix cell, metaopt_matrix output_gate,
                           metaopt_matrix tanh_cell, metaopt_matrix hidden);
    /// y += alpha·x over exactly `count` floats (not fused).
    void (*add_scaled)(float *y, float alpha, const float *x, ptrdiff_t count);
    /// `iterations` rounds of fma_peak_chains independent vector multiply-adds held in registers
    /// (the path's peak rate: 2·width FLOPs each); returns a checksum.
    float (*fma_peak)(ptrdiff_t iterations);
    int fma_peak_chains;
    /// y = function(x), a vector at a time as the kernels compute it (for the tests).
    void (*evaluate)(metaopt_function function, const float *x, float *y, ptrdiff_t count);
    /// The CNN optimizee's convolution blocks (see their argument structs).
    void (*conv_block_forward)(const metaopt_conv_block_forward_args *args);
    void (*conv_block_backward)(const metaopt_conv_block_backward_args *args);
} metaopt_kernel_table;

/// The table of `path`, or NULL where this build has no such path (AVX2 and AVX-512 exist on
/// x86-64 only). A table is only safe to call on a CPU for which `metaopt_cpu_supports(path)`.
const metaopt_kernel_table *metaopt_kernel_table_for(metaopt_path path);

/// Whether this CPU (asked with cpuid and xgetbv, so that an emulator's CPU model counts, and
/// including the operating system's support for the wider registers) can run `path`.
int metaopt_cpu_supports(metaopt_path path);

/// The features a path needs, for saying which ones a CPU lacks.
enum {
    METAOPT_FEATURE_AVX = 1u << 0, METAOPT_FEATURE_AVX2 = 1u << 1, METAOPT_FEATURE_FMA = 1u << 2,
    METAOPT_FEATURE_F16C = 1u << 3, METAOPT_FEATURE_BMI2 = 1u << 4,
    METAOPT_FEATURE_OS_YMM = 1u << 5,  // the operating system saves the YMM registers
    METAOPT_FEATURE_AVX512F = 1u << 6, METAOPT_FEATURE_AVX512DQ = 1u << 7, METAOPT_FEATURE_AVX512CD = 1u << 8,
    METAOPT_FEATURE_AVX512BW = 1u << 9, METAOPT_FEATURE_AVX512VL = 1u << 10,
    METAOPT_FEATURE_OS_ZMM = 1u << 11,  // the operating system saves the opmask and ZMM registers
};

/// The features of `path` this CPU lacks, as METAOPT_FEATURE_* bits (0: none, and always 0 for
/// the portable path).
unsigned metaopt_cpu_missing_features(metaopt_path path);

/// Whether the CPU has CMPXCHG16B, which the Swift runtime's atomics need (the first x86-64
/// CPUs, before about 2006, lack it; 1 on other architectures). metaopt-dist asks before the
/// first use of a Swift type, which would end in an illegal instruction without it.
int metaopt_cpu_has_cmpxchg16b(void);

/// Whether the CPU has FMA4, AMD's four-operand multiply-add (Bulldozer to Excavator, 2011-2015;
/// no later Intel or AMD CPU has it), which OpenBLAS's kernels for those cores use. 0 elsewhere.
int metaopt_cpu_has_fma4(void);

/// Whether the CPU runs vector adds on units of their own beside its multiply-add units, so that
/// paired_product's trade of multiply-adds for adds pays: AMD's cores from Zen 4 on (cpuid family
/// 19h and later; docs/performance-log.md, "Winograd's inner products"). Intel's cores issue vector adds
/// to the multiply-add ports, where the pairs would cost a third more work: 0 there, and wherever
/// unknown.
int metaopt_cpu_adds_beside_multiply_adds(void);

/// The OpenBLAS core type (an OPENBLAS_CORETYPE value) for a CPU model that OpenBLAS does not
/// know and gives Prescott's kernels: "Cooperlake" (AVX-512 with BF16), "Zen" (AMD) or "Haswell"
/// (AVX2 and FMA), the cores whose sgemm gives the same bits (RecordedPhiTests; SkylakeX's, for
/// AVX-512 without BF16, gives others); NULL for a CPU without AVX2 and off x86-64.
const char *metaopt_cpu_openblas_core(void);

/// The CPU's brand string from cpuid ("" where unknown), into `buffer` (at least 49 bytes).
void metaopt_cpu_brand(char *buffer, size_t size);

#endif
