// The Float kernels, written once for every kernel path. A path's .c file defines, then includes
// this file inside a `#pragma clang attribute` region that gives every function its target:
//   MO_W            floats per vector (16, 8, ...; a divisor of 16)
//   MO_BR, MO_BC    rows of a and of b per weight-gradient block (MO_BR ≤ 4, MO_BC a divisor of
//                   8; see mo_step_block)
//   MO_DW_SUMS_PER_CALL 1 to sum each weight-gradient output's lanes at the end of every call
//                   into one float per output (MO_W 8 and MO_BC 4 only; see mo_block); 0 where not
//                   defined: a vector of partial sums per output until weight_gradient_reduce
//   MO_FN(name)     the path's name for a kernel (metaopt_avx2_lstm_forward, ...)
//   MO_PATH         its metaopt_path
//   MO_FUSED        1 where a·b + c is one fused multiply-add instruction
//   MO_AVX512       1 for AVX-512's vscalefps and non-temporal history stores
//   MO_AVX2         1 for AVX2's vmaxps and vblendvps in the sigmoid and tanh, and non-temporal
//                   history stores (kernels_vector.h)
//   MO_SPLIT_GATES  1 to compute the gates in two loops (16-register paths; see mo_gates_loop)
//   MO_STAGED_SIGMOIDS 1 to compute the first of those loops' sigmoids in two stages (see
//                   mo_gates_loop); 0 where not defined
//   MO_IL           vectors per step of the LSTM's elementwise loops (see mo_gates_loop)
//   MO_FV           vectors of columns per block of the fused forward product (4 gate rows × MO_FV
//                   accumulators held in registers; see mo_gate_product)
//   MO_PR, MO_PV    rows × vectors of columns per register block of matrix_product
//   MO_OWN_PRODUCTS 1 where the engine runs the layers' products with matrix_product by default
//
// Every formula and every order of operations follows the Swift reference these kernels replaced
// (LSTMKernels.swift keeps the scalar reference for Double); FastMath.swift documents the
// accuracy of the elementary functions. Floating-point contraction is off: a product and a sum
// are fused only where `mo_fma` says so, so a path computes the same bits with any compiler flags.
#include <stdint.h>
#include "metaopt_kernels.h"

#pragma STDC FP_CONTRACT OFF

#ifndef MO_DW_SUMS_PER_CALL
#define MO_DW_SUMS_PER_CALL 0
#endif
#if MO_DW_SUMS_PER_CALL && (MO_W != 8 || MO_BC != 4)
#error "MO_DW_SUMS_PER_CALL sums four outputs of 8 lanes at a time"
#endif

typedef float mo_vf __attribute__((ext_vector_type(MO_W)));
typedef int32_t mo_vi __attribute__((ext_vector_type(MO_W)));
typedef uint32_t mo_vu __attribute__((ext_vector_type(MO_W)));

#define MO_INLINE static inline __attribute__((always_inline))

// exp: Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, e^r = 1 + r·(1 + r·P₄(r)), times 2ⁿ.
static const float mo_log2e = 1.44269504f;
static const float mo_ln2_hi = 0.693359375f;   // 8 significant bits: n·ln2Hi is exact
static const float mo_ln2_lo = -2.1219444e-4f;
static const float mo_rounding_magic = 12582912.0f;  // 1.5·2²³
static const float mo_exp_lowest = -87.33655f;        // ln(FLT_MIN)
static const float mo_exp_highest = 88.72283f;        // ln(FLT_MAX)
static const float mo_e2 = 0.49999994f, mo_e3 = 0.16666521f, mo_e4 = 0.04166839f, mo_e5 = 0.00836871f,
                   mo_e6 = 0.0013814614f;

// The constants that the multiply-adds of exp take as operands (mo_fma_add_constant and
// mo_fma_by_constant in kernels_vector.h), by index; on AVX2 also as whole vectors in memory.
// One list makes the index, the scalar and the vector of each.
#define MO_CONSTANTS(X) X(E5, mo_e5) X(E4, mo_e4) X(E3, mo_e3) X(E2, mo_e2) X(ONE, 1.0f) \
    X(ROUNDING_MAGIC, mo_rounding_magic) X(NEG_LN2_HI, -mo_ln2_hi) X(NEG_LN2_LO, -mo_ln2_lo)
#define MO_CONSTANT_INDEX(name, value) MO_C_##name,
#define MO_CONSTANT_SCALAR(name, value) value,
enum mo_constant { MO_CONSTANTS(MO_CONSTANT_INDEX) };
static const float mo_constants[] = {MO_CONSTANTS(MO_CONSTANT_SCALAR)};
#if MO_AVX2
#define MO_CONSTANT_VECTOR(name, value) {value, value, value, value, value, value, value, value},
static const mo_vf mo_constant_vectors[] = {MO_CONSTANTS(MO_CONSTANT_VECTOR)};
#undef MO_CONSTANT_VECTOR
#endif
#undef MO_CONSTANT_SCALAR
#undef MO_CONSTANT_INDEX
#undef MO_CONSTANTS

#define MO_V mo_vf
#define MO_VI mo_vi
#define MO_VU mo_vu
#define MO_LANES MO_W
#define MO_N(name) name
#include "kernels_vector.h"
#undef MO_N
#undef MO_LANES
#undef MO_VU
#undef MO_VI
#undef MO_V

