// e^x and the row maximum with the floats of NMTTensor's Swift kernels (VectorMath.exp,
// ReductionKernels' max): the same operations in the same order, no fused multiply-add,
// so every lane equals the Swift result bit for bit and the kernels that use them (softmax,
// log-softmax, beam candidates) do not change a digit.
#include "dispatch.h"

#include <math.h>

#pragma clang fp contract(off)

/// One lane of VectorMath.exp.
static inline float exp1(float x) {
    int overflow = x > 88.3762626f, underflow = x < -86.9f;
    float xc = overflow || underflow ? 0.0f : x;
    const float magic = 12582912.0f;
    float shifted = xc * 1.44269504088896341f + magic;
    float n = shifted - magic;
    int32_t shifted_bits;
    __builtin_memcpy(&shifted_bits, &shifted, 4);
    int32_t integer_n = (int32_t)((uint32_t)shifted_bits - 0x4B400000u);
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t bits;
    __builtin_memcpy(&bits, &p, 4);
    bits = (int32_t)((uint32_t)bits + ((uint32_t)integer_n << 23));
    float result;
    __builtin_memcpy(&result, &bits, 4);
    return overflow ? INFINITY : underflow ? 0.0f : result;
}

#if NMT_X86
NMT_AVX512 static void exp512(const float *x, float *y, size_t count) {
    const __m512 magic = _mm512_set1_ps(12582912.0f), zero = _mm512_setzero_ps();
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 valid = count - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(valid, x + i);
        __mmask16 overflow = _mm512_cmp_ps_mask(v, _mm512_set1_ps(88.3762626f), _CMP_GT_OQ);
        __mmask16 underflow = _mm512_cmp_ps_mask(v, _mm512_set1_ps(-86.9f), _CMP_LT_OQ);
        __m512 xc = _mm512_mask_mov_ps(v, overflow | underflow, zero);
        __m512 shifted = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)), magic);
        __m512 n = _mm512_sub_ps(shifted, magic);
        __m512i integer_n = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
        __m512 r = _mm512_sub_ps(xc, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
        r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(-2.12194440e-4f)));
        __m512 p = _mm512_set1_ps(1.9875691500e-4f);
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
        p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
        __m512 result = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), _mm512_slli_epi32(integer_n, 23)));
        result = _mm512_mask_mov_ps(result, overflow, _mm512_set1_ps(INFINITY));
        result = _mm512_mask_mov_ps(result, underflow, zero);
        _mm512_mask_storeu_ps(y + i, valid, result);
    }
}

NMT_AVX512 static float max512(const float *x, size_t count) {
    // best = x where x > best, lane by lane: NaN never replaces a value, as in the scalar scan.
    __m512 best = _mm512_set1_ps(-INFINITY);
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 valid = count - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(valid, x + i);
        best = _mm512_mask_mov_ps(best, _mm512_mask_cmp_ps_mask(valid, v, best, _CMP_GT_OQ), v);
    }
    float lanes[16], result = -INFINITY;
    _mm512_storeu_ps(lanes, best);
    for (int l = 0; l < 16; l++) if (lanes[l] > result) result = lanes[l];
    return result;
}
#endif

void nmt_exp(const float *x, float *y, size_t count) {
#if NMT_X86
    if (nmt_kernels_vector_bits() >= 512) { exp512(x, y, count); return; }
#endif
    for (size_t i = 0; i < count; i++) y[i] = exp1(x[i]);
}

float nmt_row_max(const float *x, size_t count) {
#if NMT_X86
    if (nmt_kernels_vector_bits() >= 512) return max512(x, count);
#endif
    float best = -INFINITY;
    for (size_t i = 0; i < count; i++) if (x[i] > best) best = x[i];
    return best;
}
