// The AVX-512 kernel path: 16 lanes (one zmm register), vscalefps, non-temporal history stores.
#if defined(__x86_64__)
#include <immintrin.h>

#define MO_BC 8
#define MO_BR 2
#define MO_FV 4
// matrix_product: 5 rows × 2 vectors; not the default: no faster than OpenBLAS's small-matrix
// kernels on AVX-512 (docs/performance.md, "Own matrix products on AVX2").
#define MO_PR 5
#define MO_PV 2
#define MO_OWN_PRODUCTS 0
// Two vectors per step of the elementwise loops: the forward-only run's kernels 4–16 % faster than
// with one (docs/performance.md, "Interleaved elementwise loops").
#define MO_IL 2
#define MO_W 16
#define MO_FN(name) metaopt_avx512_##name
#define MO_PATH METAOPT_PATH_AVX512
#define MO_SPLIT_GATES 0
#define MO_FUSED 1
#define MO_AVX512 1
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512cd,avx2,fma,bmi2,f16c"))), \
                             apply_to = function)
#include "kernels_template.h"
#pragma clang attribute pop
#endif
