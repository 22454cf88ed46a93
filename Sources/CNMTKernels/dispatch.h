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

/// Defines `name`, e^x on the lanes of the float vector type `F` (with `I` the uint32 vector
/// of its size, whose arithmetic wraps), as NMTTensor's Swift e^x computed it: the Cephes
/// polynomial, +inf above 88.3762626, 0 below -86.9, and x itself for NaN. One body for
/// every width (1 lane: the portable path and every scalar tail; 8: AVX2; 16: AVX-512).
/// `muladd(a, b, c)` is a·b + c: NMT_EXACT (a multiply, then an add) gives the Swift floats
/// bit for bit in every lane; NMT_FUSED (one rounding) is for cross entropy alone, which
/// promises agreement to rounding and is 20% faster with it.
#define NMT_DEFINE_EXP(name, attributes, F, I, muladd)                                         \
    attributes static inline F name(F x) {                                                      \
        const F zero = {0};                                                                      \
        I overflow = (I)(x > 88.3762626f), underflow = (I)(x < -86.9f), nan = (I)(x != x);       \
        F xc = (F)((I)x & ~(overflow | underflow | nan));                                        \
        I bits;                                                                                  \
        NMT_EXP_POLYNOMIAL(F, I, muladd, xc, bits)                                               \
        I infinity = (I)(zero + INFINITY);                                                       \
        bits = (bits & ~(overflow | underflow | nan)) | (infinity & overflow) | ((I)x & nan);   \
        return (F)bits;                                                                          \
    }

/// Defines `name`, NMT_DEFINE_EXP's e^x for lanes the caller knows lie in [-86.9,
/// 88.3762626] (no NaN): the same operations on them without the range and NaN masks,
/// so the same bits (``nmt_exp16`` and ``nmt_exp8`` choose it per vector).
#define NMT_DEFINE_EXP_IN_RANGE(name, attributes, F, I, muladd) \
    attributes static inline F name(F xc) {                      \
        I bits;                                                   \
        NMT_EXP_POLYNOMIAL(F, I, muladd, xc, bits)                \
        return (F)bits;                                           \
    }

/// The body both share: `bits` = the Cephes e^`xc` as integer lanes.
#define NMT_EXP_POLYNOMIAL(F, I, muladd, xc, bits)                                           \
    {                                                                                        \
        /* n = round(x / ln 2) with the 1.5 * 2^23 magic number; r = x - n ln 2 in two parts. */ \
        F shifted = muladd(xc, 1.44269504088896341f, 12582912.0f);                           \
        F n = shifted - 12582912.0f;                                                         \
        I integer_n = (I)shifted - 0x4B400000;                                               \
        F r = muladd(n, -0.693359375f, xc);                                                  \
        r = muladd(n, 2.12194440e-4f, r);                                                    \
        F p = muladd(r, 1.9875691500e-4f, 1.3981999507e-3f);                                 \
        p = muladd(p, r, 8.3334519073e-3f);                                                  \
        p = muladd(p, r, 4.1665795894e-2f);                                                  \
        p = muladd(p, r, 1.6666665459e-1f);                                                  \
        p = muladd(p, r, 5.0000001201e-1f);                                                  \
        p = muladd(p, r * r, r) + 1.0f;                                                      \
        bits = (I)p + (integer_n << 23);                                                     \
    }

/// a·b + c rounded twice (the fp contract pragma above keeps the compiler from fusing it).
#define NMT_EXACT(a, b, c) ((a) * (b) + (c))
/// a·b + c rounded once (`× 1` splats a scalar to the vector type and folds away).
#define NMT_FUSED(a, b, c) __builtin_elementwise_fma((a), (b) * (zero + 1.0f), (c) * (zero + 1.0f))

typedef float nmt_f1 __attribute__((vector_size(4)));
typedef uint32_t nmt_i1 __attribute__((vector_size(4)));
NMT_DEFINE_EXP(nmt_exp_lane, , nmt_f1, nmt_i1, NMT_EXACT)

/// e^x of one float (see NMT_DEFINE_EXP).
static inline float nmt_exp1(float x) { return nmt_exp_lane((nmt_f1){x})[0]; }

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

typedef float nmt_f16 __attribute__((vector_size(64)));
typedef uint32_t nmt_i16 __attribute__((vector_size(64)));
typedef float nmt_f8 __attribute__((vector_size(32)));
typedef uint32_t nmt_i8 __attribute__((vector_size(32)));

