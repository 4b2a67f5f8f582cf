// The CNN optimizee's kernels, included by kernels_template.h (so once per kernel path): one
// convolution block (3×3 convolution, stride 1, zero padding 1 → bias → ReLU → 2×2 max-pool)
// forward and backward over NHWC images. See the argument structs in metaopt_kernels.h.
//
// Both passes go image by image, so that everything at full resolution (the padded input, the
// rectified map, its gradient) lives in a few kB of scratch that stays in the L1/L2 cache; only
// the pooled maps, the window codes and the gradients reach the caller's (larger) buffers.
//
// The vectors run over 8 output channels (one group; the last group of a layer whose channel
// count is not a multiple of 8 is stored lane by lane), whatever the path's MO_W: the default
// network has 8 channels per layer, and 8 lanes fill an AVX2 register without waste. Each image
// is first copied into an (H+2)×(W+2)×C buffer with a zero border, so that every tap of every
// pixel reads memory without a bounds check; the tap of patch row r = (ky·3 + kx)·C + c is then
// at offset (ky·(W+2) + kx)·C + c from the pixel's top-left neighbour, and the 9·C rows are one
// flat loop, for any C.

#ifndef MO_CONV_PIXELS
#define MO_CONV_PIXELS 8  // output pixels per register block of the forward kernel
#endif

typedef float mo_v8 __attribute__((ext_vector_type(8)));
typedef int32_t mo_vi8 __attribute__((ext_vector_type(8)));

