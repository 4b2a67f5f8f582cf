// The layers' forward products z = Wᵀ X with Winograd's inner products (AVX-512 only; included by
// kernels_template.h). Each sum Σ_p w_p x_p takes its terms three at a time: the first two as one
// product of sums, (w₀ + x₁)(w₁ + x₀) = w₀x₀ + w₁x₁ + w₀w₁ + x₀x₁, the third as a multiply-add;
// the sums of w₀w₁ (per row, once per φ) and of x₀x₁ (per column, once per call) start the
// accumulators negated. Per three terms that is two adds and two multiply-adds instead of three
// multiply-adds, and Zen 4 runs adds beside its multiply-add units: 64 lane-operations of each
// kind in 32 cycles where 48 multiply-adds take 48 (docs/performance-log.md, "Winograd's inner
// products"). Other bits than matrix_product: the largest error about twice as large.
//
// The weights come prepared as whole vectors (every weight repeated over the 16 lanes): on Zen 4 a
// broadcast, even one folded into an add or a multiply-add, takes a cycle of the units the sums
// need, a load from L1 does not. The block loop is written in assembly because clang spills a
// third of the 16 accumulators of this 32-register loop.

// One vector of the pair for accumulator ACC: X0, X1 the block's rows 3g and 3g+1, zmm28 and
// zmm29 the row's w₀ and w₁.
#define MO_PAIR_V(acc, x0, x1) "vaddps %%" #x1 ", %%zmm28, %%zmm30\n\t" "vaddps %%" #x0 ", %%zmm29, %%zmm31\n\t" \
    "vfmadd231ps %%zmm31, %%zmm30, %%" #acc "\n\t"
// acc += zmm28 · X (the third term, or a remaining one).
#define MO_TERM_V(acc, x) "vfmadd231ps %%" #x ", %%zmm28, %%" #acc "\n\t"
// Row r of a group: its three prepared vectors at 192·r bytes from %[w].
#define MO_PAIR_ROW(r, a0, a1, a2, a3) \
    "vmovaps 192*" #r "(%[w]), %%zmm28\n\t" "vmovaps 192*" #r "+64(%[w]), %%zmm29\n\t" \
    MO_PAIR_V(a0, zmm16, zmm20) MO_PAIR_V(a1, zmm17, zmm21) MO_PAIR_V(a2, zmm18, zmm22) MO_PAIR_V(a3, zmm19, zmm23) \
    "vmovaps 192*" #r "+128(%[w]), %%zmm28\n\t" \
    MO_TERM_V(a0, zmm24) MO_TERM_V(a1, zmm25) MO_TERM_V(a2, zmm26) MO_TERM_V(a3, zmm27)
// Row r of a remaining term: its prepared vector at 64·r bytes from %[w].
#define MO_REST_ROW(r, a0, a1, a2, a3) "vmovaps 64*" #r "(%[w]), %%zmm28\n\t" \
    MO_TERM_V(a0, zmm16) MO_TERM_V(a1, zmm17) MO_TERM_V(a2, zmm18) MO_TERM_V(a3, zmm19)
// The four vectors of a packed row at OFFSET bytes from %[x].
#define MO_PACKED_ROW(offset, r0, r1, r2, r3) "vmovaps " #offset "(%[x]), %%" #r0 "\n\t" \
    "vmovaps " #offset "+64(%[x]), %%" #r1 "\n\t" "vmovaps " #offset "+128(%[x]), %%" #r2 "\n\t" \
    "vmovaps " #offset "+192(%[x]), %%" #r3 "\n\t"
// Accumulators 4r..4r+3 = −ξ_r − η (zmm28: the row's prepared −ξ; zmm16..19: η).
#define MO_PAIR_START(r, a0, a1, a2, a3) "vmovaps 64*" #r "(%[w]), %%zmm28\n\t" \
    "vsubps %%zmm16, %%zmm28, %%" #a0 "\n\t" "vsubps %%zmm17, %%zmm28, %%" #a1 "\n\t" \
    "vsubps %%zmm18, %%zmm28, %%" #a2 "\n\t" "vsubps %%zmm19, %%zmm28, %%" #a3 "\n\t"
#define MO_PAIR_STORE(base, index, a0, a1, a2, a3) "vmovups %%" #a0 ", 0(" base index ")\n\t" \
    "vmovups %%" #a1 ", 64(" base index ")\n\t" "vmovups %%" #a2 ", 128(" base index ")\n\t" \
    "vmovups %%" #a3 ", 192(" base index ")\n\t"

