// Kernel path selection: which paths this build has and which this CPU can run.
#include <string.h>
#include "metaopt_kernels.h"

extern const metaopt_kernel_table metaopt_portable_table;
#if defined(__x86_64__)
extern const metaopt_kernel_table metaopt_avx2_table;
extern const metaopt_kernel_table metaopt_avx512_table;
#include <cpuid.h>

/// The state components the operating system saves (XCR0); 0 without OSXSAVE.
static unsigned long long metaopt_xcr0(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/// The features of the AVX2 path this CPU lacks (METAOPT_FEATURE_* bits).
static unsigned metaopt_missing_avx2(void) {
    unsigned eax, ebx, ecx, edx, missing = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) ecx = 0;
    if (!((ecx >> 12) & 1)) missing |= METAOPT_FEATURE_FMA;
    if (!((ecx >> 28) & 1)) missing |= METAOPT_FEATURE_AVX;
    if (!((ecx >> 29) & 1)) missing |= METAOPT_FEATURE_F16C;
    if ((metaopt_xcr0() & 0x6) != 0x6) missing |= METAOPT_FEATURE_OS_YMM;  // XMM and YMM state
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) ebx = 0;
    if (!((ebx >> 5) & 1)) missing |= METAOPT_FEATURE_AVX2;
    if (!((ebx >> 8) & 1)) missing |= METAOPT_FEATURE_BMI2;
    return missing;
}

/// The features of the AVX-512 path this CPU lacks, the AVX2 path's included.
static unsigned metaopt_missing_avx512(void) {
    unsigned eax, ebx, ecx, edx, missing = metaopt_missing_avx2();
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) ebx = 0;
    if (!((ebx >> 16) & 1)) missing |= METAOPT_FEATURE_AVX512F;
    if (!((ebx >> 17) & 1)) missing |= METAOPT_FEATURE_AVX512DQ;
    if (!((ebx >> 28) & 1)) missing |= METAOPT_FEATURE_AVX512CD;
    if (!((ebx >> 30) & 1)) missing |= METAOPT_FEATURE_AVX512BW;
    if (!((ebx >> 31) & 1)) missing |= METAOPT_FEATURE_AVX512VL;
    if ((metaopt_xcr0() & 0xE6) != 0xE6) missing |= METAOPT_FEATURE_OS_ZMM;  // and opmask, ZMM state
    return missing;
}

#endif

const metaopt_kernel_table *metaopt_kernel_table_for(metaopt_path path) {
    switch (path) {
    case METAOPT_PATH_PORTABLE: return &metaopt_portable_table;
#if defined(__x86_64__)
    case METAOPT_PATH_AVX2: return &metaopt_avx2_table;
    case METAOPT_PATH_AVX512: return &metaopt_avx512_table;
#endif
    default: return NULL;
    }
}

int metaopt_cpu_supports(metaopt_path path) {
    switch (path) {
    case METAOPT_PATH_PORTABLE: return 1;
#if defined(__x86_64__)
    case METAOPT_PATH_AVX2: return metaopt_missing_avx2() == 0;
    case METAOPT_PATH_AVX512: return metaopt_missing_avx512() == 0;
#endif
    default: return 0;
    }
}

unsigned metaopt_cpu_missing_features(metaopt_path path) {
    switch (path) {
#if defined(__x86_64__)
    case METAOPT_PATH_AVX2: return metaopt_missing_avx2();
    case METAOPT_PATH_AVX512: return metaopt_missing_avx512();
#endif
    default: return 0;
    }
}

int metaopt_cpu_has_cmpxchg16b(void) {
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && ((ecx >> 13) & 1);
#else
    return 1;
#endif
}

int metaopt_cpu_has_fma4(void) {
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx) && ((ecx >> 16) & 1);
#else
    return 0;
#endif
}

#if defined(__x86_64__)
/// Whether cpuid's vendor is AMD's.
static int metaopt_cpu_is_amd(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return 0;
    char vendor[13];
    memcpy(vendor, &ebx, 4);
    memcpy(vendor + 4, &edx, 4);
    memcpy(vendor + 8, &ecx, 4);
    vendor[12] = 0;
    return strcmp(vendor, "AuthenticAMD") == 0;
}
#endif

int metaopt_cpu_adds_beside_multiply_adds(void) {
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (!metaopt_cpu_is_amd() || !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    unsigned family = (eax >> 8) & 0xF;
    if (family == 0xF) family += (eax >> 20) & 0xFF;
    return family >= 0x19;  // Zen 3 is 19h too, but has no AVX-512, the only path that asks
#else
    return 0;
#endif
}

const char *metaopt_cpu_openblas_core(void) {
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (metaopt_missing_avx512() == 0 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && ((eax >> 5) & 1)) {
        return "Cooperlake";  // AVX-512 with BF16
    }
    if (metaopt_missing_avx2() == 0) return metaopt_cpu_is_amd() ? "Zen" : "Haswell";
#endif
    return NULL;
}

void metaopt_cpu_brand(char *buffer, size_t size) {
    if (size == 0) return;
    buffer[0] = 0;
#if defined(__x86_64__)
    unsigned regs[12];
    if (size < 49 || __get_cpuid_max(0x80000000, 0) < 0x80000004) return;
    for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    memcpy(buffer, regs, 48);
    buffer[48] = 0;
#endif
}
