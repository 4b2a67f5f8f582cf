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

static int metaopt_has_avx2_fma(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int fma = (ecx >> 12) & 1, avx = (ecx >> 28) & 1, f16c = (ecx >> 29) & 1;
    if (!fma || !avx || !f16c || (metaopt_xcr0() & 0x6) != 0x6) return 0;  // XMM and YMM state
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int avx2 = (ebx >> 5) & 1, bmi2 = (ebx >> 8) & 1;
    return avx2 && bmi2;
}

static int metaopt_has_avx512(void) {
    unsigned eax, ebx, ecx, edx;
    if (!metaopt_has_avx2_fma() || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    unsigned need = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);  // F, DQ, CD, BW, VL
    return (ebx & need) == need && (metaopt_xcr0() & 0xE6) == 0xE6;  // and opmask, ZMM state
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
    case METAOPT_PATH_AVX2: return metaopt_has_avx2_fma();
    case METAOPT_PATH_AVX512: return metaopt_has_avx512();
#endif
    default: return 0;
    }
}

int metaopt_cpu_adds_beside_multiply_adds(void) {
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return 0;
    char vendor[13];
    memcpy(vendor, &ebx, 4);
    memcpy(vendor + 4, &edx, 4);
    memcpy(vendor + 8, &ecx, 4);
    vendor[12] = 0;
    if (strcmp(vendor, "AuthenticAMD") != 0 || !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    unsigned family = (eax >> 8) & 0xF;
    if (family == 0xF) family += (eax >> 20) & 0xFF;
    return family >= 0x19;  // Zen 3 is 19h too, but has no AVX-512, the only path that asks
#else
    return 0;
#endif
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
