// The AVX-512 kernel path: 16 lanes (one zmm register), vscalefps, non-temporal history stores.
#if defined(__x86_64__)
#include <immintrin.h>

#define MO_BC 8
#define MO_BR 2
#define MO_FV 4
// matrix_product: 5 rows × 4 vectors (20 of the 32 registers accumulate; with 5 × 2 the product
// phases took 13 % longer on Zen 5). The default: as fast as OpenBLAS's AVX-512 small-matrix
// kernels, about twice as fast as the AVX2 kernels OpenBLAS runs on an AVX-512 CPU when told to
// (OPENBLAS_CORETYPE=Haswell), and the path's bits no longer depend on OpenBLAS
// (docs/performance-log.md, "Zen 5").
#define MO_PR 5
#define MO_PV 4
#define MO_OWN_PRODUCTS 1
// Two vectors per step of the elementwise loops: the forward-only run's kernels 4–16 % faster than
// with one (docs/performance-log.md, "Interleaved elementwise loops").
#define MO_IL 2
#define MO_W 16
#define MO_FN(name) metaopt_avx512_##name
#define MO_PATH METAOPT_PATH_AVX512
#define MO_SPLIT_GATES 0
#define MO_FUSED 1
#define MO_AVX2 0
#define MO_AVX512 1
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512cd,avx2,fma,bmi2,f16c"))), \
                             apply_to = function)
#include "kernels_template.h"
#pragma clang attribute pop
#endif
