// Label-smoothed softmax cross entropy over rows of logits, forward and backward, for
// AVX-512. Same mathematics as NMTTensor's CrossEntropyKernels (which remain the portable
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
#endif

int nmt_cross_entropy_forward(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off)
{
#if NMT_X86
    if (nmt_kernels_vector_bits() >= 512) {
        forward512(logits, labels, loss, rows, width, on, off);
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
    if (nmt_kernels_vector_bits() >= 512) {
        backward512(g, logits, labels, dlogits, rows, width, on, off);
        return 1;
    }
#endif
    (void)g, (void)logits, (void)labels, (void)dlogits, (void)rows, (void)width, (void)on, (void)off;
    return 0;
}
