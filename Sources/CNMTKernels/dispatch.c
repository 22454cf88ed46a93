// Chooses the widest instruction set the CPU has (once per call, which costs a load and a
// test) below the limit a test may set and the ceiling NMT_VECTOR_BITS sets.
#include "dispatch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// -1 until the first call reads NMT_VECTOR_BITS; then 512, 256 or 0.
static atomic_int environment_ceiling = -1;
static atomic_int vector_bits_limit = 512;

// NMT_VECTOR_BITS as a ceiling: "512", "256" or "0"; unset or empty means 512. Anything else
// is reported once on standard error and ignored, so that a typo cannot silently test the
// widest path while the caller believes it tests a narrower one (the suite's
// VectorWidthTests also fail then).
static int read_environment_ceiling(void) {
    const char *value = getenv("NMT_VECTOR_BITS");
    if (value == NULL || value[0] == '\0') return 512;
    if (strcmp(value, "512") == 0) return 512;
    if (strcmp(value, "256") == 0) return 256;
    if (strcmp(value, "0") == 0) return 0;
    fprintf(stderr, "swift-nmt: NMT_VECTOR_BITS=%s is not 512, 256 or 0; using the widest width the CPU has\n", value);
    return 512;
}

int nmt_kernels_vector_bits_ceiling(void) {
    int ceiling = atomic_load_explicit(&environment_ceiling, memory_order_relaxed);
    if (ceiling < 0) {
        // Two threads may both read the environment here; they store the same value.
        ceiling = read_environment_ceiling();
        atomic_store_explicit(&environment_ceiling, ceiling, memory_order_relaxed);
    }
    return ceiling;
}

int nmt_kernels_vector_bits(void) {
    int limit = atomic_load_explicit(&vector_bits_limit, memory_order_relaxed);
    int ceiling = nmt_kernels_vector_bits_ceiling();
    if (ceiling < limit) limit = ceiling;
#if NMT_X86
    if (limit >= 512 && __builtin_cpu_supports("avx512f")) return 512;
    if (limit >= 256 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 256;
#else
    (void)limit;
#endif
    return 0;
}

int nmt_kernels_limit_vector_bits(int bits) {
    atomic_store_explicit(&vector_bits_limit, bits, memory_order_relaxed);
    return nmt_kernels_vector_bits();
}