MO_INLINE mo_v8 mo_load8(const float *p) {
    mo_v8 v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
MO_INLINE void mo_store8(mo_v8 v, float *p) { __builtin_memcpy(p, &v, sizeof v); }

/// The first `lanes` floats at p (≤ 8), zero above.
MO_INLINE mo_v8 mo_load8_partial(const float *p, ptrdiff_t lanes) {
    if (lanes >= 8) return mo_load8(p);
    mo_v8 v = (mo_v8)(0.0f);
    for (ptrdiff_t l = 0; l < lanes; l++) v[l] = p[l];
    return v;
}
MO_INLINE void mo_store8_partial(mo_v8 v, float *p, ptrdiff_t lanes) {
    if (lanes >= 8) {
        mo_store8(v, p);
        return;
    }
    for (ptrdiff_t l = 0; l < lanes; l++) p[l] = v[l];
}

MO_INLINE mo_v8 mo_fma8(mo_v8 a, mo_v8 b, mo_v8 c) {
#if MO_FUSED
    return __builtin_elementwise_fma(a, b, c);
#else
    return a * b + c;
#endif
}

/// One H×W×C image into the middle of the (H+2)×(W+2)×C buffer `padded`, border zero.
MO_INLINE void mo_pad_image(const float *x, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c, float *padded) {
    ptrdiff_t row = (w + 2) * c;
    __builtin_memset(padded, 0, (size_t)row * sizeof(float));
    for (ptrdiff_t y = 0; y < h; y++) {
        float *dst = padded + (y + 1) * row;
        for (ptrdiff_t j = 0; j < c; j++) dst[j] = 0;
        __builtin_memcpy(dst + c, x + y * w * c, (size_t)(w * c) * sizeof(float));
        for (ptrdiff_t j = 0; j < c; j++) dst[(w + 1) * c + j] = 0;
    }
    __builtin_memset(padded + (h + 1) * row, 0, (size_t)row * sizeof(float));
}

/// offsets[r] for the patch rows r = (ky·3 + kx)·C + c of a padded image of width w + 2.
MO_INLINE void mo_patch_offsets(ptrdiff_t w, ptrdiff_t c, int32_t *offsets) {
    for (ptrdiff_t ky = 0; ky < 3; ky++)
        for (ptrdiff_t kx = 0; kx < 3; kx++)
            for (ptrdiff_t j = 0; j < c; j++) offsets[(ky * 3 + kx) * c + j] = (int32_t)((ky * (w + 2) + kx) * c + j);
}

/// acc[p] += Σ_r tap_r(pixel p) · kernel row r over the patch, for `pixels` output pixels whose
/// top-left neighbours in the padded image are at bases[p].
MO_INLINE void mo_conv_pixels(const float *const *bases, const float *packed, const int32_t *offsets, ptrdiff_t patch,
                              mo_v8 *acc, const int pixels) {
    for (ptrdiff_t r = 0; r < patch; r++) {
        const mo_v8 weight = mo_load8(packed + r * 8);
        const ptrdiff_t offset = offsets[r];
#pragma clang loop unroll(full)
        for (int p = 0; p < pixels; p++) acc[p] = mo_fma8((mo_v8)(bases[p][offset]), weight, acc[p]);
    }
}

/// Stores `pixels` accumulators (bias added before, ReLU here if asked) to consecutive pixels.
MO_INLINE void mo_conv_store(mo_v8 *acc, const int pixels, int rectify, float *out, ptrdiff_t stride,
                             ptrdiff_t lanes) {
#pragma clang loop unroll(full)
    for (int p = 0; p < pixels; p++) {
        mo_v8 v = acc[p];
        if (rectify) v = (v < 0.0f) ? (mo_v8)(0.0f) : v;  // NaN passes through
        mo_store8_partial(v, out + p * stride, lanes);
    }
}


/// packed[(g·patch + r)·8 + l] = kernel[r][g·8 + l] (zero past C_out), patch = 9·C_in. With
/// `flip`, the kernel of the input gradient instead: a convolution of the output gradient
/// (C_out channels in) with row r' = (a·3 + b)·C_out + o, lane (input channel) c equal to
/// kernel[((2 − a)·3 + (2 − b))·C_in + c][o].
MO_INLINE void mo_pack_kernel(const float *kernel, ptrdiff_t cin, ptrdiff_t cout, int flip, float *packed) {
    const ptrdiff_t inner = flip ? cout : cin, outer = flip ? cin : cout;
    const ptrdiff_t patch = 9 * inner, groups = (outer + 7) / 8;
    for (ptrdiff_t g = 0; g < groups; g++)
        for (ptrdiff_t r = 0; r < patch; r++)
            for (ptrdiff_t l = 0; l < 8; l++) {
                const ptrdiff_t lane = g * 8 + l;
                float v = 0;
                if (lane < outer) {
                    if (flip) {
                        const ptrdiff_t tap = r / cout, o = r % cout;
                        v = kernel[((8 - tap) * cin + lane) * cout + o];
                    } else {
                        v = kernel[r * cout + lane];
                    }
                }
                packed[(g * patch + r) * 8 + l] = v;
            }
}

/// out (H×W×C_out) = the convolution of one padded image with a packed kernel, + bias (NULL:
/// none), then max(·, 0) if `rectify`.
MO_INLINE void mo_conv_image(const float *padded, ptrdiff_t h, ptrdiff_t w, ptrdiff_t cin, ptrdiff_t cout,
                             const float *packed, const int32_t *offsets, const float *biasVector, int rectify,
                             float *out) {
    const ptrdiff_t patch = 9 * cin, groups = (cout + 7) / 8;
    for (ptrdiff_t g = 0; g < groups; g++) {
        const float *kg = packed + g * patch * 8;
        const ptrdiff_t lanes = cout - g * 8;
        const mo_v8 bias = biasVector ? mo_load8_partial(biasVector + g * 8, lanes) : (mo_v8)(0.0f);
        // Blocks of MO_CONV_PIXELS consecutive pixels in row-major order, across row ends (rows
        // of 7 or 14 pixels would otherwise leave short, latency-bound tails), then single pixels.
        const ptrdiff_t pixels = h * w;
        ptrdiff_t q = 0;
        for (; q + MO_CONV_PIXELS <= pixels; q += MO_CONV_PIXELS) {
            const float *bases[MO_CONV_PIXELS];
            mo_v8 acc[MO_CONV_PIXELS];
#pragma clang loop unroll(full)
            for (int p = 0; p < MO_CONV_PIXELS; p++) {
                const ptrdiff_t y = (q + p) / w, x = (q + p) % w;
                bases[p] = padded + (y * (w + 2) + x) * cin;
                acc[p] = bias;
            }
            mo_conv_pixels(bases, kg, offsets, patch, acc, MO_CONV_PIXELS);
            mo_conv_store(acc, MO_CONV_PIXELS, rectify, out + q * cout + g * 8, cout, lanes);
        }
        for (; q < pixels; q++) {
            const float *bases[1] = {padded + ((q / w) * (w + 2) + q % w) * cin};
            mo_v8 acc[1] = {bias};
            mo_conv_pixels(bases, kg, offsets, patch, acc, 1);
            mo_conv_store(acc, 1, rectify, out + q * cout + g * 8, cout, lanes);
        }
    }
}

/// acc[j] += tap_{r0+j}(pixel) · d(pixel) over every pixel of one image, for `rows` patch rows.
MO_INLINE void mo_conv_weight_rows(const float *padded, const float *d, ptrdiff_t h, ptrdiff_t w, ptrdiff_t cin,
                                   ptrdiff_t cout, ptrdiff_t lanes, const int32_t *offsets, float *acc_memory,
                                   const int rows) {
    mo_v8 acc[8];
#pragma clang loop unroll(full)
    for (int j = 0; j < rows; j++) acc[j] = mo_load8(acc_memory + j * 8);
    int32_t off[8];
#pragma clang loop unroll(full)
    for (int j = 0; j < rows; j++) off[j] = offsets[j];
    for (ptrdiff_t y = 0; y < h; y++) {
        const float *rowBase = padded + y * (w + 2) * cin;
        const float *dRow = d + y * w * cout;
        for (ptrdiff_t x = 0; x < w; x++) {
            mo_v8 dv = mo_load8_partial(dRow + x * cout, lanes);
            const float *base = rowBase + x * cin;
#pragma clang loop unroll(full)
            for (int j = 0; j < rows; j++) acc[j] = mo_fma8((mo_v8)(base[off[j]]), dv, acc[j]);
        }
    }
#pragma clang loop unroll(full)
    for (int j = 0; j < rows; j++) mo_store8(acc[j], acc_memory + j * 8);
}

/// acc (packed layout) += the kernel gradient of one image; biasAcc[g] += its output-gradient sums.
MO_INLINE void mo_conv_weight_image(const float *padded, const float *d, ptrdiff_t h, ptrdiff_t w, ptrdiff_t cin,
                                    ptrdiff_t cout, const int32_t *offsets, float *acc, mo_v8 *biasAcc) {
    const ptrdiff_t patch = 9 * cin, groups = (cout + 7) / 8;
    // Patch rows in blocks of at most 8 accumulators, of balanced sizes (9 rows: 5 + 4), so that
    // every block has several independent multiply-add chains.
    const ptrdiff_t blocks = (patch + 7) / 8, perBlock = (patch + blocks - 1) / blocks;
    for (ptrdiff_t g = 0; g < groups; g++) {
        const ptrdiff_t lanes = cout - g * 8;
        for (ptrdiff_t r0 = 0; r0 < patch; r0 += perBlock) {
            const ptrdiff_t rows = patch - r0 < perBlock ? patch - r0 : perBlock;
            float *block = acc + (g * patch + r0) * 8;
            const int32_t *off = offsets + r0;
            switch (rows) {
#define MO_ROWS_CASE(n) \
    case n: mo_conv_weight_rows(padded, d + g * 8, h, w, cin, cout, lanes, off, block, n); break;
                MO_ROWS_CASE(1) MO_ROWS_CASE(2) MO_ROWS_CASE(3) MO_ROWS_CASE(4)
                MO_ROWS_CASE(5) MO_ROWS_CASE(6) MO_ROWS_CASE(7) default: MO_ROWS_CASE(8)
#undef MO_ROWS_CASE
            }
        }
        mo_v8 sum = biasAcc[g];
        for (ptrdiff_t p = 0; p < h * w; p++) sum += mo_load8_partial(d + p * cout + g * 8, lanes);
        biasAcc[g] = sum;
    }
}

/// The four inputs of pooled pixel (py, px) start at these offsets from the image (NHWC).
#define MO_POOL_SOURCES(w, c, py, px)                                                                 \
    const ptrdiff_t s0 = ((2 * (py)) * (w) + 2 * (px)) * (c), s1 = s0 + (c), s2 = s0 + (w) * (c), \
                    s3 = s2 + (c)

/// 2×2 max-pool of one H×W×C map: out = each window's maximum, which = its position (0 top-left,
/// 1 top-right, 2 bottom-left, 3 bottom-right; strictly greater wins, so the first on ties).
MO_INLINE void mo_pool_image(const float *x, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c, float *out, uint8_t *which) {
    const ptrdiff_t ph = h / 2, pw = w / 2;
    for (ptrdiff_t py = 0; py < ph; py++)
        for (ptrdiff_t px = 0; px < pw; px++) {
            MO_POOL_SOURCES(w, c, py, px);
            const ptrdiff_t o = (py * pw + px) * c;
            ptrdiff_t ch = 0;
            for (; ch + 8 <= c; ch += 8) {
                mo_v8 best = mo_load8(x + s0 + ch), v;
                mo_vi8 code = (mo_vi8)(0), more;
                v = mo_load8(x + s1 + ch); more = v > best; best = more ? v : best; code = more ? (mo_vi8)(1) : code;
                v = mo_load8(x + s2 + ch); more = v > best; best = more ? v : best; code = more ? (mo_vi8)(2) : code;
                v = mo_load8(x + s3 + ch); more = v > best; best = more ? v : best; code = more ? (mo_vi8)(3) : code;
                mo_store8(best, out + o + ch);
                for (int l = 0; l < 8; l++) which[o + ch + l] = (uint8_t)code[l];
            }
            for (; ch < c; ch++) {
                float best = x[s0 + ch];
                uint8_t code = 0;
                if (x[s1 + ch] > best) { best = x[s1 + ch]; code = 1; }
                if (x[s2 + ch] > best) { best = x[s2 + ch]; code = 2; }
                if (x[s3 + ch] > best) { best = x[s3 + ch]; code = 3; }
                out[o + ch] = best;
                which[o + ch] = code;
            }
        }
}

/// The adjoint of the pool and of the ReLU before it, for one image: d (H×W×C) is d_pooled at
/// each window's maximum where the pooled value is > 0 (so not for 0 or NaN), 0 elsewhere,
/// dropped rows and columns included.
MO_INLINE void mo_unpool_image(const float *pooled, const uint8_t *which, const float *dPooled, ptrdiff_t h,
                               ptrdiff_t w, ptrdiff_t c, float *d) {
    const ptrdiff_t ph = h / 2, pw = w / 2;
    for (ptrdiff_t py = 0; py < ph; py++)
        for (ptrdiff_t px = 0; px < pw; px++) {
            MO_POOL_SOURCES(w, c, py, px);
            const ptrdiff_t o = (py * pw + px) * c;
            ptrdiff_t ch = 0;
            for (; ch + 8 <= c; ch += 8) {
                mo_vi8 code;
                for (int l = 0; l < 8; l++) code[l] = which[o + ch + l];
                mo_v8 g = mo_load8(pooled + o + ch) > 0.0f ? mo_load8(dPooled + o + ch) : (mo_v8)(0.0f);
                mo_store8(code == 0 ? g : (mo_v8)(0.0f), d + s0 + ch);
                mo_store8(code == 1 ? g : (mo_v8)(0.0f), d + s1 + ch);
                mo_store8(code == 2 ? g : (mo_v8)(0.0f), d + s2 + ch);
                mo_store8(code == 3 ? g : (mo_v8)(0.0f), d + s3 + ch);
            }
            for (; ch < c; ch++) {
                const float g = pooled[o + ch] > 0.0f ? dPooled[o + ch] : 0.0f;
                const uint8_t code = which[o + ch];
                d[s0 + ch] = code == 0 ? g : 0.0f;
                d[s1 + ch] = code == 1 ? g : 0.0f;
                d[s2 + ch] = code == 2 ? g : 0.0f;
                d[s3 + ch] = code == 3 ? g : 0.0f;
            }
        }
    if (h % 2) __builtin_memset(d + (h - 1) * w * c, 0, (size_t)(w * c) * sizeof(float));
    if (w % 2)
        for (ptrdiff_t y = 0; y < 2 * ph; y++) __builtin_memset(d + (y * w + w - 1) * c, 0, (size_t)c * sizeof(float));
}
#undef MO_POOL_SOURCES

static void MO_FN(conv_block_forward)(const metaopt_conv_block_forward_args *a) {
    const ptrdiff_t h = a->height, w = a->width, cin = a->in_channels, cout = a->out_channels;
    const ptrdiff_t pooledSize = (h / 2) * (w / 2) * cout;
    float *padded = a->scratch;
    float *rectified = padded + (h + 2) * (w + 2) * cin;
    float *packed = rectified + h * w * cout;
    mo_patch_offsets(w, cin, a->offsets);
    mo_pack_kernel(a->kernel, cin, cout, 0, packed);
    for (ptrdiff_t img = 0; img < a->images; img++) {
        mo_pad_image(a->input + img * h * w * cin, h, w, cin, padded);
        mo_conv_image(padded, h, w, cin, cout, packed, a->offsets, a->bias, 1, rectified);
        mo_pool_image(rectified, h, w, cout, a->pooled + img * pooledSize, a->which + img * pooledSize);
    }
}

static void MO_FN(conv_block_backward)(const metaopt_conv_block_backward_args *a) {
    const ptrdiff_t h = a->height, w = a->width, cin = a->in_channels, cout = a->out_channels;
    const ptrdiff_t pooledSize = (h / 2) * (w / 2) * cout;
    const ptrdiff_t patch = 9 * cin, groups = (cout + 7) / 8;
    float *padded = a->scratch;                              // the input image, then the output gradient
    float *d = padded + (h + 2) * (w + 2) * (cin > cout ? cin : cout);  // H×W×C_out
    float *acc = d + h * w * cout;                           // packed as conv_block_forward's kernel
    float *flipped = acc + patch * 8 * groups;               // the input gradient's packed kernel
    int32_t *inputOffsets = a->offsets, *gradientOffsets = a->offsets + 9 * cin;
    mo_patch_offsets(w, cin, inputOffsets);
    mo_patch_offsets(w, cout, gradientOffsets);
    if (a->d_input) mo_pack_kernel(a->kernel, cin, cout, 1, flipped);
    __builtin_memset(acc, 0, (size_t)(patch * 8 * groups) * sizeof(float));
    mo_v8 biasAcc[groups];
    for (ptrdiff_t g = 0; g < groups; g++) biasAcc[g] = (mo_v8)(0.0f);
    for (ptrdiff_t img = 0; img < a->images; img++) {
        mo_unpool_image(a->pooled + img * pooledSize, a->which + img * pooledSize, a->d_pooled + img * pooledSize,
                        h, w, cout, d);
        mo_pad_image(a->input + img * h * w * cin, h, w, cin, padded);
        mo_conv_weight_image(padded, d, h, w, cin, cout, inputOffsets, acc, biasAcc);
        if (a->d_input) {
            mo_pad_image(d, h, w, cout, padded);
            mo_conv_image(padded, h, w, cout, cin, flipped, gradientOffsets, NULL, 0, a->d_input + img * h * w * cin);
        }
    }
    for (ptrdiff_t g = 0; g < groups; g++) {
        const ptrdiff_t lanes = cout - g * 8 < 8 ? cout - g * 8 : 8;
        for (ptrdiff_t r = 0; r < patch; r++)
            for (ptrdiff_t l = 0; l < lanes; l++) a->d_kernel[r * cout + g * 8 + l] = acc[(g * patch + r) * 8 + l];
        for (ptrdiff_t l = 0; l < lanes; l++) a->d_bias[g * 8 + l] = biasAcc[g][l];
    }
}