#if MO_IL > 1
// MO_IL registers as one vector: clang splits each operation into MO_IL adjacent instructions,
// which interleaves MO_IL independent dependency chains (the elementwise loops' bodies).
typedef float mo_vx __attribute__((ext_vector_type(MO_W * MO_IL)));
typedef int32_t mo_vxi __attribute__((ext_vector_type(MO_W * MO_IL)));
typedef uint32_t mo_vxu __attribute__((ext_vector_type(MO_W * MO_IL)));
#if (MO_AVX512 || MO_AVX2) && (MO_W == 8 || MO_W == 16) && (MO_IL == 2 || MO_IL == 4)
// Register i of an interleaved vector (a mo_vf), and F(0), ..., F(MO_IL − 1) joined into one
// interleaved vector: the helpers whose one-register form is an intrinsic apply it per register
// (other shapes take the helpers' generic form).
#define MO_SEQ8(i) (i), (i) + 1, (i) + 2, (i) + 3, (i) + 4, (i) + 5, (i) + 6, (i) + 7
#define MO_SEQ16(i) MO_SEQ8(i), MO_SEQ8((i) + 8)
#define MO_SEQ32(i) MO_SEQ16(i), MO_SEQ16((i) + 16)
#define MO_SEQ64(i) MO_SEQ32(i), MO_SEQ32((i) + 32)
#if MO_W == 16
#define MO_PART(v, i) __builtin_shufflevector(v, v, MO_SEQ16(16 * (i)))
#define MO_JOIN_TWO(a, b) __builtin_shufflevector(a, b, MO_SEQ32(0))
#define MO_JOIN_FOUR(a, b) __builtin_shufflevector(a, b, MO_SEQ64(0))
#else
#define MO_PART(v, i) __builtin_shufflevector(v, v, MO_SEQ8(8 * (i)))
#define MO_JOIN_TWO(a, b) __builtin_shufflevector(a, b, MO_SEQ16(0))
#define MO_JOIN_FOUR(a, b) __builtin_shufflevector(a, b, MO_SEQ32(0))
#endif
#if MO_IL == 2
#define MO_MAP_PARTS(F) MO_JOIN_TWO(F(0), F(1))
#else
#define MO_MAP_PARTS(F) MO_JOIN_FOUR(MO_JOIN_TWO(F(0), F(1)), MO_JOIN_TWO(F(2), F(3)))
#endif
#endif
#define MO_V mo_vx
#define MO_VI mo_vxi
#define MO_VU mo_vxu
#define MO_LANES (MO_W * MO_IL)
#define MO_N(name) name##_x
#include "kernels_vector.h"
#undef MO_N
#undef MO_LANES
#undef MO_VU
#undef MO_VI
#undef MO_V
#endif

/// Runs the body `BODY(k, ...)` over a row's `n` columns (a whole number of vectors): where the path
/// interleaves, MO_IL vectors per step with `BODY_x` while a whole step fits, then one vector at a
/// time for the rest of the row.
#if MO_IL > 1
#define MO_EACH_VECTOR(n, BODY, ...)                                                           \
    do {                                                                                       \
        ptrdiff_t k_ = 0;                                                                      \
        for (; k_ + MO_W * MO_IL <= (n); k_ += MO_W * MO_IL) BODY##_x(k_, __VA_ARGS__);         \
        for (; k_ < (n); k_ += MO_W) BODY(k_, __VA_ARGS__);                                    \
    } while (0)
#else
#define MO_EACH_VECTOR(n, BODY, ...) \
    do { for (ptrdiff_t k_ = 0; k_ < (n); k_ += MO_W) BODY(k_, __VA_ARGS__); } while (0)
#endif

// log: x = m·2ᵉ, m ∈ [√½, √2), log(1+f) = f − f²/2 + f³·P₇(f), plus e·ln2 in two parts.
static const float mo_sqrt_half = 0.70710677f;
static const float mo_l3 = 0.33333331f, mo_l4 = -0.2500082f, mo_l5 = 0.20001227f, mo_l6 = -0.16623357f,
                   mo_l7 = 0.14201757f, mo_l8 = -0.13160181f, mo_l9 = 0.12761578f, mo_l10 = -0.07634499f;

MO_INLINE mo_vf mo_log(mo_vf x) {
    mo_vi tiny = x < 1.17549435e-38f;  // subnormals: scaled by 2²³ first
    mo_vf xs = mo_select(tiny, x * 8388608.0f, x);
    mo_vu b = mo_bits(xs);
    mo_vi e = (mo_vi)(b >> 23) - 127;
    e = tiny ? e - 23 : e;
    mo_vf m = mo_float((b & 0x007FFFFFu) | 0x3F800000u);  // [1, 2)
    mo_vi high = m > 2 * mo_sqrt_half;
    m = mo_select(high, m * 0.5f, m);
    e = high ? e + 1 : e;
    mo_vf f = m - 1;
    mo_vf p = mo_fma(mo_splat(mo_l10), f, mo_splat(mo_l9));
    p = mo_fma(p, f, mo_splat(mo_l8));
    p = mo_fma(p, f, mo_splat(mo_l7));
    p = mo_fma(p, f, mo_splat(mo_l6));
    p = mo_fma(p, f, mo_splat(mo_l5));
    p = mo_fma(p, f, mo_splat(mo_l4));
    p = mo_fma(p, f, mo_splat(mo_l3));
    mo_vf f2 = f * f;
    mo_vf ef = __builtin_convertvector(e, mo_vf);
    mo_vf tail = mo_fma(f2 * f, p, ef * mo_ln2_lo);
    mo_vf y = mo_fma(ef, mo_splat(mo_ln2_hi), mo_fma(f2, mo_splat(-0.5f), f) + tail);
    y = mo_select(x == 0, mo_splat(-__builtin_inff()), y);
    y = mo_select(x == __builtin_inff(), mo_splat(__builtin_inff()), y);
    return mo_select((x < 0) | (x != x), mo_splat(__builtin_nanf("")), y);
}

/// The lanes' sum, lane 0 first (the order of Swift's SIMD sum()).
MO_INLINE float mo_sum(mo_vf v) {
    float s = -0.0f;
    for (int l = 0; l < MO_W; l++) s += v[l];
    return s;
}

MO_INLINE ptrdiff_t mo_vector_count(ptrdiff_t m) { return (m + MO_W - 1) / MO_W; }

/// True in the lanes of a row's last vector that hold real columns, false in the padding.
MO_INLINE mo_vi mo_tail_mask(ptrdiff_t columns) {
    ptrdiff_t valid = columns - (mo_vector_count(columns) - 1) * MO_W;
    mo_vi mask;
    for (int l = 0; l < MO_W; l++) mask[l] = l < valid ? -1 : 0;
    return mask;
}

MO_INLINE float *mo_row(metaopt_matrix a, ptrdiff_t r) { return a.base + r * a.stride; }

// MARK: - LSTM forward

