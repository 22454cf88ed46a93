// e^x and the row maximum at every width, with the floats of the Swift e^x NMTTensor used
// before it moved here (VectorKernelTests keeps it as the reference) and of the scalar
// maximum scan: the same operations in the same order, no fused multiply-add, so softmax,
// log-softmax and beam candidates do not change a digit with the CPU. The bodies live in
// dispatch.h, shared with cross entropy.
#include "dispatch.h"

#if NMT_X86
NMT_AVX512 static void exp512(const float *x, float *y, size_t count) {
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 valid = nmt_tail16(count - i);
        _mm512_mask_storeu_ps(y + i, valid, nmt_exp16(_mm512_maskz_loadu_ps(valid, x + i)));
    }
}

NMT_AVX2 static void exp256(const float *x, float *y, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(y + i, nmt_exp8(_mm256_loadu_ps(x + i)));
    for (; i < count; i++) y[i] = nmt_exp1(x[i]);
}
#endif

void nmt_exp(const float *x, float *y, size_t count) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) { exp512(x, y, count); return; }
    if (bits >= 256) { exp256(x, y, count); return; }
#endif
    for (size_t i = 0; i < count; i++) y[i] = nmt_exp1(x[i]);
}

float nmt_row_max(const float *x, size_t count) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) return nmt_max16(x, count);
    if (bits >= 256) return nmt_max8(x, count);
#endif
    return nmt_max_scan(x, count, -INFINITY);
}
