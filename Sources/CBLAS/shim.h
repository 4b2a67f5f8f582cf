// Thin shim over OpenBLAS's CBLAS interface. Not API: only the MetaOpt target imports it,
// and no C type leaves that target's public interface.
#ifndef METAOPT_CBLAS_SHIM_H
#define METAOPT_CBLAS_SHIM_H
#include <cblas.h>

/// Number of threads OpenBLAS uses (0 means it was not reported by this build).
static inline int metaopt_blas_get_num_threads(void) { return openblas_get_num_threads(); }
static inline void metaopt_blas_set_num_threads(int n) { openblas_set_num_threads(n); }
/// The CPU core type whose kernels OpenBLAS selected (DYNAMIC_ARCH; OPENBLAS_CORETYPE overrides).
static inline const char *metaopt_blas_core_name(void) { return openblas_get_corename(); }
#endif
