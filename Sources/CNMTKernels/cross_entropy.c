// Label-smoothed softmax cross entropy over rows of logits, forward and backward, for
// AVX-512 and AVX2. Same mathematics as NMTTensor's CrossEntropyKernels (which remain the portable
// path and the reference): e^x by the same Cephes polynomial, here with fused
// multiply-adds and 16 partial sums, so results agree to rounding, not bit for bit.
#include "dispatch.h"

#include <math.h>

#if NMT_X86
/// e^x for 16 lanes; +inf above 88.376, 0 below -86.9 (as VectorMath.exp).
NMT_AVX512 static inline __m512 exp16(__m512 x) {
    __mmask16 overflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.3762626f), _CMP_GT_OQ);
    __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-86.9f), _CMP_LT_OQ);
    __m512 xc = _mm512_mask_mov_ps(x, overflow | underflow, _mm512_setzero_ps());
    // n = round(x / ln 2) with the 1.5 * 2^23 magic number; r = x - n ln 2 in two parts.
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 shifted = _mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504088896341f), magic);
    __m512 n = _mm512_sub_ps(shifted, magic);
    __m512i integer_n = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    __m512 result = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), _mm512_slli_epi32(integer_n, 23)));
    result = _mm512_mask_mov_ps(result, overflow, _mm512_set1_ps(INFINITY));
    return _mm512_mask_mov_ps(result, underflow, _mm512_setzero_ps());
}

NMT_AVX512 static inline __mmask16 tail_mask(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

NMT_AVX512 static float row_max(const float *x, size_t width) {
    __m512 best = _mm512_set1_ps(-INFINITY);
    for (size_t i = 0; i < width; i += 16) {
        __mmask16 valid = tail_mask(width - i);
        best = _mm512_max_ps(best, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), valid, x + i));
    }
    return _mm512_reduce_max_ps(best);
}

NMT_AVX512 static void forward512(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off)
{
    const float total = on + (float)(width - 1) * off;
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        const float maximum = row_max(x, width);
        const __m512 max16 = _mm512_set1_ps(maximum);
        __m512 exp_sum = _mm512_setzero_ps(), shifted_sum = _mm512_setzero_ps();
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = tail_mask(width - i);
            __m512 s = _mm512_maskz_sub_ps(valid, _mm512_maskz_loadu_ps(valid, x + i), max16);
            exp_sum = _mm512_mask_add_ps(exp_sum, valid, exp_sum, exp16(s));
            shifted_sum = _mm512_add_ps(shifted_sum, s);
        }
        float lse = logf(_mm512_reduce_add_ps(exp_sum));
        loss[row] = total * lse - off * _mm512_reduce_add_ps(shifted_sum) - (on - off) * (x[labels[row]] - maximum);
    }
}

NMT_AVX512 static void backward512(
    const float *g, const float *logits, const int32_t *labels, float *dlogits, size_t rows, size_t width, float on,
    float off)
{
    const float total = on + (float)(width - 1) * off;
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        float *d = dlogits + row * width;
        const __m512 max16 = _mm512_set1_ps(row_max(x, width));
        __m512 sum = _mm512_setzero_ps();
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = tail_mask(width - i);
            __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, x + i), max16));
            _mm512_mask_storeu_ps(d + i, valid, e);
            sum = _mm512_mask_add_ps(sum, valid, sum, e);
        }
        const __m512 scale = _mm512_set1_ps(g[row] * total / _mm512_reduce_add_ps(sum));
        const __m512 offset = _mm512_set1_ps(g[row] * off);
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = tail_mask(width - i);
            _mm512_mask_storeu_ps(d + i, valid, _mm512_fmsub_ps(_mm512_maskz_loadu_ps(valid, d + i), scale, offset));
        }
        d[labels[row]] -= g[row] * (on - off);
    }
}

/// e^x for 8 lanes, as exp16.
NMT_AVX2 static inline __m256 exp8(__m256 x) {
    __m256 overflow = _mm256_cmp_ps(x, _mm256_set1_ps(88.3762626f), _CMP_GT_OQ);
    __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-86.9f), _CMP_LT_OQ);
    __m256 xc = _mm256_andnot_ps(_mm256_or_ps(overflow, underflow), x);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 shifted = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256i integer_n = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256 result = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32(integer_n, 23)));
    result = _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY), overflow);
    return _mm256_andnot_ps(underflow, result);
}

