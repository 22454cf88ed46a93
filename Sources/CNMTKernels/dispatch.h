// Private helpers every kernel file shares: the CPU dispatch macros, the one tail mask,
// the one e^x and the one row maximum. See CNMTKernels.h for the contract they serve.
#ifndef NMT_DISPATCH_H
#define NMT_DISPATCH_H

#include "CNMTKernels.h"

#include <math.h>

// Every kernel's arithmetic is written operation by operation; the compiler must not fuse
// a multiply and an add (it would change the floats the contract promises).
#pragma clang fp contract(off)

#if defined(__x86_64__) || defined(__i386__)
#define NMT_X86 1
#include <immintrin.h>
#define NMT_AVX512 __attribute__((target("avx512f")))
#define NMT_AVX2 __attribute__((target("avx2,fma")))
#else
#define NMT_X86 0
#endif

/// e^x of NMTTensor's VectorMath.exp, one lane: the Cephes polynomial in the same
/// operations and order, +inf above 88.3762626, 0 below -86.9, and x itself for NaN.
static inline float nmt_exp1(float x) {
    if (x != x) return x;
    int overflow = x > 88.3762626f, underflow = x < -86.9f;
    float xc = overflow || underflow ? 0.0f : x;
    // n = round(x / ln 2) with the 1.5 * 2^23 magic number; r = x - n ln 2 in two parts.
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

/// The row maximum of the scalar scan every width must match: keep x where x > best, from
/// -inf, so NaN is never the maximum.
static inline float nmt_max_scan(const float *x, size_t count, float best) {
    for (size_t i = 0; i < count; i++) if (x[i] > best) best = x[i];
    return best;
}

#if NMT_X86
/// The lanes of a 16-float step that hold elements when `left` remain: all while 16 or
/// more do. Every AVX-512 loop walks its whole range with it (masked loads and stores),
/// so no AVX-512 kernel has a scalar tail.
NMT_AVX512 static inline __mmask16 nmt_tail16(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

/// ``nmt_exp1`` on 16 lanes, bit for bit.
NMT_AVX512 static inline __m512 nmt_exp16(__m512 x) {
    const __m512 magic = _mm512_set1_ps(12582912.0f), zero = _mm512_setzero_ps();
    __mmask16 overflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.3762626f), _CMP_GT_OQ);
    __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-86.9f), _CMP_LT_OQ);
    __m512 xc = _mm512_mask_mov_ps(x, overflow | underflow, zero);
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
    return _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

/// ``nmt_max_scan`` over `count` floats, 16 lanes at a time (the same maximum: the
/// largest non-NaN value, or -inf).
NMT_AVX512 static inline float nmt_max16(const float *x, size_t count) {
    __m512 best = _mm512_set1_ps(-INFINITY);
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 valid = nmt_tail16(count - i);
        __m512 v = _mm512_maskz_loadu_ps(valid, x + i);
        best = _mm512_mask_mov_ps(best, _mm512_mask_cmp_ps_mask(valid, v, best, _CMP_GT_OQ), v);
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, best);
    return nmt_max_scan(lanes, 16, -INFINITY);
}

/// ``nmt_exp1`` on 8 lanes, bit for bit (AVX2 runs whole vectors and finishes a range
/// with ``nmt_exp1``).
NMT_AVX2 static inline __m256 nmt_exp8(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 overflow = _mm256_cmp_ps(x, _mm256_set1_ps(88.3762626f), _CMP_GT_OQ);
    __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-86.9f), _CMP_LT_OQ);
    __m256 xc = _mm256_andnot_ps(_mm256_or_ps(overflow, underflow), x);
    __m256 shifted = _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256i integer_n = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    __m256 r = _mm256_sub_ps(xc, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1.0f));
    __m256 result = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32(integer_n, 23)));
    result = _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY), overflow);
    result = _mm256_andnot_ps(underflow, result);
    return _mm256_blendv_ps(result, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/// ``nmt_max_scan`` over `count` floats, 8 lanes at a time.
NMT_AVX2 static inline float nmt_max8(const float *x, size_t count) {
    __m256 best = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        best = _mm256_blendv_ps(best, v, _mm256_cmp_ps(v, best, _CMP_GT_OQ));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, best);
    return nmt_max_scan(x + i, count - i, nmt_max_scan(lanes, 8, -INFINITY));
}

/// The 8 lanes' sum, in a fixed order.
NMT_AVX2 static inline float nmt_sum8(__m256 v) {
    __m128 halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    halves = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
    return _mm_cvtss_f32(_mm_add_ss(halves, _mm_movehdup_ps(halves)));
}
#endif

#endif
