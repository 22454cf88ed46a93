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

// nmt_shifted_exp_sum: e^(x - maximum) summed as NMTTensor's row sum adds the values it is
// given (ReductionKernels.reduceRow(.sum)): eight lanes, lane l taking elements l, l + 8,
// ... of the whole blocks of 8 in order, the lanes then added in order to 0, then the tail
// one by one. Each e^x is nmt_exp's, so the sum is the one of writing the shifted
// exponentials out and summing them, without the two passes.

/// Adds the lanes as SIMD8<Float>.sum() does, in order from 0.
static inline float sum_lanes8(const float lane[8]) {
    float total = 0.0f;
    for (int l = 0; l < 8; l++) total += lane[l];
    return total;
}

#if NMT_X86
NMT_AVX512 static float shifted_exp_sum512(const float *x, size_t count, float maximum) {
    const __m512 shift = _mm512_set1_ps(maximum);
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        const __m512 e = nmt_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), shift));
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(e));
        acc = _mm256_add_ps(acc, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
    }
    if (i + 8 <= count) {
        const __m512 e = nmt_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(0xFF, x + i), shift));
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(e));
        i += 8;
    }
    float lane[8];
    _mm256_storeu_ps(lane, acc);
    float total = sum_lanes8(lane);
    for (; i < count; i++) total += nmt_exp1(x[i] - maximum);
    return total;
}

NMT_AVX2 static float shifted_exp_sum256(const float *x, size_t count, float maximum) {
    const __m256 shift = _mm256_set1_ps(maximum);
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) acc = _mm256_add_ps(acc, nmt_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), shift)));
    float lane[8];
    _mm256_storeu_ps(lane, acc);
    float total = sum_lanes8(lane);
    for (; i < count; i++) total += nmt_exp1(x[i] - maximum);
    return total;
}
#endif

float nmt_shifted_exp_sum(const float *x, size_t count, float maximum) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) return shifted_exp_sum512(x, count, maximum);
    if (bits >= 256) return shifted_exp_sum256(x, count, maximum);
#endif
    float lane[8] = {0};
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        for (int l = 0; l < 8; l++) lane[l] += nmt_exp1(x[i + l] - maximum);
    }
    float total = sum_lanes8(lane);
    for (; i < count; i++) total += nmt_exp1(x[i] - maximum);
    return total;
}
