// The AVX2 + FMA kernel path (x86-64-v3): 8 lanes (one ymm register), fused multiply-adds.
#if defined(__x86_64__)
#include <immintrin.h>

#define MO_BC 4
#define MO_BR 3
// Each dW output's lanes summed at the end of every call instead of kept as a vector across the
// backward pass: the sums take 13 kB instead of 102 kB of L2 (layer 2; 7 instead of 56 for layer 1)
// beside the history the dW phases prefetch, and no partial sums are read and written per call; the
// dW phases 6–10 % faster on Zen 3, with its 512 kB L2, by the fastest runs (docs/performance-log.md,
// "The dW outputs' lanes summed per call on AVX2").
#define MO_DW_SUMS_PER_CALL 1
#define MO_FV 2
// matrix_product: 5 rows × 2 vectors (10 accumulators, 2 loads and 5 broadcasts per 10 fused
// multiply-adds) and the engine's default: faster than OpenBLAS's Haswell sgemm on these shapes
// (docs/performance-log.md, "Own matrix products on AVX2").
#define MO_PR 5
#define MO_PV 2
#define MO_OWN_PRODUCTS 1
// Four vectors per step of the elementwise loops: the forward-only run's kernels 16–33 % faster than
// with one (docs/performance-log.md, "Interleaved elementwise loops"), although 16 ymm registers spill.
#define MO_IL 4
#define MO_W 8
#define MO_FN(name) metaopt_avx2_##name
#define MO_PATH METAOPT_PATH_AVX2
#define MO_SPLIT_GATES 1
// The first gates loop's sigmoids in two stages: the forward kernels 5–10 % faster (docs/performance-log.md,
// "Staged sigmoids on AVX2").
#define MO_STAGED_SIGMOIDS 1
#define MO_FUSED 1
#define MO_AVX2 1
#define MO_AVX512 0
// MO_IL vectors as one (mo_vx) are passed by value between helpers that are always inlined, so no
// call ever uses that ABI.
#pragma clang diagnostic ignored "-Wpsabi"
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi2,f16c"))), apply_to = function)
#include "kernels_template.h"
#pragma clang attribute pop
#endif