/// i, f, g, o and c = f ⊙ c_prev + i ⊙ g over `n` columns; o also into `out`; the gates into the
/// history when `keep` (a constant at both call sites).
///
/// With 16 vector registers (AVX2, SSE2) four interleaved sigmoid/tanh chains spill; there
/// (MO_SPLIT_GATES) i and f are computed first, in place over their pre-activation rows (a
/// scratch block that stays in L1), and the second loop reads them back: the same operations on
/// every element, so the same bits, with half the registers live.
///
/// Each loop runs MO_IL vectors per step (MO_EACH_VECTOR): the transcendentals are long dependency
/// chains, and with one vector per step the core runs out of scheduler entries before it has
/// enough of them in flight (see MO_IL).
///
/// Where MO_STAGED_SIGMOIDS, the first loop is two per gate row and block of columns: e =
/// exp(−|z + b|) into a block on the stack, then σ from z + b and e. In one loop x and e stay
/// alive across the whole chain and, with 16 registers, spill; the two loops take fewer
/// instructions. On Zen 4 this made the AVX2 forward kernels 5–10 % faster and the AVX-512 ones
/// (with split gates) 2–5 % slower (docs/performance-log.md, "Staged sigmoids on AVX2"). The same
/// operations, so the same bits.
#if MO_STAGED_SIGMOIDS
#define MO_STAGE_COLUMNS 256
// Whole wide steps per block: every block but a row's last runs the MO_IL-vector body only.
_Static_assert(MO_STAGE_COLUMNS % (MO_W * MO_IL) == 0, "a stage block must be whole MO_IL-vector steps");
#endif
MO_INLINE void mo_gates_loop(ptrdiff_t n, float *zi, float *zf, const float *zg, const float *zo, float bi,
                             float bf, float bg, float bo, const float *cp, float *gi, float *gf, float *gg, float *go,
                             float *c, float *out, const int keep) {
#if MO_SPLIT_GATES && MO_STAGED_SIGMOIDS
    float e[MO_STAGE_COLUMNS] __attribute__((aligned(64)));
    for (ptrdiff_t c0 = 0; c0 < n; c0 += MO_STAGE_COLUMNS) {
        ptrdiff_t w = n - c0 < MO_STAGE_COLUMNS ? n - c0 : MO_STAGE_COLUMNS;
        MO_EACH_VECTOR(w, mo_sigmoid_exp_vector, zi + c0, bi, e);
        MO_EACH_VECTOR(w, mo_sigmoid_finish_vector, zi + c0, bi, e);
        MO_EACH_VECTOR(w, mo_sigmoid_exp_vector, zf + c0, bf, e);
        MO_EACH_VECTOR(w, mo_sigmoid_finish_vector, zf + c0, bf, e);
    }
#elif MO_SPLIT_GATES
    MO_EACH_VECTOR(n, mo_input_forget_vector, zi, zf, bi, bf);
#endif
    MO_EACH_VECTOR(n, mo_gates_vector, zi, zf, zg, zo, bi, bf, bg, bo, cp, gi, gf, gg, go, c, out, keep);
}

__attribute__((noinline)) static void mo_gates_pass(ptrdiff_t n, float *zi, float *zf, const float *zg,
                                                    const float *zo, float bi, float bf, float bg, float bo,
                                                    const float *cp, float *gi, float *gf, float *gg, float *go,
                                                    float *c, float *out) {
    mo_gates_loop(n, zi, zf, zg, zo, bi, bf, bg, bo, cp, gi, gf, gg, go, c, out, 1);
}

/// The same without storing the gates (forward-only runs).
__attribute__((noinline)) static void mo_gates_pass_forward_only(ptrdiff_t n, float *zi, float *zf,
                                                                 const float *zg, const float *zo, float bi, float bf,
                                                                 float bg, float bo, const float *cp, float *c,
                                                                 float *out) {
    mo_gates_loop(n, zi, zf, zg, zo, bi, bf, bg, bo, cp, 0, 0, 0, 0, c, out, 0);
}

/// tanh(c) and h = o ⊙ tanh(c) (o read from, h written to `out`), its copy, and the output
/// layer's u += w·h (u = start + w·h on the first hidden unit). The flags are constants at every
/// call site, so each combination compiles to a loop without branches (-O2 does not unswitch).
MO_INLINE void mo_hidden_loop(ptrdiff_t n, const float *c, float *out, float *tc, float *copy, float *u, float w,
                              float start, const int has_tc, const int has_copy, const int has_u, const int first) {
    MO_EACH_VECTOR(n, mo_hidden_vector, c, out, tc, copy, u, w, start, has_tc, has_copy, has_u, first);
}

__attribute__((noinline)) static void mo_hidden_pass(ptrdiff_t n, const float *c, float *out, float *tc, float *copy,
                                                     float *u, float w, int first, float start) {
#define MO_HIDDEN(TC, COPY, U, FIRST) mo_hidden_loop(n, c, out, tc, copy, u, w, start, TC, COPY, U, FIRST)
    if (u) {
        if (tc && copy) { if (first) MO_HIDDEN(1, 1, 1, 1); else MO_HIDDEN(1, 1, 1, 0); }
        else if (tc) { if (first) MO_HIDDEN(1, 0, 1, 1); else MO_HIDDEN(1, 0, 1, 0); }
        else if (copy) { if (first) MO_HIDDEN(0, 1, 1, 1); else MO_HIDDEN(0, 1, 1, 0); }
        else { if (first) MO_HIDDEN(0, 0, 1, 1); else MO_HIDDEN(0, 0, 1, 0); }
    } else {
        if (tc && copy) MO_HIDDEN(1, 1, 0, 0);
        else if (tc) MO_HIDDEN(1, 0, 0, 0);
        else if (copy) MO_HIDDEN(0, 1, 0, 0);
        else MO_HIDDEN(0, 0, 0, 0);
    }
#undef MO_HIDDEN
}

static void MO_FN(lstm_forward)(const metaopt_lstm_forward_args *a) {
    ptrdiff_t h = a->hidden, n = mo_vector_count(a->columns) * MO_W;
    int keep = a->keep_history;
    for (ptrdiff_t j = 0; j < h; j++) {
        float *out = mo_row(a->hidden_out, j);
        // Two passes over the row, so that each has short independent dependency chains per
        // vector: first the four gates and c (o parked in the h row), then tanh(c) and h.
        if (keep)
            mo_gates_pass(n, mo_row(a->z, j), mo_row(a->z, h + j), mo_row(a->z, 2 * h + j), mo_row(a->z, 3 * h + j),
                          a->bias[j], a->bias[h + j], a->bias[2 * h + j], a->bias[3 * h + j],
                          mo_row(a->cell_previous, j), mo_row(a->gates, j), mo_row(a->gates, h + j),
                          mo_row(a->gates, 2 * h + j), mo_row(a->gates, 3 * h + j), mo_row(a->cell, j), out);
        else
            mo_gates_pass_forward_only(n, mo_row(a->z, j), mo_row(a->z, h + j), mo_row(a->z, 2 * h + j),
                                       mo_row(a->z, 3 * h + j), a->bias[j], a->bias[h + j], a->bias[2 * h + j],
                                       a->bias[3 * h + j], mo_row(a->cell_previous, j), mo_row(a->cell, j), out);
        float *copy = a->hidden_copy.base ? mo_row(a->hidden_copy, j) : 0;
        float *tc = a->tanh_cell.base ? mo_row(a->tanh_cell, j) : 0;
        if (a->output_weights)
            mo_hidden_pass(n, mo_row(a->cell, j), out, tc, copy, a->update, a->output_weights[j], j == 0,
                           a->output_bias);
        else
            mo_hidden_pass(n, mo_row(a->cell, j), out, tc, copy, 0, 0, 0, 0);
    }
}

