// The portable kernel path: compiler vectors of 8 floats for the architecture's baseline
// instruction set (SSE2 on x86-64, NEON on aarch64), so it runs on every CPU of the architecture.
// Fused multiply-adds where the baseline has them (aarch64), a product and a sum elsewhere.
#define MO_BR 2
#define MO_FV 1
// matrix_product: 5 rows × 1 vector. The default on x86-64, where the MLP meta-iteration measured
// 0.74–0.95 of its time with OpenBLAS's products for the CPUs this path is for (OpenBLAS's
// Sandybridge and Nehalem kernels; docs/performance-log.md, "Own matrix products on AVX2"); not on
// aarch64, where it has not been measured.
#define MO_PR 5
#define MO_PV 1
#if defined(__aarch64__)
#define MO_OWN_PRODUCTS 0
#else
#define MO_OWN_PRODUCTS 1
#endif
// Vectors per step of the elementwise loops: with SSE2 four (the MLP meta-iteration's forward
// kernels 20 % faster than with one: docs/performance-log.md, "Interleaved elementwise loops"); NEON has not been measured, so it keeps one.
#if defined(__aarch64__)
#define MO_IL 1
#else
#define MO_IL 4
#endif
#define MO_W 8
// An 8-float vector is two registers here: 2 × 2 blocks fit SSE2's 16 xmm registers, 2 × 4 NEON's 32.
#if defined(__aarch64__)
#define MO_BC 4
#else
#define MO_BC 2
#endif
#define MO_FN(name) metaopt_portable_##name
#define MO_PATH METAOPT_PATH_PORTABLE
#if defined(__aarch64__) || defined(__FMA__)
#define MO_SPLIT_GATES 1
#define MO_FUSED 1
#else
#define MO_FUSED 0
#endif
#define MO_AVX2 0
#define MO_AVX512 0
// The peak loop's chains: with SSE2's 16 xmm registers 12 chains of two (and x, y) spilled to the
// stack, which the loop then timed too; 6 fill 14 registers.
#if !defined(__aarch64__)
#define MO_PEAK_CHAINS 6
#endif
// An 8-float vector is two registers here: 4 pixels' accumulators of the convolution fit SSE2's 16.
#define MO_CONV_PIXELS 4
// The helpers pass 8-float vectors by value; they are always inlined, so no call ever uses that ABI.
#pragma clang diagnostic ignored "-Wpsabi"
#include "kernels_template.h"