NMT_AVX2 static inline float sum8(__m256 v) {
    __m128 halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    halves = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
    return _mm_cvtss_f32(_mm_add_ss(halves, _mm_movehdup_ps(halves)));
}

NMT_AVX2 static float row_max8(const float *x, size_t width) {
    __m256 best = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= width; i += 8) best = _mm256_max_ps(best, _mm256_loadu_ps(x + i));
    __m128 halves = _mm_max_ps(_mm256_castps256_ps128(best), _mm256_extractf128_ps(best, 1));
    halves = _mm_max_ps(halves, _mm_movehl_ps(halves, halves));
    float maximum = _mm_cvtss_f32(_mm_max_ss(halves, _mm_movehdup_ps(halves)));
    for (; i < width; i++) maximum = x[i] > maximum ? x[i] : maximum;
    return maximum;
}

// The AVX2 versions run whole vectors and finish each row's tail with scalar expf.
NMT_AVX2 static void forward256(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off)
{
    const float total = on + (float)(width - 1) * off;
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        const float maximum = row_max8(x, width);
        const __m256 max8 = _mm256_set1_ps(maximum);
        __m256 exp_sum = _mm256_setzero_ps(), shifted_sum = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 8 <= width; i += 8) {
            __m256 s = _mm256_sub_ps(_mm256_loadu_ps(x + i), max8);
            exp_sum = _mm256_add_ps(exp_sum, exp8(s));
            shifted_sum = _mm256_add_ps(shifted_sum, s);
        }
        float tail_exp = 0, tail_shifted = 0;
        for (; i < width; i++) {
            float s = x[i] - maximum;
            tail_exp += expf(s);
            tail_shifted += s;
        }
        float lse = logf(sum8(exp_sum) + tail_exp);
        loss[row] = total * lse - off * (sum8(shifted_sum) + tail_shifted) - (on - off) * (x[labels[row]] - maximum);
    }
}

NMT_AVX2 static void backward256(
    const float *g, const float *logits, const int32_t *labels, float *dlogits, size_t rows, size_t width, float on,
    float off)
{
    const float total = on + (float)(width - 1) * off;
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        float *d = dlogits + row * width;
        const float maximum = row_max8(x, width);
        const __m256 max8 = _mm256_set1_ps(maximum);
        __m256 sum = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 8 <= width; i += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), max8));
            _mm256_storeu_ps(d + i, e);
            sum = _mm256_add_ps(sum, e);
        }
        float tail = 0;
        for (size_t j = i; j < width; j++) {
            d[j] = expf(x[j] - maximum);
            tail += d[j];
        }
        const float scale = g[row] * total / (sum8(sum) + tail), offset = g[row] * off;
        const __m256 scale8 = _mm256_set1_ps(scale), offset8 = _mm256_set1_ps(offset);
        for (i = 0; i + 8 <= width; i += 8) {
            _mm256_storeu_ps(d + i, _mm256_fmsub_ps(_mm256_loadu_ps(d + i), scale8, offset8));
        }
        for (; i < width; i++) d[i] = d[i] * scale - offset;
        d[labels[row]] -= g[row] * (on - off);
    }
}
#endif

int nmt_cross_entropy_forward(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off)
{
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) {
        forward512(logits, labels, loss, rows, width, on, off);
        return 1;
    }
    if (bits >= 256) {
        forward256(logits, labels, loss, rows, width, on, off);
        return 1;
    }
#endif
    (void)logits, (void)labels, (void)loss, (void)rows, (void)width, (void)on, (void)off;
    return 0;
}

int nmt_cross_entropy_backward(
    const float *g, const float *logits, const int32_t *labels, float *dlogits, size_t rows, size_t width, float on,
    float off)
{
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) {
        backward512(g, logits, labels, dlogits, rows, width, on, off);
        return 1;
    }
    if (bits >= 256) {
        backward256(g, logits, labels, dlogits, rows, width, on, off);
        return 1;
    }
#endif
    (void)g, (void)logits, (void)labels, (void)dlogits, (void)rows, (void)width, (void)on, (void)off;
    return 0;
}