// MARK: - LSTM forward with the matrix product fused in

/// z of hidden unit j's four gate rows (i, f, g, o) over `nv` vectors of columns of `x`:
/// z_g[c] = Σ_k w[k·ldw + g·h + j] · x[k·ldx + c] for k = 0, 1, … in order, one mo_fma per term
/// starting from zero (the order of a GEMM micro-kernel, hence OpenBLAS's bits where the path
/// fuses), held in registers, then stored into row g of `z` (stride ldz, in L1).
MO_INLINE void mo_gate_product(const float *w, ptrdiff_t ldw, ptrdiff_t h, ptrdiff_t j, const float *x,
                               ptrdiff_t ldx, ptrdiff_t rows, float *z, ptrdiff_t ldz, const int nv) {
    mo_vf acc[4][MO_FV];
#pragma clang loop unroll(full)
    for (int g = 0; g < 4; g++)
#pragma clang loop unroll(full)
        for (int v = 0; v < nv; v++) acc[g][v] = mo_splat(0);
    const float *wj = w + j;
    for (ptrdiff_t k = 0; k < rows; k++) {
        const float *wk = wj + k * ldw, *xk = x + k * ldx;
        mo_vf b0 = mo_splat(wk[0]), b1 = mo_splat(wk[h]), b2 = mo_splat(wk[2 * h]), b3 = mo_splat(wk[3 * h]);
#pragma clang loop unroll(full)
        for (int v = 0; v < nv; v++) {
            mo_vf xv = mo_load(xk + v * MO_W);
            acc[0][v] = mo_fma(b0, xv, acc[0][v]);
            acc[1][v] = mo_fma(b1, xv, acc[1][v]);
            acc[2][v] = mo_fma(b2, xv, acc[2][v]);
            acc[3][v] = mo_fma(b3, xv, acc[3][v]);
        }
    }
#pragma clang loop unroll(full)
    for (int g = 0; g < 4; g++)
#pragma clang loop unroll(full)
        for (int v = 0; v < nv; v++) mo_store(acc[g][v], z + g * ldz + v * MO_W);
}

/// The layer's forward step with z = Wᵀ X fused in, hidden unit by hidden unit: the unit's four
/// gate rows over the whole row of columns, MO_FV vectors at a time in registers
/// (`mo_gate_product`), into four scratch rows that stay in L1, then the elementwise passes of
/// `lstm_forward` over that row. The 4H × M gate matrix never exists. (Blocks of columns with all
/// the units inside were measured slower: the elementwise passes need long rows to overlap their
/// long dependency chains.)
static void MO_FN(lstm_fused_forward)(const metaopt_lstm_fused_forward_args *a) {
    const metaopt_lstm_forward_args *s = &a->step;
    ptrdiff_t h = s->hidden, vectors = mo_vector_count(s->columns), ldw = 4 * h, n = vectors * MO_W;
    ptrdiff_t ldz = s->z.stride;
    float *zi = s->z.base, *zf = zi + ldz, *zg = zi + 2 * ldz, *zo = zi + 3 * ldz;
    int keep = s->keep_history;
    const float *b = s->bias;
    for (ptrdiff_t j = 0; j < h; j++) {
        ptrdiff_t v0 = 0;
        for (; v0 + MO_FV <= vectors; v0 += MO_FV)
            mo_gate_product(a->weight, ldw, h, j, a->x.base + v0 * MO_W, a->x.stride, a->rows, zi + v0 * MO_W, ldz,
                            MO_FV);
        for (; v0 < vectors; v0++)  // the rest of a ragged row, one vector at a time
            mo_gate_product(a->weight, ldw, h, j, a->x.base + v0 * MO_W, a->x.stride, a->rows, zi + v0 * MO_W, ldz, 1);
        float *out = mo_row(s->hidden_out, j), *c = mo_row(s->cell, j);
        const float *cp = mo_row(s->cell_previous, j);
        if (keep)
            mo_gates_pass(n, zi, zf, zg, zo, b[j], b[h + j], b[2 * h + j], b[3 * h + j], cp, mo_row(s->gates, j),
                          mo_row(s->gates, h + j), mo_row(s->gates, 2 * h + j), mo_row(s->gates, 3 * h + j), c, out);
        else
            mo_gates_pass_forward_only(n, zi, zf, zg, zo, b[j], b[h + j], b[2 * h + j], b[3 * h + j], cp, c, out);
        float *copy = s->hidden_copy.base ? mo_row(s->hidden_copy, j) : 0;
        float *tc = s->tanh_cell.base ? mo_row(s->tanh_cell, j) : 0;
        if (s->output_weights)
            mo_hidden_pass(n, c, out, tc, copy, s->update, s->output_weights[j], j == 0, s->output_bias);
        else
            mo_hidden_pass(n, c, out, tc, copy, 0, 0, 0, 0);
    }
}

// MARK: - Matrix products of the LSTM layers (z = Wᵀ X, dX = W dZ)

