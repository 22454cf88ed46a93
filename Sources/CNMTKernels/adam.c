// One Adam step (TensorFlow's ApplyAdam) over contiguous elements, at every width. The
// same operations in the same order at each, with no fused multiply-add: IEEE arithmetic,
// square root and division are correctly rounded in every lane, so every width gives the
// same bits.
#include "dispatch.h"

/// One element's step, in the order of every width (and of the Swift arithmetic it replaced).
static inline void adam1(
    size_t i, float one_minus_beta1, float one_minus_beta2, float epsilon, float step_size, float *p, const float *g,
    float *m, float *v)
{
    float mi = m[i] + (g[i] - m[i]) * one_minus_beta1;
    float vi = v[i] + (g[i] * g[i] - v[i]) * one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] - (mi * step_size) / (sqrtf(vi) + epsilon);
}

#if NMT_X86
NMT_AVX512 static void adam512(
    size_t count, float one_minus_beta1, float one_minus_beta2, float epsilon, float step_size, float *p, const float *g,
    float *m, float *v)
{
    const __m512 b1 = _mm512_set1_ps(one_minus_beta1), b2 = _mm512_set1_ps(one_minus_beta2);
    const __m512 eps = _mm512_set1_ps(epsilon), lr = _mm512_set1_ps(step_size);
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 valid = nmt_tail16(count - i);
        __m512 gi = _mm512_maskz_loadu_ps(valid, g + i), mi = _mm512_maskz_loadu_ps(valid, m + i);
        __m512 vi = _mm512_maskz_loadu_ps(valid, v + i), pi = _mm512_maskz_loadu_ps(valid, p + i);
        mi = _mm512_add_ps(mi, _mm512_mul_ps(_mm512_sub_ps(gi, mi), b1));
        vi = _mm512_add_ps(vi, _mm512_mul_ps(_mm512_sub_ps(_mm512_mul_ps(gi, gi), vi), b2));
        pi = _mm512_sub_ps(pi, _mm512_div_ps(_mm512_mul_ps(mi, lr), _mm512_add_ps(_mm512_sqrt_ps(vi), eps)));
        _mm512_mask_storeu_ps(m + i, valid, mi);
        _mm512_mask_storeu_ps(v + i, valid, vi);
        _mm512_mask_storeu_ps(p + i, valid, pi);
    }
}

NMT_AVX2 static void adam256(
    size_t count, float one_minus_beta1, float one_minus_beta2, float epsilon, float step_size, float *p, const float *g,
    float *m, float *v)
{
    const __m256 b1 = _mm256_set1_ps(one_minus_beta1), b2 = _mm256_set1_ps(one_minus_beta2);
    const __m256 eps = _mm256_set1_ps(epsilon), lr = _mm256_set1_ps(step_size);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i), mi = _mm256_loadu_ps(m + i), vi = _mm256_loadu_ps(v + i), pi = _mm256_loadu_ps(p + i);
        mi = _mm256_add_ps(mi, _mm256_mul_ps(_mm256_sub_ps(gi, mi), b1));
        vi = _mm256_add_ps(vi, _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(gi, gi), vi), b2));
        pi = _mm256_sub_ps(pi, _mm256_div_ps(_mm256_mul_ps(mi, lr), _mm256_add_ps(_mm256_sqrt_ps(vi), eps)));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, pi);
    }
    for (; i < count; i++) adam1(i, one_minus_beta1, one_minus_beta2, epsilon, step_size, p, g, m, v);
}
#endif

void nmt_adam_update(
    size_t count, float one_minus_beta1, float one_minus_beta2, float epsilon, float step_size, float *p, const float *g,
    float *m, float *v)
{
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) { adam512(count, one_minus_beta1, one_minus_beta2, epsilon, step_size, p, g, m, v); return; }
    if (bits >= 256) { adam256(count, one_minus_beta1, one_minus_beta2, epsilon, step_size, p, g, m, v); return; }
#endif
    for (size_t i = 0; i < count; i++) adam1(i, one_minus_beta1, one_minus_beta2, epsilon, step_size, p, g, m, v);
}
