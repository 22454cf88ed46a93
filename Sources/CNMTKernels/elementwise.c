// The four arithmetic operations element by element, with one operand possibly a
// broadcast scalar: one IEEE operation per element, so every width gives the same bits.
#include "dispatch.h"

#define NMT_OPERATE(op, x, y) ((op) == 0 ? (x) + (y) : (op) == 1 ? (x) - (y) : (op) == 2 ? (x) * (y) : (x) / (y))

#if NMT_X86
NMT_AVX512 static inline __m512 operate16(int op, __m512 x, __m512 y) {
    switch (op) {
    case 0: return _mm512_add_ps(x, y);
    case 1: return _mm512_sub_ps(x, y);
    case 2: return _mm512_mul_ps(x, y);
    default: return _mm512_div_ps(x, y);
    }
}

NMT_AVX512 static void arithmetic512(int op, const float *a, size_t sa, const float *b, size_t sb, float *out, size_t n) {
    const __m512 a0 = _mm512_set1_ps(a[0]), b0 = _mm512_set1_ps(b[0]);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 valid = nmt_tail16(n - i);
        // Lanes past the end compute on zeros (masked off on store); no trap is enabled.
        __m512 x = sa ? _mm512_maskz_loadu_ps(valid, a + i) : a0;
        __m512 y = sb ? _mm512_maskz_loadu_ps(valid, b + i) : b0;
        _mm512_mask_storeu_ps(out + i, valid, operate16(op, x, y));
    }
}

NMT_AVX2 static inline __m256 operate8(int op, __m256 x, __m256 y) {
    switch (op) {
    case 0: return _mm256_add_ps(x, y);
    case 1: return _mm256_sub_ps(x, y);
    case 2: return _mm256_mul_ps(x, y);
    default: return _mm256_div_ps(x, y);
    }
}

NMT_AVX2 static void arithmetic256(int op, const float *a, size_t sa, const float *b, size_t sb, float *out, size_t n) {
    const __m256 a0 = _mm256_set1_ps(a[0]), b0 = _mm256_set1_ps(b[0]);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = sa ? _mm256_loadu_ps(a + i) : a0;
        __m256 y = sb ? _mm256_loadu_ps(b + i) : b0;
        _mm256_storeu_ps(out + i, operate8(op, x, y));
    }
    for (; i < n; i++) out[i] = NMT_OPERATE(op, a[i * sa], b[i * sb]);
}
#endif

void nmt_arithmetic(int op, const float *a, size_t a_stride, const float *b, size_t b_stride, float *out, size_t count) {
    if (count == 0) return;  // the vector paths read a[0] and b[0] for broadcasting
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) { arithmetic512(op, a, a_stride, b, b_stride, out, count); return; }
    if (bits >= 256) { arithmetic256(op, a, a_stride, b, b_stride, out, count); return; }
#endif
    for (size_t i = 0; i < count; i++) out[i] = NMT_OPERATE(op, a[i * a_stride], b[i * b_stride]);
}

// The weighted sum of several arrays: a device's replicas' gradients, summed block by block
// inside the optimizer's update. The Swift loop it replaces (a zeroing pass, then one pass
// per term reading back the partial sum) took about 0.9 ms of CPU in each 25 ms
// two-replica step of the main job's model (perf, AMD EPYC, 2026-12-08): it compiles for
// baseline x86-64, and its pointers may alias, so it ran a float at a time.
static inline float weighted_sum_lane(const float *const *terms, const float *scales, size_t term_count, size_t i) {
    float s = 0.0f;
    for (size_t t = 0; t < term_count; t++) s = s + terms[t][i] * scales[t];
    return s;
}

#if NMT_X86
NMT_AVX512 static void weighted_sum512(const float *const *terms, const float *scales, size_t term_count, float *sum, size_t count) {
    for (size_t i = 0; i < count; i += 16) {
        const __mmask16 valid = nmt_tail16(count - i);
        __m512 s = _mm512_setzero_ps();
        for (size_t t = 0; t < term_count; t++) {
            s = _mm512_add_ps(s, _mm512_mul_ps(_mm512_maskz_loadu_ps(valid, terms[t] + i), _mm512_set1_ps(scales[t])));
        }
        _mm512_mask_storeu_ps(sum + i, valid, s);
    }
}

NMT_AVX2 static void weighted_sum256(const float *const *terms, const float *scales, size_t term_count, float *sum, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 s = _mm256_setzero_ps();
        for (size_t t = 0; t < term_count; t++) {
            s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_loadu_ps(terms[t] + i), _mm256_set1_ps(scales[t])));
        }
        _mm256_storeu_ps(sum + i, s);
    }
    for (; i < count; i++) sum[i] = weighted_sum_lane(terms, scales, term_count, i);
}
#endif

void nmt_weighted_sum(const float *const *terms, const float *scales, size_t term_count, float *sum, size_t count) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) { weighted_sum512(terms, scales, term_count, sum, count); return; }
    if (bits >= 256) { weighted_sum256(terms, scales, term_count, sum, count); return; }
#endif
    for (size_t i = 0; i < count; i++) sum[i] = weighted_sum_lane(terms, scales, term_count, i);
}