/// Rows `0..<rows` × vectors `0..<nv` of columns of c = A·b from zero, A(i, p) = a[i·ai + p·ap]:
/// one mo_fma per term in the order p = 0, 1, …, k − 1 (a GEMM micro-kernel's order), the
/// rows × nv accumulators in registers, each step one load per vector of b's row p and one
/// broadcast per row of A. Where `rest` > 0 the last vector stores only its first `rest` lanes
/// (a ragged tile's last columns: the padding of c is left as it was). `rows` and `nv` are
/// constants at every call site.
MO_INLINE void mo_product_block(const float *a, ptrdiff_t ai, ptrdiff_t ap, ptrdiff_t k, const float *b,
                                ptrdiff_t ldb, float *c, ptrdiff_t ldc, const int rows, const int nv, ptrdiff_t rest) {
    mo_vf acc[MO_PR][MO_PV];
    __builtin_memset(acc, 0, sizeof acc);  // all in registers: the unused ones are never read
    for (ptrdiff_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb, *ap_ = a + p * ap;
        mo_vf x[MO_PV];
#pragma clang loop unroll(full)
        for (int v = 0; v < MO_PV; v++) {
            if (v >= nv) break;
            x[v] = mo_load(bp + v * MO_W);
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < MO_PR; r++) {
            if (r >= rows) break;
            mo_vf w = mo_splat(ap_[r * ai]);
#pragma clang loop unroll(full)
            for (int v = 0; v < MO_PV; v++) {
                if (v >= nv) break;
                acc[r][v] = mo_fma(w, x[v], acc[r][v]);
            }
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < MO_PR; r++) {
        if (r >= rows) break;
#pragma clang loop unroll(full)
        for (int v = 0; v < MO_PV; v++) {
            if (v >= nv) break;
            float *cv = c + r * ldc + v * MO_W;
            if (rest > 0 && v == nv - 1) {
                for (ptrdiff_t l = 0; l < rest; l++) cv[l] = acc[r][v][l];
            } else {
                mo_store(acc[r][v], cv);
            }
        }
    }
}

/// All rows of one block of `nv` vectors of columns, MO_PR rows at a time (the last rows as one
/// smaller block): b's block of columns stays in L1 while the rows of A pass.
MO_INLINE void mo_product_columns(ptrdiff_t m, const float *a, ptrdiff_t ai, ptrdiff_t ap, ptrdiff_t k,
                                  const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, const int nv, ptrdiff_t rest) {
    ptrdiff_t i = 0;
    for (; i + MO_PR <= m; i += MO_PR)
        mo_product_block(a + i * ai, ai, ap, k, b, ldb, c + i * ldc, ldc, MO_PR, nv, rest);
    switch (m - i) {
    case 0: break;
#if MO_PR > 4
    case 4: mo_product_block(a + i * ai, ai, ap, k, b, ldb, c + i * ldc, ldc, 4, nv, rest); break;
#endif
#if MO_PR > 3
    case 3: mo_product_block(a + i * ai, ai, ap, k, b, ldb, c + i * ldc, ldc, 3, nv, rest); break;
#endif
#if MO_PR > 2
    case 2: mo_product_block(a + i * ai, ai, ap, k, b, ldb, c + i * ldc, ldc, 2, nv, rest); break;
#endif
    default: mo_product_block(a + i * ai, ai, ap, k, b, ldb, c + i * ldc, ldc, 1, nv, rest); break;
    }
}

static void MO_FN(matrix_product)(ptrdiff_t m, ptrdiff_t columns, ptrdiff_t k, const float *a, ptrdiff_t ai,
                                  ptrdiff_t ap, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
    ptrdiff_t full = columns / MO_W, rest = columns - full * MO_W, v = 0;
    for (; v + MO_PV <= full; v += MO_PV)
        mo_product_columns(m, a, ai, ap, k, b + v * MO_W, ldb, c + v * MO_W, ldc, MO_PV, 0);
    // The last vectors (fewer than a block, or a block whose last vector is ragged) as one block:
    // A's rows are read once for all of them instead of once per vector (narrow products).
    // `left` ≤ MO_PV; each case passes its width as a constant.
    ptrdiff_t left = full - v + (rest > 0);
    float *cv = c + v * MO_W;
    const float *bv = b + v * MO_W;
    switch (left) {
#if MO_PV > 3
    case 4: mo_product_columns(m, a, ai, ap, k, bv, ldb, cv, ldc, 4, rest); break;
#endif
#if MO_PV > 2
    case 3: mo_product_columns(m, a, ai, ap, k, bv, ldb, cv, ldc, 3, rest); break;
#endif
#if MO_PV > 1
    case 2: mo_product_columns(m, a, ai, ap, k, bv, ldb, cv, ldc, 2, rest); break;
#endif
    case 1: mo_product_columns(m, a, ai, ap, k, bv, ldb, cv, ldc, 1, rest); break;
    default: break;
    }
}

// MARK: - LSTM backward

/// One vector of one hidden unit's row of the backward pass; `mask` (the last vector) zeroes the
/// padding lanes in the sums. `has_extra` and `has_du` are constants at every call site.
MO_INLINE void mo_backward_vector(ptrdiff_t k, const mo_vi *mask, const float *gi, const float *gf, const float *gg,
                                  const float *go, const float *cp, const float *tc, const float *dh,
                                  const float *extra, const float *du, mo_vf w, float *dc, float *di, float *df,
                                  float *dg, float *dout, mo_vf *si, mo_vf *sf, mo_vf *sg, mo_vf *so, mo_vf *sw,
                                  const int has_extra, const int has_du) {
    mo_vf i = mo_load(gi + k), f = mo_load(gf + k), g = mo_load(gg + k), o = mo_load(go + k), t = mo_load(tc + k);
    mo_vf dhv = mo_load(dh + k);
    if (has_extra) dhv += mo_load(extra + k);
    mo_vf hdu = mo_splat(0);
    if (has_du) {
        mo_vf d = mo_load(du + k);
        dhv = mo_fma(w, d, dhv);
        hdu = (o * t) * d;
    }
    mo_vf dcv = mo_fma(dhv * o, 1 - t * t, mo_load(dc + k));
    mo_store(dcv * f, dc + k);
    mo_vf vi = (dcv * g) * (i * (1 - i));
    mo_vf vf = (dcv * mo_load(cp + k)) * (f * (1 - f));
    mo_vf vg = (dcv * i) * (1 - g * g);
    mo_vf vo = (dhv * t) * (o * (1 - o));
    mo_store(vi, di + k);
    mo_store(vf, df + k);
    mo_store(vg, dg + k);
    mo_store(vo, dout + k);
    if (mask) {
        mo_vf zero = mo_splat(0);
        *si += mo_select(*mask, vi, zero);
        *sf += mo_select(*mask, vf, zero);
        *sg += mo_select(*mask, vg, zero);
        *so += mo_select(*mask, vo, zero);
        if (has_du) *sw += mo_select(*mask, hdu, zero);
    } else {
        *si += vi;
        *sf += vf;
        *sg += vg;
        *so += vo;
        if (has_du) *sw += hdu;
    }
}

/// Hidden unit j's row of the backward pass.
MO_INLINE void mo_backward_row(const metaopt_lstm_backward_args *a, ptrdiff_t j, ptrdiff_t vectors, mo_vi mask,
                               const int has_extra, const int has_du) {
    ptrdiff_t h = a->hidden;
    const float *gi = mo_row(a->gates, j), *gf = mo_row(a->gates, h + j), *gg = mo_row(a->gates, 2 * h + j),
                *go = mo_row(a->gates, 3 * h + j);
    float *di = mo_row(a->d_gates, j), *df = mo_row(a->d_gates, h + j), *dg = mo_row(a->d_gates, 2 * h + j),
          *dout = mo_row(a->d_gates, 3 * h + j);
    const float *cp = mo_row(a->cell_previous, j), *tc = mo_row(a->tanh_cell, j), *dh = mo_row(a->d_hidden, j);
    float *dc = mo_row(a->d_cell, j);
    const float *extra = has_extra ? mo_row(a->d_hidden_extra, j) : 0;
    const float *du = has_du ? a->du : 0;
    mo_vf w = mo_splat(has_du ? a->output_weights[j] : 0);
    mo_vf si = mo_splat(0), sf = mo_splat(0), sg = mo_splat(0), so = mo_splat(0), sw = mo_splat(0);
    for (ptrdiff_t v = 0; v < vectors - 1; v++)
        mo_backward_vector(v * MO_W, 0, gi, gf, gg, go, cp, tc, dh, extra, du, w, dc, di, df, dg, dout, &si, &sf, &sg,
                           &so, &sw, has_extra, has_du);
    mo_backward_vector((vectors - 1) * MO_W, &mask, gi, gf, gg, go, cp, tc, dh, extra, du, w, dc, di, df, dg, dout,
                       &si, &sf, &sg, &so, &sw, has_extra, has_du);
    a->bias_gradient[j] += mo_sum(si);
    a->bias_gradient[h + j] += mo_sum(sf);
    a->bias_gradient[2 * h + j] += mo_sum(sg);
    a->bias_gradient[3 * h + j] += mo_sum(so);
    if (has_du) a->output_weight_gradient[j] += mo_sum(sw);
}

static void MO_FN(lstm_backward)(const metaopt_lstm_backward_args *a) {
    ptrdiff_t vectors = mo_vector_count(a->columns);
    mo_vi mask = mo_tail_mask(a->columns);
    int has_extra = a->d_hidden_extra.base != 0, has_du = a->output_weights != 0;
    if (has_du) {
        mo_vf s = mo_splat(0);
        for (ptrdiff_t v = 0; v < vectors; v++) {
            mo_vf d = mo_load(a->du + v * MO_W);
            s += v == vectors - 1 ? mo_select(mask, d, mo_splat(0)) : d;
        }
        *a->output_bias_gradient += mo_sum(s);
    }
    for (ptrdiff_t j = 0; j < a->hidden; j++) {
        if (has_extra && has_du) mo_backward_row(a, j, vectors, mask, 1, 1);
        else if (has_extra) mo_backward_row(a, j, vectors, mask, 1, 0);
        else if (has_du) mo_backward_row(a, j, vectors, mask, 0, 1);
        else mo_backward_row(a, j, vectors, mask, 0, 0);
    }
}

// MARK: - Weight gradient

/// Prefetches the next `count` lines of `p` into L2 (prefetcht1).
MO_INLINE void mo_prefetch_next(metaopt_prefetch *p, ptrdiff_t count) {
    for (ptrdiff_t i = 0; i < count; i++) {
        if (p->range >= p->count) return;
        __builtin_prefetch((const char *)p->ranges[p->range].start + p->offset, 0, 2);
        p->offset += 64;
        if (p->offset >= p->ranges[p->range].bytes) {
            p->range += 1;
            p->offset = 0;
        }
    }
}

/// Output (i, j)'s partial sums: one vector of MO_W floats per output, packed. (8-lane paths used to
/// keep theirs in 16-float slots, half of each cache line unused: packed, their dW phases ran 4–10 %
/// faster on Zen 4, docs/performance-log.md, "Packed partial sums on the 8-lane paths".) With
/// MO_DW_SUMS_PER_CALL, one float per output, row-major.
#if MO_DW_SUMS_PER_CALL
#define MO_ACC(acc, i, j, n) ((acc) + (i) * (n) + (j))
#else
#define MO_ACC(acc, i, j, n) ((acc) + ((i) * (n) + (j)) * MO_W)
#endif

/// One vector of columns (from k) of `rows` rows of a against MO_BC rows of b, into rows·MO_BC
/// accumulators that stay in registers; `mask` zeroes the padding lanes of a row's last vector.
/// The block (MO_BR × MO_BC) fits the path's registers without spilling, with the rows of a and
/// one row of b: 2 × 8 with AVX-512's 32 zmm registers (3 × 8 also fits but measured 10% slower),
/// 3 × 4 with AVX2's 16 ymm registers (all 16: 12 accumulators, 3 rows of a, one of b; 2 × 4
/// ran the dW phases 3–11 % slower). The block shape does not change any sum's order: each
/// output adds its columns in the same order. `rows` is a constant at every call site.
MO_INLINE void mo_step_block(mo_vf s[][MO_BC], const int rows, const float *a, ptrdiff_t lda, const float *b,
                             ptrdiff_t ldb, ptrdiff_t k, const mo_vi *mask) {
    mo_vf x[MO_BR];
#pragma clang loop unroll(full)
    for (int r = 0; r < MO_BR; r++) {
        if (r >= rows) break;
        x[r] = mo_load(a + r * lda + k);
        if (mask) x[r] = mo_select(*mask, x[r], mo_splat(0));
    }
#pragma clang loop unroll(full)
    for (int q = 0; q < MO_BC; q++) {
        mo_vf y = mo_load(b + q * ldb + k);
#pragma clang loop unroll(full)
        for (int r = 0; r < MO_BR; r++) {
            if (r >= rows) break;
            s[r][q] = mo_fma(x[r], y, s[r][q]);
        }
    }
}

#if MO_DW_SUMS_PER_CALL
typedef float mo_v4 __attribute__((ext_vector_type(4), aligned(4)));  // four outputs' floats in acc

/// The lane sums of four 8-lane vectors, (Σa, Σb, Σc, Σd): pairs of lanes added within each
/// vector's halves, then across the halves (11 shuffles and adds; with the load, add and store of
/// the four floats, 14 instructions for four outputs where their partial-sum vectors took 8 loads
/// and stores, but 16 bytes of memory instead of 128).
MO_INLINE mo_v4 mo_sum4(mo_vf a, mo_vf b, mo_vf c, mo_vf d) {
    mo_vf ab = __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13) + __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15);
    mo_vf cd = __builtin_shufflevector(c, d, 0, 8, 1, 9, 4, 12, 5, 13) + __builtin_shufflevector(c, d, 2, 10, 3, 11, 6, 14, 7, 15);
    mo_vf abcd = __builtin_shufflevector(ab, cd, 0, 1, 8, 9, 4, 5, 12, 13) + __builtin_shufflevector(ab, cd, 2, 3, 10, 11, 6, 7, 14, 15);
    return __builtin_shufflevector(abcd, abcd, 0, 1, 2, 3) + __builtin_shufflevector(abcd, abcd, 4, 5, 6, 7);
}
#endif