/// One block of z: 4 rows × 64 columns (rows `ldc_bytes` apart) = the sums over `groups` groups of
/// three terms and `rest` remaining terms. w: the rows' prepared weights (4 vectors of −ξ, 12 per
/// group, 4 per remaining term); eta: 4 vectors of η; x: the packed rows, 64 floats each.
MO_INLINE void mo_paired_block(float *c, ptrdiff_t ldc_bytes, const float *eta, const float *w, const float *x,
                               ptrdiff_t groups, ptrdiff_t rest) {
    float *c2 = (float *)((char *)c + 2 * ldc_bytes);
    __asm__ volatile(
        "vmovaps 0(%[e]), %%zmm16\n\t" "vmovaps 64(%[e]), %%zmm17\n\t" "vmovaps 128(%[e]), %%zmm18\n\t"
        "vmovaps 192(%[e]), %%zmm19\n\t"
        MO_PAIR_START(0, zmm0, zmm1, zmm2, zmm3) MO_PAIR_START(1, zmm4, zmm5, zmm6, zmm7)
        MO_PAIR_START(2, zmm8, zmm9, zmm10, zmm11) MO_PAIR_START(3, zmm12, zmm13, zmm14, zmm15)
        "add $256, %[w]\n\t"
        "test %[g], %[g]\n\t" "jz 2f\n\t"
        "1:\n\t"
        MO_PACKED_ROW(0, zmm16, zmm17, zmm18, zmm19) MO_PACKED_ROW(256, zmm20, zmm21, zmm22, zmm23)
        MO_PACKED_ROW(512, zmm24, zmm25, zmm26, zmm27)
        MO_PAIR_ROW(0, zmm0, zmm1, zmm2, zmm3) MO_PAIR_ROW(1, zmm4, zmm5, zmm6, zmm7)
        MO_PAIR_ROW(2, zmm8, zmm9, zmm10, zmm11) MO_PAIR_ROW(3, zmm12, zmm13, zmm14, zmm15)
        "add $768, %[w]\n\t" "add $768, %[x]\n\t" "dec %[g]\n\t" "jnz 1b\n\t"
        "2:\n\t"
        "test %[r], %[r]\n\t" "jz 4f\n\t"
        "3:\n\t"
        MO_PACKED_ROW(0, zmm16, zmm17, zmm18, zmm19)
        MO_REST_ROW(0, zmm0, zmm1, zmm2, zmm3) MO_REST_ROW(1, zmm4, zmm5, zmm6, zmm7)
        MO_REST_ROW(2, zmm8, zmm9, zmm10, zmm11) MO_REST_ROW(3, zmm12, zmm13, zmm14, zmm15)
        "add $256, %[w]\n\t" "add $256, %[x]\n\t" "dec %[r]\n\t" "jnz 3b\n\t"
        "4:\n\t"
        MO_PAIR_STORE("%[c]", "", zmm0, zmm1, zmm2, zmm3) MO_PAIR_STORE("%[c]", ",%[l]", zmm4, zmm5, zmm6, zmm7)
        MO_PAIR_STORE("%[d]", "", zmm8, zmm9, zmm10, zmm11) MO_PAIR_STORE("%[d]", ",%[l]", zmm12, zmm13, zmm14, zmm15)
        : [w] "+r"(w), [x] "+r"(x), [g] "+r"(groups), [r] "+r"(rest)
        : [c] "r"(c), [d] "r"(c2), [l] "r"(ldc_bytes), [e] "r"(eta)
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
          "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
          "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "cc", "memory");
}

#undef MO_PAIR_V
#undef MO_TERM_V
#undef MO_PAIR_ROW
#undef MO_REST_ROW
#undef MO_PACKED_ROW
#undef MO_PAIR_START
#undef MO_PAIR_STORE

// Which row of W and X term q of the sums takes. A pair adds a weight to an X value, which rounds
// the weight away when X is large (a raw gradient of 10³: errors 50 times the plain product's),
// so the first `lead` rows (the preprocessed gradient's; at most 2, the hidden units in (−1, 1)
// after them) trade places with the first terms that take a multiply-add of their own: the third
// of the first group, then of the second group or the first remaining term (k = 3 has one: a
// second lead row stays in its pair). Each trade swaps two terms, so the sums hold the same terms
// in another order.
static inline ptrdiff_t mo_paired_own_term(ptrdiff_t i, ptrdiff_t groups) {
    return i < groups ? 3 * i + 2 : 3 * groups + (i - groups);
}

static inline ptrdiff_t mo_paired_leads(ptrdiff_t k, ptrdiff_t lead) {
    ptrdiff_t groups = k / 3, own = groups + (k - 3 * groups);  // terms with a multiply-add of their own
    if (groups == 0) return 0;  // no pairs
    if (lead > 2) lead = 2;     // own terms 0 and 1 lie at 2 or beyond: the trades never overlap
    return lead < own ? lead : own;
}

static inline ptrdiff_t mo_paired_row(ptrdiff_t q, ptrdiff_t k, ptrdiff_t leads) {
    ptrdiff_t groups = k / 3;
    for (ptrdiff_t i = 0; i < leads; i++)
        if (q == mo_paired_own_term(i, groups)) return i;
    return q < leads ? mo_paired_own_term(q, groups) : q;
}

static void MO_FN(paired_prepare)(ptrdiff_t m, ptrdiff_t k, const float *a, ptrdiff_t ai, ptrdiff_t ap, ptrdiff_t lead,
                                  float *out) {
    ptrdiff_t groups = k / 3, leads = mo_paired_leads(k, lead);
#define MO_WEIGHT(r, q) ab[(r) * ai + mo_paired_row((q), k, leads) * ap]
    for (ptrdiff_t i0 = 0; i0 < m; i0 += 4) {
        const float *ab = a + i0 * ai;
        for (int r = 0; r < 4; r++) {
            float xi = 0;  // ξ_r = Σ_g w(r, 3g)·w(r, 3g+1), one multiply-add per group in order
            for (ptrdiff_t g = 0; g < groups; g++) xi = __builtin_fmaf(MO_WEIGHT(r, 3 * g), MO_WEIGHT(r, 3 * g + 1), xi);
            mo_store(mo_splat(-xi), out + 16 * r);
        }
        out += 64;
        for (ptrdiff_t g = 0; g < groups; g++)
            for (int r = 0; r < 4; r++)
                for (int j = 0; j < 3; j++, out += 16) mo_store(mo_splat(MO_WEIGHT(r, 3 * g + j)), out);
        for (ptrdiff_t t = 3 * groups; t < k; t++)
            for (int r = 0; r < 4; r++, out += 16) mo_store(mo_splat(MO_WEIGHT(r, t)), out);
    }
#undef MO_WEIGHT
}

static void MO_FN(paired_product)(ptrdiff_t m, ptrdiff_t columns, ptrdiff_t k, const float *prepared, const float *b,
                                  ptrdiff_t ldb, ptrdiff_t lead, float *c, ptrdiff_t ldc, float *packed) {
    ptrdiff_t groups = k / 3, rest = k - 3 * groups, per_block = metaopt_paired_floats(4, k), leads = mo_paired_leads(k, lead);
    float eta[64] __attribute__((aligned(64)));
    float ragged[4 * 64] __attribute__((aligned(64)));
    for (ptrdiff_t c0 = 0; c0 < columns; c0 += 64) {
        ptrdiff_t n = columns - c0 < 64 ? columns - c0 : 64;
        // X's block of 64 columns, packed (zeros beyond the last column): its rows stay in L1
        // whatever X's row stride, while every block of rows passes over them.
        for (ptrdiff_t p = 0; p < k; p++) {
            const float *row = b + mo_paired_row(p, k, leads) * ldb + c0;
            float *to = packed + p * 64;
            if (n == 64) {
                for (int v = 0; v < 4; v++) mo_store(mo_load(row + 16 * v), to + 16 * v);
            } else {
                for (ptrdiff_t l = 0; l < 64; l++) to[l] = l < n ? row[l] : 0;
            }
        }
        for (int v = 0; v < 4; v++) {
            mo_vf s = mo_splat(0);  // η = Σ_g x(3g)·x(3g+1), one multiply-add per group in order
            for (ptrdiff_t g = 0; g < groups; g++)
                s = mo_fma(mo_load(packed + 3 * g * 64 + 16 * v), mo_load(packed + (3 * g + 1) * 64 + 16 * v), s);
            mo_store(s, eta + 16 * v);
        }
        for (ptrdiff_t i0 = 0; i0 < m; i0 += 4) {
            const float *w = prepared + (i0 / 4) * per_block;
            if (n == 64) {
                mo_paired_block(c + i0 * ldc + c0, ldc * (ptrdiff_t)sizeof(float), eta, w, packed, groups, rest);
            } else {
                mo_paired_block(ragged, 64 * (ptrdiff_t)sizeof(float), eta, w, packed, groups, rest);
                for (int r = 0; r < 4; r++)
                    for (ptrdiff_t l = 0; l < n; l++) c[(i0 + r) * ldc + c0 + l] = ragged[64 * r + l];
            }
        }
    }
}
