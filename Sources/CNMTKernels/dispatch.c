// Chooses the widest instruction set the CPU has (once per call, which costs a load and a
// test) below the limit a test may set.
#include "dispatch.h"

#include <stdatomic.h>

static atomic_int vector_bits_limit = 512;

int nmt_kernels_vector_bits(void) {
    int limit = atomic_load_explicit(&vector_bits_limit, memory_order_relaxed);
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