/// Outputs (i..<i+rows) × (j..<j+MO_BC) over all columns, starting from their partial sums in acc
/// (MO_DW_SUMS_PER_CALL: from zero, each output's lanes summed at the end and added to its float
/// in acc, whose row stride is n).
MO_INLINE void mo_block(float *acc, ptrdiff_t n, const int rows, const float *a, ptrdiff_t lda, const float *b,
                        ptrdiff_t ldb, ptrdiff_t full, ptrdiff_t rest, mo_vi mask) {
    mo_vf s[MO_BR][MO_BC];
#pragma clang loop unroll(full)
    for (int r = 0; r < MO_BR; r++) {
        if (r >= rows) break;
#pragma clang loop unroll(full)
#if MO_DW_SUMS_PER_CALL
        for (int q = 0; q < MO_BC; q++) s[r][q] = mo_splat(0);
#else
        for (int q = 0; q < MO_BC; q++) s[r][q] = mo_load(MO_ACC(acc, r, q, n));
#endif
    }
    for (ptrdiff_t v = 0; v < full; v++) mo_step_block(s, rows, a, lda, b, ldb, v * MO_W, 0);
    if (rest > 0) mo_step_block(s, rows, a, lda, b, ldb, full * MO_W, &mask);
#pragma clang loop unroll(full)
    for (int r = 0; r < MO_BR; r++) {
        if (r >= rows) break;
#if MO_DW_SUMS_PER_CALL
        mo_v4 *out = (mo_v4 *)MO_ACC(acc, r, 0, n);
        *out += mo_sum4(s[r][0], s[r][1], s[r][2], s[r][3]);
#else
#pragma clang loop unroll(full)
        for (int q = 0; q < MO_BC; q++) mo_store(s[r][q], MO_ACC(acc, r, q, n));
#endif
    }
}

