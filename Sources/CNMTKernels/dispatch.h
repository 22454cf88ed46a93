// Private helpers shared by the kernel files.
#ifndef NMT_DISPATCH_H
#define NMT_DISPATCH_H

#include "CNMTKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define NMT_X86 1
#include <immintrin.h>
#define NMT_AVX512 __attribute__((target("avx512f")))
#define NMT_AVX2 __attribute__((target("avx2,fma")))
#else
#define NMT_X86 0
#endif

#endif