/// Transposes the 16 × 16 floats of `v` in place: v[i] lane j becomes v[j] lane i.
NMT_AVX512 __attribute__((always_inline)) static inline void nmt_transpose16(__m512 v[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        for (int h = 0; h < 2; h++) {
            const __m512d a = _mm512_castps_pd(t[i + h]), b = _mm512_castps_pd(t[i + 2 + h]);
            v[i + h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            v[i + 2 + h] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    }
    // v[4g + e] now holds, in its 128-bit block k, rows 4g..4g+3 of column 4k + order[e].
    static const int order[4] = {0, 2, 1, 3};
    for (int g = 0; g < 4; g += 2) {
        for (int e = 0; e < 4; e++) {
            const __m512 a = v[4 * g + e], b = v[4 * (g + 1) + e];
            t[4 * g + e] = _mm512_shuffle_f32x4(a, b, 0x88);        // blocks 0 and 2 of a, then of b
            t[4 * (g + 1) + e] = _mm512_shuffle_f32x4(a, b, 0xDD);  // blocks 1 and 3
        }
    }
    for (int e = 0; e < 4; e++) {
        for (int h = 0; h < 2; h++) {
            const __m512 a = t[e + 4 * h], b = t[8 + e + 4 * h];
            v[order[e] + 4 * h] = _mm512_shuffle_f32x4(a, b, 0x88);
            v[order[e] + 8 + 4 * h] = _mm512_shuffle_f32x4(a, b, 0xDD);
        }
    }
}

/// Transposes the 8 × 8 floats of `v` in place.
NMT_AVX2 __attribute__((always_inline)) static inline void nmt_transpose8(__m256 v[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        v[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

NMT_DEFINE_EXP(nmt_exp_lanes16, NMT_AVX512, nmt_f16, nmt_i16, NMT_EXACT)
NMT_DEFINE_EXP(nmt_exp_lanes8, NMT_AVX2, nmt_f8, nmt_i8, NMT_EXACT)
NMT_DEFINE_EXP_IN_RANGE(nmt_exp_in_range_lanes16, NMT_AVX512, nmt_f16, nmt_i16, NMT_EXACT)
NMT_DEFINE_EXP_IN_RANGE(nmt_exp_in_range_lanes8, NMT_AVX2, nmt_f8, nmt_i8, NMT_EXACT)
/// ``nmt_exp1`` on 16 lanes (AVX-512) and 8 lanes (AVX2), bit for bit. A vector whose
/// lanes all lie in [-86.9, 88.3762626] (softmax's shifted logits, nearly always) skips
/// the range and NaN masks: the same operations on those lanes, so the same bits.
NMT_AVX512 __attribute__((always_inline)) static inline __m512 nmt_exp16(__m512 x) {
    const __mmask16 in_range = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-86.9f), _CMP_GE_OQ)
        & _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.3762626f), _CMP_LE_OQ);
    return in_range == 0xFFFF ? (__m512)nmt_exp_in_range_lanes16((nmt_f16)x) : (__m512)nmt_exp_lanes16((nmt_f16)x);
}
NMT_AVX2 __attribute__((always_inline)) static inline __m256 nmt_exp8(__m256 x) {
    const __m256 in_range = _mm256_and_ps(
        _mm256_cmp_ps(x, _mm256_set1_ps(-86.9f), _CMP_GE_OQ), _mm256_cmp_ps(x, _mm256_set1_ps(88.3762626f), _CMP_LE_OQ));
    return _mm256_movemask_ps(in_range) == 0xFF ? (__m256)nmt_exp_in_range_lanes8((nmt_f8)x) : (__m256)nmt_exp_lanes8((nmt_f8)x);
}

/// Defines `name`, ``nmt_max_scan`` over `count` floats a vector of `F` at a time: each
/// lane keeps x where x > its best, then the lanes and the tail are scanned in order. The
/// same maximum as the scalar scan (the largest non-NaN value, or -inf).
#define NMT_DEFINE_MAX(name, attributes, F, I)                                   \
    attributes static inline float name(const float *x, size_t count) {         \
        const size_t lanes = sizeof(F) / sizeof(float);                          \
        const F zero = {0};                                                       \
        F best = zero - INFINITY;                                                 \
        size_t i = 0;                                                             \
        for (; i + lanes <= count; i += lanes) {                                 \
            F v;                                                                  \
            __builtin_memcpy(&v, x + i, sizeof v);                                \
            I greater = (I)(v > best);                                            \
            best = (F)(((I)v & greater) | ((I)best & ~greater));                  \
        }                                                                         \
        float each[sizeof(F) / sizeof(float)];                                    \
        __builtin_memcpy(each, &best, sizeof best);                               \
        return nmt_max_scan(x + i, count - i, nmt_max_scan(each, lanes, -INFINITY)); \
    }

NMT_DEFINE_MAX(nmt_max16, NMT_AVX512, nmt_f16, nmt_i16)
NMT_DEFINE_MAX(nmt_max8, NMT_AVX2, nmt_f8, nmt_i8)

/// The 8 lanes' sum, in a fixed order.
NMT_AVX2 static inline float nmt_sum8(__m256 v) {
    __m128 halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    halves = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
    return _mm_cvtss_f32(_mm_add_ss(halves, _mm_movehdup_ps(halves)));
}
#endif

#endif