static void MO_FN(weight_gradient_accumulate)(float *acc, const float *a, ptrdiff_t lda, ptrdiff_t m, const float *b,
                                              ptrdiff_t ldb, ptrdiff_t n, ptrdiff_t columns, metaopt_prefetch *prefetch,
                                              ptrdiff_t lines_per_block) {
    ptrdiff_t full = columns / MO_W, rest = columns - full * MO_W;
    mo_vi mask;
    for (int l = 0; l < MO_W; l++) mask[l] = l < rest ? -1 : 0;
    // j outer: the MO_BC rows of b (1 KiB each for a 256-column tile) stay in the L1 cache while
    // the rows of a stream past them from L2.
    for (ptrdiff_t j = 0; j < n; j += MO_BC) {
        const float *bj = b + j * ldb;
        ptrdiff_t i = 0;
        for (; i + MO_BR <= m; i += MO_BR) {
            mo_block(MO_ACC(acc, i, j, n), n, MO_BR, a + i * lda, lda, bj, ldb, full, rest, mask);
            mo_prefetch_next(prefetch, lines_per_block);
        }
        // The last rows, as one smaller block.
        switch (m - i) {
        case 0: break;
#if MO_BR > 2
        case 2: mo_block(MO_ACC(acc, i, j, n), n, 2, a + i * lda, lda, bj, ldb, full, rest, mask); break;
#endif
#if MO_BR > 3
        case 3: mo_block(MO_ACC(acc, i, j, n), n, 3, a + i * lda, lda, bj, ldb, full, rest, mask); break;
#endif
        default: mo_block(MO_ACC(acc, i, j, n), n, 1, a + i * lda, lda, bj, ldb, full, rest, mask); break;
        }
        if (m > i) mo_prefetch_next(prefetch, lines_per_block);
    }
}

static void MO_FN(weight_gradient_reduce)(float *acc, ptrdiff_t m, ptrdiff_t n, float *g, ptrdiff_t ldg) {
    for (ptrdiff_t i = 0; i < m; i++) {
        for (ptrdiff_t j = 0; j < n; j++) {
            float *s = MO_ACC(acc, i, j, n);
#if MO_DW_SUMS_PER_CALL
            g[i * ldg + j] += *s;
            *s = 0;
#else
            g[i * ldg + j] += mo_sum(mo_load(s));
            mo_store(mo_splat(0), s);
#endif
        }
    }
}

// MARK: - Elementwise helpers of the engine

/// r = a ⊙ b over `count` floats, whole vectors (rows are padded to whole vectors).
static void MO_FN(multiply)(const float *a, const float *b, float *r, ptrdiff_t count) {
    for (ptrdiff_t k = 0; k < count; k += MO_W) mo_store(mo_load(a + k) * mo_load(b + k), r + k);
}

/// tanh(c) into `tanh_cell` and, where `hidden` is given, h = o ⊙ tanh(c), over `rows` rows of
/// `columns` columns rounded up to whole vectors: the backward pass's tanh(c) and rebuilt h,
/// recomputed from the stored c with the forward kernel's mo_tanh and product, hence the forward
/// pass's bits (the history keeps c, not tanh c).
static void MO_FN(lstm_tanh_cell)(ptrdiff_t rows, ptrdiff_t columns, metaopt_matrix cell, metaopt_matrix output_gate,
                                  metaopt_matrix tanh_cell, metaopt_matrix hidden) {
    ptrdiff_t n = mo_vector_count(columns) * MO_W;
    for (ptrdiff_t j = 0; j < rows; j++) {
        const float *c = mo_row(cell, j);
        float *t = mo_row(tanh_cell, j);
        if (hidden.base)
            MO_EACH_VECTOR(n, mo_tanh_cell_vector, c, mo_row(output_gate, j), t, mo_row(hidden, j), 1);
        else
            MO_EACH_VECTOR(n, mo_tanh_cell_vector, c, 0, t, 0, 0);
    }
}

