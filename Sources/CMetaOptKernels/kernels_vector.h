// The vector code of the kernels that is written once per vector type: the memory helpers,
// exp, sigmoid and tanh, and the per-vector bodies of the LSTM's elementwise loops.
// kernels_template.h includes it once for mo_vf (one register, MO_W floats) and, where the path
// interleaves (MO_IL > 1), once more for mo_vx (MO_IL registers, the names suffixed `_x`):
//   MO_V, MO_VI, MO_VU   the float, int32 and uint32 vector types
//   MO_LANES             their lane count
//   MO_N(name)           this inclusion's name for a function
// The same operations in the same order on every lane whatever the width, so the two give the
// same bits; a wider type only interleaves independent dependency chains (see MO_IL).

MO_INLINE MO_V MO_N(mo_load)(const float *p) {
    MO_V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
MO_INLINE void MO_N(mo_store)(MO_V v, float *p) { __builtin_memcpy(p, &v, sizeof v); }

/// A store of BPTT history that is not read again until the backward pass: with AVX-512 and AVX2 a
/// non-temporal store (no read-for-ownership of the line; rows are 64-byte aligned). On AVX2 this
/// made the forward kernels of a meta-iteration about 10 % faster on Zen 4; the portable path
/// (SSE2) measured no gain and keeps regular stores (docs/performance-log.md, "Non-temporal history
/// stores on AVX2").
MO_INLINE void MO_N(mo_store_history)(MO_V v, float *p) {
#if MO_AVX512 || MO_AVX2
    __builtin_nontemporal_store(v, (MO_V *)p);
#else
    MO_N(mo_store)(v, p);
#endif
}

MO_INLINE MO_V MO_N(mo_splat)(float x) { return (MO_V)(x); }
MO_INLINE MO_VU MO_N(mo_bits)(MO_V v) { return (MO_VU)v; }
MO_INLINE MO_V MO_N(mo_float)(MO_VU b) { return (MO_V)b; }
MO_INLINE MO_V MO_N(mo_select)(MO_VI mask, MO_V a, MO_V b) { return mask ? a : b; }
MO_INLINE MO_V MO_N(mo_abs)(MO_V x) { return MO_N(mo_float)(MO_N(mo_bits)(x) & 0x7FFFFFFFu); }
MO_INLINE MO_V MO_N(mo_negative_abs)(MO_V x) { return MO_N(mo_float)(MO_N(mo_bits)(x) | 0x80000000u); }

/// a·b + c: one rounding where the path has the instruction, two elsewhere.
MO_INLINE MO_V MO_N(mo_fma)(MO_V a, MO_V b, MO_V c) {
#if MO_FUSED
    return __builtin_elementwise_fma(a, b, c);
#else
    return a * b + c;
#endif
}

/// max(x, lo) that keeps NaN.
MO_INLINE MO_V MO_N(mo_clamp_below)(MO_V x, float lo) {
#if MO_AVX512 && MO_LANES == 16
    // vmaxps(lo, x) is x where x is NaN (x86's max returns its second operand then): one
    // instruction where clang, folding a negation into the comparison, emits a compare and a blend.
    return (MO_V)_mm512_max_ps(_mm512_set1_ps(lo), (__m512)x);
#elif MO_AVX2 && MO_LANES == 8
    return (MO_V)_mm256_max_ps(_mm256_set1_ps(lo), (__m256)x);  // as above: one vmaxps
#elif (MO_AVX512 || MO_AVX2) && defined(MO_MAP_PARTS)
#define MO_CLAMP(i) mo_clamp_below(MO_PART(x, i), lo)
    return MO_MAP_PARTS(MO_CLAMP);
#undef MO_CLAMP
#else
    return MO_N(mo_select)(x < lo, MO_N(mo_splat)(lo), x);
#endif
}

/// e·s where x < 0 (or NaN), s elsewhere: the sigmoid's two tails.
MO_INLINE MO_V MO_N(mo_sigmoid_tails)(MO_V x, MO_V e, MO_V s) {
#if MO_AVX512 && MO_LANES == 16
    // One masked multiply after the compare, not a multiply and a blend.
    __mmask16 negative = _mm512_cmp_ps_mask((__m512)x, _mm512_setzero_ps(), _CMP_NGE_UQ);
    return (MO_V)_mm512_mask_mul_ps((__m512)s, negative, (__m512)e, (__m512)s);
#elif MO_AVX2 && MO_LANES == 8
    // vblendvps selects by the sign bit of x, which saves the compare: e·s where x is negative.
    // Where that differs from x < 0 the result does not: −0 gives e·s = s (e is exactly 1 there),
    // a NaN x gives NaN both ways.
    return (MO_V)_mm256_blendv_ps((__m256)s, (__m256)(e * s), (__m256)x);
#elif (MO_AVX512 || MO_AVX2) && defined(MO_MAP_PARTS)
#define MO_TAILS(i) mo_sigmoid_tails(MO_PART(x, i), MO_PART(e, i), MO_PART(s, i))
    return MO_MAP_PARTS(MO_TAILS);
#undef MO_TAILS
#else
    return MO_N(mo_select)(x >= 0, s, e * s);
#endif
}

/// 2ⁿ for integral n ∈ [−126, 127] from t = n + 1.5·2²³ (n in its low mantissa bits): a shift and an
/// integer add, where vscalefps(1, n) would take a whole multiply-add slot. The add runs beside the
/// multiply-add units; the shift takes about 0.6 of a slot on Zen 3 and was not measured on Zen 4
/// (docs/performance-log.md, "Zen 3 up close").
MO_INLINE MO_V MO_N(mo_power_of_two)(MO_V t) {
    return MO_N(mo_float)((MO_N(mo_bits)(t) << 23) + 0x3F800000u);
}

/// p·2ⁿ for integral n with 2ⁿ a normal float (bits(t) holds n in its low mantissa bits).
MO_INLINE MO_V MO_N(mo_scale)(MO_V p, MO_V n, MO_V t) {
#if MO_AVX512 && MO_LANES == 16
    (void)t;
    return (MO_V)_mm512_scalef_ps((__m512)p, (__m512)n);  // one instruction
#elif MO_AVX512 && defined(MO_MAP_PARTS)
#define MO_SCALE(i) mo_scale(MO_PART(p, i), MO_PART(n, i), MO_PART(t, i))
    return MO_MAP_PARTS(MO_SCALE);  // one instruction per register
#undef MO_SCALE
#else
    (void)n;
    return p * MO_N(mo_power_of_two)(t);
#endif
}

/// a·b + C and a·C + c for the exp constants C = mo_constants[k] (one fused multiply-add each).
/// On AVX2 C is the instruction's memory operand, a whole vector of mo_constant_vectors: with 16
/// registers clang otherwise keeps re-broadcasting each constant into a register before each use
/// (49 `vbroadcastss` in 406 instructions of the first gates loop), and the loops that interleave
/// four vectors spill. The asm only hides the constant's value from clang, which would fold it
/// back into a broadcast; the operation and its rounding are the same, so the same bits. On
/// Zen 4 the AVX2 forward kernel ran 7–8 % (with history) and 10–14 % (forward-only) faster
/// (docs/performance-log.md, "Constants as memory operands on AVX2").
#if MO_AVX2 && MO_LANES == 8
MO_INLINE MO_V MO_N(mo_fma_add_constant)(MO_V a, MO_V b, enum mo_constant k) {
    __asm__("vfmadd213ps %[c], %[b], %[a]" : [a] "+x"(a) : [b] "x"(b), [c] "m"(mo_constant_vectors[k]));
    return a;
}
MO_INLINE MO_V MO_N(mo_fma_by_constant)(MO_V a, enum mo_constant k, MO_V c) {
    __asm__("vfmadd231ps %[k], %[a], %[c]" : [c] "+x"(c) : [a] "x"(a), [k] "m"(mo_constant_vectors[k]));
    return c;
}
#elif MO_AVX2 && defined(MO_MAP_PARTS)
MO_INLINE MO_V MO_N(mo_fma_add_constant)(MO_V a, MO_V b, enum mo_constant k) {
#define MO_ADD_CONSTANT(i) mo_fma_add_constant(MO_PART(a, i), MO_PART(b, i), k)
    return MO_MAP_PARTS(MO_ADD_CONSTANT);
#undef MO_ADD_CONSTANT
}
MO_INLINE MO_V MO_N(mo_fma_by_constant)(MO_V a, enum mo_constant k, MO_V c) {
#define MO_BY_CONSTANT(i) mo_fma_by_constant(MO_PART(a, i), k, MO_PART(c, i))
    return MO_MAP_PARTS(MO_BY_CONSTANT);
#undef MO_BY_CONSTANT
}
#else
MO_INLINE MO_V MO_N(mo_fma_add_constant)(MO_V a, MO_V b, enum mo_constant k) {
    return MO_N(mo_fma)(a, b, MO_N(mo_splat)(mo_constants[k]));
}
MO_INLINE MO_V MO_N(mo_fma_by_constant)(MO_V a, enum mo_constant k, MO_V c) {
    return MO_N(mo_fma)(a, MO_N(mo_splat)(mo_constants[k]), c);
}
#endif

/// Cody–Waite reduction for e^x (x already clamped by the caller): t = x·log₂e + the rounding
/// constant, whose low mantissa bits hold n = round(x / ln 2); *t and *n receive t and n (as a
/// float), and the result is r = x − n·ln 2, with ln 2 in two parts for accuracy.
MO_INLINE MO_V MO_N(mo_exp_reduce)(MO_V x, MO_V *t, MO_V *n) {
    *t = MO_N(mo_fma_add_constant)(x, MO_N(mo_splat)(mo_log2e), MO_C_ROUNDING_MAGIC);
    *n = *t - mo_rounding_magic;
    MO_V r = MO_N(mo_fma_by_constant)(*n, MO_C_NEG_LN2_HI, x);
    return MO_N(mo_fma_by_constant)(*n, MO_C_NEG_LN2_LO, r);
}

/// p(r) with e^r − 1 = p(r)·r on the reduced range: the degree-6 minimax polynomial of e^r without
/// its last multiply-add (tanh needs e^r − 1, exp adds the 1).
MO_INLINE MO_V MO_N(mo_expm1_over_r)(MO_V r) {
    MO_V p = MO_N(mo_fma_add_constant)(MO_N(mo_splat)(mo_e6), r, MO_C_E5);
    p = MO_N(mo_fma_add_constant)(p, r, MO_C_E4);
    p = MO_N(mo_fma_add_constant)(p, r, MO_C_E3);
    p = MO_N(mo_fma_add_constant)(p, r, MO_C_E2);
    return MO_N(mo_fma_add_constant)(p, r, MO_C_ONE);
}

MO_INLINE MO_V MO_N(mo_exp_reduced)(MO_V r) {
    return MO_N(mo_fma_add_constant)(MO_N(mo_expm1_over_r)(r), r, MO_C_ONE);
}

/// e^x for x ≤ 0 (and NaN); below ln(FLT_MIN) it gives FLT_MIN.
MO_INLINE MO_V MO_N(mo_exp_of_non_positive)(MO_V x) {
    MO_V xc = MO_N(mo_clamp_below)(x, mo_exp_lowest);
    MO_V t, n, r = MO_N(mo_exp_reduce)(xc, &t, &n);
    return MO_N(mo_scale)(MO_N(mo_exp_reduced)(r), n, t);
}

/// e^x for every float: 0 below ln(FLT_MIN), +∞ above ln(FLT_MAX).
MO_INLINE MO_V MO_N(mo_exp)(MO_V x) {
    MO_V xc = MO_N(mo_select)(x < mo_exp_lowest, MO_N(mo_splat)(mo_exp_lowest), x);
    xc = MO_N(mo_select)(xc > mo_exp_highest, MO_N(mo_splat)(mo_exp_highest), xc);
    MO_V t, n, r = MO_N(mo_exp_reduce)(xc, &t, &n);
    // 2ⁿ as 2^⌊n/2⌋ · 2^(n−⌊n/2⌋): both factors normal for n ∈ [−126, 128].
    MO_VI ni = (MO_VI)(MO_N(mo_bits)(t) - MO_N(mo_bits)(MO_N(mo_splat)(mo_rounding_magic)));
    MO_VI half = ni >> 1;
    MO_V s1 = MO_N(mo_float)((MO_VU)((half + 127) << 23));
    MO_V s2 = MO_N(mo_float)((MO_VU)((ni - half + 127) << 23));
    MO_V y = MO_N(mo_exp_reduced)(r) * s1 * s2;
    y = MO_N(mo_select)(x < mo_exp_lowest, MO_N(mo_splat)(0), y);
    return MO_N(mo_select)(x > mo_exp_highest, MO_N(mo_splat)(__builtin_inff()), y);
}

/// e = exp(−|x|), the sigmoid's exponential in both tails.
MO_INLINE MO_V MO_N(mo_sigmoid_exp)(MO_V x) { return MO_N(mo_exp_of_non_positive)(MO_N(mo_negative_abs)(x)); }

/// σ(x) from e = exp(−|x|): s = 1 / (1 + e) where x ≥ 0, e·s where x < 0.
MO_INLINE MO_V MO_N(mo_sigmoid_from_exp)(MO_V x, MO_V e) { return MO_N(mo_sigmoid_tails)(x, e, 1 / (1 + e)); }

/// 1 / (1 + e^−x), from e = exp(−|x|) in both tails.
MO_INLINE MO_V MO_N(mo_sigmoid)(MO_V x) { return MO_N(mo_sigmoid_from_exp)(x, MO_N(mo_sigmoid_exp)(x)); }

/// tanh(x) = sign(x)·(−m / (2 + m)), m = expm1(−2|x|) = 2ⁿ·(e^r − 1) + (2ⁿ − 1).
///
/// Multiplies, multiply-adds and vscalefps share the core's multiply-add units, the elementwise
/// loops' scarcest resource on Zen 4; adds, max and integer adds run beside them
/// (docs/performance-log.md, "The multiply-add units bound the forward-only run"; on Zen 3 blends
/// share them too, and shifts in part: "Zen 3 up close"). So −2|x| is the sum
/// −|x| + −|x| and 2ⁿ comes from integer operations: both exact, so every result is the one of
/// −2·|x| and vscalefps(1, n) bit for bit, except that a NaN may come out with the other sign.
MO_INLINE MO_V MO_N(mo_tanh)(MO_V x) {
    MO_V na = MO_N(mo_negative_abs)(x);
    MO_V y = MO_N(mo_clamp_below)(na + na, mo_exp_lowest);
    MO_V t, n, r = MO_N(mo_exp_reduce)(y, &t, &n);
    MO_V q = MO_N(mo_expm1_over_r)(r) * r;  // e^r − 1
    MO_V scale = MO_N(mo_power_of_two)(t);
    MO_V m = MO_N(mo_fma)(scale, q, scale - 1);
    MO_V th = m / (-2 - m);
    return MO_N(mo_float)(MO_N(mo_bits)(th) | (MO_N(mo_bits)(x) & 0x80000000u));
}

// MARK: - Bodies of the LSTM's elementwise loops (one vector of columns from k)

/// The first loop of the split gates (MO_SPLIT_GATES): i and f in place over their pre-activations.
MO_INLINE void MO_N(mo_input_forget_vector)(ptrdiff_t k, float *zi, float *zf, float bi, float bf) {
    MO_N(mo_store)(MO_N(mo_sigmoid)(MO_N(mo_load)(zi + k) + bi), zi + k);
    MO_N(mo_store)(MO_N(mo_sigmoid)(MO_N(mo_load)(zf + k) + bf), zf + k);
}

/// The staged sigmoid's first loop (MO_STAGED_SIGMOIDS): e = exp(−|z + b|) into `e`.
MO_INLINE void MO_N(mo_sigmoid_exp_vector)(ptrdiff_t k, const float *z, float b, float *e) {
    MO_N(mo_store)(MO_N(mo_sigmoid_exp)(MO_N(mo_load)(z + k) + b), e + k);
}

/// Its second: σ(z + b) from e, in place over z.
MO_INLINE void MO_N(mo_sigmoid_finish_vector)(ptrdiff_t k, float *z, float b, const float *e) {
    MO_N(mo_store)(MO_N(mo_sigmoid_from_exp)(MO_N(mo_load)(z + k) + b, MO_N(mo_load)(e + k)), z + k);
}

/// i, f, g, o and c = f ⊙ c_prev + i ⊙ g; o into `out`; the gates into the history when `keep`.
MO_INLINE void MO_N(mo_gates_vector)(ptrdiff_t k, float *zi, float *zf, const float *zg, const float *zo, float bi,
                                     float bf, float bg, float bo, const float *cp, float *gi, float *gf, float *gg,
                                     float *go, float *c, float *out, const int keep) {
#if MO_SPLIT_GATES
    (void)bi, (void)bf;
    MO_V i = MO_N(mo_load)(zi + k);
    MO_V f = MO_N(mo_load)(zf + k);
#else
    MO_V i = MO_N(mo_sigmoid)(MO_N(mo_load)(zi + k) + bi);
    MO_V f = MO_N(mo_sigmoid)(MO_N(mo_load)(zf + k) + bf);
#endif
    MO_V g = MO_N(mo_tanh)(MO_N(mo_load)(zg + k) + bg);
    MO_V o = MO_N(mo_sigmoid)(MO_N(mo_load)(zo + k) + bo);
    MO_V cv = MO_N(mo_fma)(f, MO_N(mo_load)(cp + k), i * g);
    if (keep) {
        MO_N(mo_store_history)(i, gi + k);
        MO_N(mo_store_history)(f, gf + k);
        MO_N(mo_store_history)(g, gg + k);
        MO_N(mo_store_history)(o, go + k);
    }
    MO_N(mo_store)(cv, c + k);
    MO_N(mo_store)(o, out + k);
}

/// tanh(c), h = o ⊙ tanh(c) (o read from, h written to `out`), its copy, u += w·h.
MO_INLINE void MO_N(mo_hidden_vector)(ptrdiff_t k, const float *c, float *out, float *tc, float *copy, float *u,
                                      float w, float start, const int has_tc, const int has_copy, const int has_u,
                                      const int first) {
    MO_V t = MO_N(mo_tanh)(MO_N(mo_load)(c + k));
    MO_V hv = MO_N(mo_load)(out + k) * t;
    if (has_tc) MO_N(mo_store_history)(t, tc + k);
    MO_N(mo_store)(hv, out + k);
    if (has_copy) MO_N(mo_store)(hv, copy + k);
    if (has_u) MO_N(mo_store)(MO_N(mo_fma)(MO_N(mo_splat)(w), hv, first ? MO_N(mo_splat)(start) : MO_N(mo_load)(u + k)), u + k);
}

/// tanh(c) into `t` and, where `has_hidden`, h = o ⊙ tanh(c) into `h` (the backward pass's rebuild).
MO_INLINE void MO_N(mo_tanh_cell_vector)(ptrdiff_t k, const float *c, const float *o, float *t, float *h,
                                         const int has_hidden) {
    MO_V v = MO_N(mo_tanh)(MO_N(mo_load)(c + k));
    MO_N(mo_store)(v, t + k);
    if (has_hidden) MO_N(mo_store)(MO_N(mo_load)(o + k) * v, h + k);
}