/// y += alpha·x over `count` floats (a product, then a sum: not fused, as the Double path).
static void MO_FN(add_scaled)(float *y, float alpha, const float *x, ptrdiff_t count) {
    ptrdiff_t k = 0;
    for (; k + MO_W <= count; k += MO_W) mo_store(mo_load(y + k) + alpha * mo_load(x + k), y + k);
    for (; k < count; k++) y[k] += alpha * x[k];
}

// MARK: - Preprocessing and evaluation

MO_INLINE void mo_log_and_sign_vector(mo_vf v, float p, float threshold, float scale, mo_vf *x0, mo_vf *x1) {
    mo_vf a = mo_abs(v);
    mo_vi big = a >= threshold;
    mo_vf sign = mo_select(v < 0, mo_splat(-1), mo_select(v > 0, mo_splat(1), mo_splat(0)));
    *x0 = mo_select(big, mo_log(a) / p, mo_splat(-1));
    *x1 = mo_select(big, sign, scale * v);
}

static void MO_FN(log_and_sign)(const float *g, ptrdiff_t count, float p, float threshold, float scale, float *r0,
                                float *r1) {
    ptrdiff_t k = 0;
    mo_vf x0, x1;
    for (; k + MO_W <= count; k += MO_W) {
        mo_log_and_sign_vector(mo_load(g + k), p, threshold, scale, &x0, &x1);
        mo_store(x0, r0 + k);
        mo_store(x1, r1 + k);
    }
    if (k < count) {
        mo_vf v = mo_splat(0);
        for (ptrdiff_t l = 0; l < count - k; l++) v[l] = g[k + l];
        mo_log_and_sign_vector(v, p, threshold, scale, &x0, &x1);
        for (ptrdiff_t l = 0; l < count - k; l++) {
            r0[k + l] = x0[l];
            r1[k + l] = x1[l];
        }
    }
}

__attribute__((noinline)) static void MO_FN(evaluate)(metaopt_function function, const float *x, float *y,
                                                      ptrdiff_t count) {
    for (ptrdiff_t k = 0; k < count; k += MO_W) {
        mo_vf v = mo_splat(0), r;
        ptrdiff_t n = count - k < MO_W ? count - k : MO_W;
        for (ptrdiff_t l = 0; l < n; l++) v[l] = x[k + l];
        switch (function) {
        case METAOPT_FUNCTION_EXP: r = mo_exp(v); break;
        case METAOPT_FUNCTION_SIGMOID: r = mo_sigmoid(v); break;
        case METAOPT_FUNCTION_TANH: r = mo_tanh(v); break;
        default: r = mo_log(v); break;
        }
        for (ptrdiff_t l = 0; l < n; l++) y[k + l] = r[l];
    }
}

// MARK: - The machine's peak

/// MO_PEAK_CHAINS independent multiply-add chains in registers, `iterations` times each: the
/// path's multiply-add throughput (2·MO_W floating-point operations per multiply-add), since
/// the chains outnumber the instruction's latency times the units that run it (4 cycles × 2 on
/// current x86 cores). acc ← acc·x + y with |x| < 1 stays finite and normal. Returns a checksum
/// so that the loop cannot be left out. The start values and x, y are read through volatiles: a
/// chain the compiler can prove constant is dropped, and with starts 0, 1, 2, … and constants it
/// did so with chain 1 (1 is the fixed point y / (1 − x) in Float), so the loop ran 11 chains
/// that were counted as 12 and the peak read 12/11 too high.
#ifndef MO_PEAK_CHAINS
#define MO_PEAK_CHAINS 12
#endif
__attribute__((noinline)) static float MO_FN(fma_peak)(ptrdiff_t iterations) {
    volatile float opaque_x = 0.999999f, opaque_y = 1e-6f, opaque_start = 0.5f;
    mo_vf acc[MO_PEAK_CHAINS];
    mo_vf x = mo_splat(opaque_x), y = mo_splat(opaque_y);
#pragma clang loop unroll(full)
    for (int c = 0; c < MO_PEAK_CHAINS; c++) acc[c] = mo_splat(opaque_start + (float)c);
    for (ptrdiff_t i = 0; i < iterations; i++) {
#pragma clang loop unroll(full)
        for (int c = 0; c < MO_PEAK_CHAINS; c++) acc[c] = mo_fma(acc[c], x, y);
    }
    mo_vf total = mo_splat(0);
#pragma clang loop unroll(full)
    for (int c = 0; c < MO_PEAK_CHAINS; c++) total += acc[c];
    return mo_sum(total);
}

#include "kernels_convolution.h"
#if MO_AVX512
#include "kernels_paired.h"
#define MO_PAIRED_PREPARE MO_FN(paired_prepare)
#define MO_PAIRED_PRODUCT MO_FN(paired_product)
#else
#define MO_PAIRED_PREPARE 0
#define MO_PAIRED_PRODUCT 0
#endif

const metaopt_kernel_table MO_FN(table) = {
    .path = MO_PATH,
    .width = MO_W,
    .block_rows = MO_BR,
    .block_columns = MO_BC,
    .lstm_forward = MO_FN(lstm_forward),
    .lstm_fused_forward = MO_FN(lstm_fused_forward),
    .matrix_product = MO_FN(matrix_product),
    .owns_matrix_products = MO_OWN_PRODUCTS,
    .paired_prepare = MO_PAIRED_PREPARE,
    .paired_product = MO_PAIRED_PRODUCT,
    .lstm_backward = MO_FN(lstm_backward),
    .weight_gradient_accumulate = MO_FN(weight_gradient_accumulate),
    .weight_gradient_reduce = MO_FN(weight_gradient_reduce),
    .log_and_sign = MO_FN(log_and_sign),
    .multiply = MO_FN(multiply),
    .lstm_tanh_cell = MO_FN(lstm_tanh_cell),
    .add_scaled = MO_FN(add_scaled),
    .fma_peak = MO_FN(fma_peak),
    .fma_peak_chains = MO_PEAK_CHAINS,
    .evaluate = MO_FN(evaluate),
    .conv_block_forward = MO_FN(conv_block_forward),
    .conv_block_backward = MO_FN(conv_block_backward),
};
