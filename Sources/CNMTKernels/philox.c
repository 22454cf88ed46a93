// Philox-4x32-10 uniforms and dropout (Salmon et al. 2011, "Parallel random numbers: as
// easy as 1, 2, 3"), bit for bit the stream of NMTTensor's `Philox` and `RandomKernels`.
// The vector versions run 16 (AVX-512) or 8 (AVX2) blocks side by side, one per 32-bit
// lane; a 32x32->64 multiply exists only for even lanes (vpmuludq), so odd lanes are
// shifted down, multiplied, and the halves blended back.
#include "dispatch.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline float unit_float(uint32_t word) { return (float)(word >> 8) * 0x1p-24f; }

static inline void philox_block(uint64_t block, uint64_t seed, uint64_t stream, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

#if NMT_X86
/// 64 uniforms: the words of blocks `block` ... `block + 15`, in stream order.
NMT_AVX512 static void philox_uniform16(uint64_t block, uint64_t seed, uint64_t stream, float *out) {
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i low = _mm512_set1_epi32((int)(uint32_t)block);
    __m512i c0 = _mm512_add_epi32(low, lane);
    // A lane whose low word wrapped around carries into the high word.
    __mmask16 carry = _mm512_cmplt_epu32_mask(c0, low);
    const __m512i high = _mm512_set1_epi32((int)(uint32_t)(block >> 32));
    __m512i c1 = _mm512_mask_add_epi32(high, carry, high, _mm512_set1_epi32(1));
    __m512i c2 = _mm512_set1_epi32((int)(uint32_t)stream), c3 = _mm512_set1_epi32((int)(uint32_t)(stream >> 32));
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        __m512i even0 = _mm512_mul_epu32(c0, m0), odd0 = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), m0);
        __m512i even1 = _mm512_mul_epu32(c2, m1), odd1 = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), m1);
        __m512i lo0 = _mm512_mask_blend_epi32(0xAAAA, even0, _mm512_slli_epi64(odd0, 32));
        __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even0, 32), odd0);
        __m512i lo1 = _mm512_mask_blend_epi32(0xAAAA, even1, _mm512_slli_epi64(odd1, 32));
        __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even1, 32), odd1);
        c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
        c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
        c1 = lo1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    // Transpose lanes (one block each) into stream order: words 0-3 of block 0, then of
    // block 1, ... First per 128-bit lane, then the 128-bit lanes themselves.
    __m512i t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpackhi_epi32(c0, c1);
    __m512i t2 = _mm512_unpacklo_epi32(c2, c3), t3 = _mm512_unpackhi_epi32(c2, c3);
    __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);  // blocks 0,4,8,12 / 1,5,9,13
    __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);  // blocks 2,6,10,14 / 3,7,11,15
    __m512i v0 = _mm512_shuffle_i32x4(u0, u1, 0x44), v1 = _mm512_shuffle_i32x4(u2, u3, 0x44);  // 0,4,1,5 / 2,6,3,7
    __m512i v2 = _mm512_shuffle_i32x4(u0, u1, 0xEE), v3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);  // 8,12,9,13 / 10,14,11,15
    __m512i words[4] = {
        _mm512_shuffle_i32x4(v0, v1, 0x88), _mm512_shuffle_i32x4(v0, v1, 0xDD),
        _mm512_shuffle_i32x4(v2, v3, 0x88), _mm512_shuffle_i32x4(v2, v3, 0xDD),
    };
    const __m512 scale = _mm512_set1_ps(0x1p-24f);
    for (int i = 0; i < 4; i++) {
        _mm512_storeu_ps(out + 16 * i, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(words[i], 8)), scale));
    }
}

/// 32 uniforms: the words of blocks `block` ... `block + 7`, in stream order.
NMT_AVX2 static void philox_uniform8(uint64_t block, uint64_t seed, uint64_t stream, float *out) {
    const __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    const __m256i low = _mm256_set1_epi32((int)(uint32_t)block);
    __m256i c0 = _mm256_add_epi32(low, lane);
    // Unsigned c0 < low (a wrapped lane), by comparing with the sign bits flipped.
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u);
    __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(low, sign), _mm256_xor_si256(c0, sign));
    __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32((int)(uint32_t)(block >> 32)), carry);
    __m256i c2 = _mm256_set1_epi32((int)(uint32_t)stream), c3 = _mm256_set1_epi32((int)(uint32_t)(stream >> 32));
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        __m256i even0 = _mm256_mul_epu32(c0, m0), odd0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
        __m256i even1 = _mm256_mul_epu32(c2, m1), odd1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
        __m256i lo0 = _mm256_blend_epi32(even0, _mm256_slli_epi64(odd0, 32), 0xAA);
        __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(even0, 32), odd0, 0xAA);
        __m256i lo1 = _mm256_blend_epi32(even1, _mm256_slli_epi64(odd1, 32), 0xAA);
        __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(even1, 32), odd1, 0xAA);
        c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
        c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
        c1 = lo1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
    __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);  // blocks 0,4 / 1,5
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);  // blocks 2,6 / 3,7
    __m256i words[4] = {
        _mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u2, u3, 0x20),
        _mm256_permute2x128_si256(u0, u1, 0x31), _mm256_permute2x128_si256(u2, u3, 0x31),
    };
    const __m256 scale = _mm256_set1_ps(0x1p-24f);
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(words[i], 8)), scale));
    }
}
#endif

void nmt_philox_uniform(uint64_t seed, uint64_t stream, uint64_t first, size_t count, float *out) {
    const int bits = nmt_kernels_vector_bits();
    uint64_t element = first;
    size_t i = 0;
    while (i < count) {
        size_t left = count - i;
#if NMT_X86
        if (element % 4 == 0 && bits >= 512 && left >= 64) {
            philox_uniform16(element / 4, seed, stream, out + i);
            i += 64, element += 64;
            continue;
        }
        if (element % 4 == 0 && bits >= 256 && left >= 32) {
            philox_uniform8(element / 4, seed, stream, out + i);
            i += 32, element += 32;
            continue;
        }
#else
        (void)bits;
#endif
        uint32_t words[4];
        philox_block(element / 4, seed, stream, words);
        for (unsigned w = (unsigned)(element % 4); w < 4 && i < count; w++, i++, element++) out[i] = unit_float(words[w]);
    }
}

/// Elements per pass: the uniforms of a tile stay in L1 between generation and use.
#define DROPOUT_TILE 512

/// One tile of a dropout kernel: the stream's uniforms `u` of its `n` elements, inputs `a`
/// and `b` (`b` unused by plain dropout), the output `y` and the mask.
typedef void (*dropout_tile)(
    const float *u, size_t n, float rate, float keep, const float *a, const float *b, float *y, float *mask);

#if NMT_X86
#define NMT_X86_ONLY(f) (f)
#else
#define NMT_X86_ONLY(f) NULL
#endif

/// Draws the uniforms of elements [first, first + count) a tile at a time and hands each
/// tile to the widest variant this CPU runs (a NULL variant is skipped): the driver the
/// dropout kernels share.
static void run_dropout_tiles(
    uint64_t seed, uint64_t stream, uint64_t first, size_t count, float rate, float keep, const float *a,
    const float *b, float *y, float *mask, dropout_tile avx512, dropout_tile avx2, dropout_tile portable)
{
    const int bits = nmt_kernels_vector_bits();
    dropout_tile tile = bits >= 512 && avx512 ? avx512 : bits >= 256 && avx2 ? avx2 : portable;
    float uniforms[DROPOUT_TILE];
    for (size_t start = 0; start < count; start += DROPOUT_TILE) {
        size_t n = count - start < DROPOUT_TILE ? count - start : DROPOUT_TILE;
        nmt_philox_uniform(seed, stream, first + start, n, uniforms);
        tile(uniforms, n, rate, keep, a + start, b ? b + start : NULL, y + start, mask + start);
    }
}

// Plain dropout: y = x / keep where kept, else 0.

static void dropout_tile_portable(
    const float *u, size_t n, float rate, float keep, const float *x, const float *unused, float *y, float *mask)
{
    (void)unused;
    for (size_t i = 0; i < n; i++) {
        int k = u[i] >= rate;
        mask[i] = k ? 1.0f : 0.0f;
        y[i] = k ? x[i] / keep : 0.0f;
    }
}

#if NMT_X86
NMT_AVX512 static void dropout_tile512(
    const float *u, size_t n, float rate, float keep, const float *x, const float *unused, float *y, float *mask)
{
    (void)unused;
    const __m512 rates = _mm512_set1_ps(rate), keeps = _mm512_set1_ps(keep), ones = _mm512_set1_ps(1);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 valid = nmt_tail16(n - i);
        __mmask16 kept = _mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, u + i), rates, _CMP_GE_OQ);
        __m512 xs = _mm512_maskz_loadu_ps(valid, x + i);
        _mm512_mask_storeu_ps(y + i, valid, _mm512_maskz_div_ps(kept, xs, keeps));
        _mm512_mask_storeu_ps(mask + i, valid, _mm512_maskz_mov_ps(kept, ones));
    }
}

NMT_AVX2 static void dropout_tile256(
    const float *u, size_t n, float rate, float keep, const float *x, const float *unused, float *y, float *mask)
{
    (void)unused;
    const __m256 rates = _mm256_set1_ps(rate), keeps = _mm256_set1_ps(keep), ones = _mm256_set1_ps(1);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 kept = _mm256_cmp_ps(_mm256_loadu_ps(u + i), rates, _CMP_GE_OQ);
        _mm256_storeu_ps(y + i, _mm256_and_ps(kept, _mm256_div_ps(_mm256_loadu_ps(x + i), keeps)));
        _mm256_storeu_ps(mask + i, _mm256_and_ps(kept, ones));
    }
    dropout_tile_portable(u + i, n - i, rate, keep, x + i, NULL, y + i, mask + i);
}
#endif

void nmt_dropout(
    uint64_t seed, uint64_t stream, uint64_t first, size_t count, float rate, float keep,
    const float *x, float *y, float *mask)
{
    run_dropout_tiles(
        seed, stream, first, count, rate, keep, x, NULL, y, mask, NMT_X86_ONLY(dropout_tile512),
        NMT_X86_ONLY(dropout_tile256), dropout_tile_portable);
}

#if NMT_X86
NMT_AVX512 static void dropout_backward512(size_t count, float keep, const float *g, const float *mask, float *dx) {
    const __m512 keeps = _mm512_set1_ps(keep), zero = _mm512_setzero_ps();
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 valid = nmt_tail16(count - i);
        __mmask16 kept = _mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, mask + i), zero, _CMP_NEQ_UQ);
        _mm512_mask_storeu_ps(dx + i, valid, _mm512_maskz_div_ps(kept, _mm512_maskz_loadu_ps(valid, g + i), keeps));
    }
}

NMT_AVX2 static void dropout_backward256(size_t count, float keep, const float *g, const float *mask, float *dx) {
    const __m256 keeps = _mm256_set1_ps(keep), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 kept = _mm256_cmp_ps(_mm256_loadu_ps(mask + i), zero, _CMP_NEQ_UQ);
        _mm256_storeu_ps(dx + i, _mm256_and_ps(kept, _mm256_div_ps(_mm256_loadu_ps(g + i), keeps)));
    }
    for (; i < count; i++) dx[i] = mask[i] != 0 ? g[i] / keep : 0.0f;
}
#endif

void nmt_dropout_backward(size_t count, float keep, const float *g, const float *mask, float *dx) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) { dropout_backward512(count, keep, g, mask, dx); return; }
    if (bits >= 256) { dropout_backward256(count, keep, g, mask, dx); return; }
#endif
    for (size_t i = 0; i < count; i++) dx[i] = mask[i] != 0 ? g[i] / keep : 0.0f;
}

// dropout(relu(x + bias)), with a mask that also holds the ReLU's.

#if NMT_X86
NMT_AVX512 static void bias_relu_dropout512(
    const float *u, size_t n, float rate, float keep, const float *x, const float *bias, float *y, float *mask)
{
    const __m512 rates = _mm512_set1_ps(rate), keeps = _mm512_set1_ps(keep), ones = _mm512_set1_ps(1), zero = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 valid = nmt_tail16(n - i);
        __m512 pre = _mm512_add_ps(_mm512_maskz_loadu_ps(valid, x + i), _mm512_maskz_loadu_ps(valid, bias + i));
        __mmask16 kept = _mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, u + i), rates, _CMP_GE_OQ);
        __mmask16 passed = _mm512_mask_cmp_ps_mask(kept, pre, zero, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(y + i, valid, _mm512_maskz_div_ps(passed, pre, keeps));
        _mm512_mask_storeu_ps(mask + i, valid, _mm512_maskz_mov_ps(passed, ones));
    }
}
#endif

static void bias_relu_dropout_portable(
    const float *u, size_t n, float rate, float keep, const float *x, const float *bias, float *y, float *mask)
{
    for (size_t i = 0; i < n; i++) {
        // relu(x + b) then dropout, as the three separate kernels compute it.
        float pre = x[i] + bias[i];
        float relu = pre > 0 ? pre : 0.0f;
        int kept = u[i] >= rate;
        mask[i] = kept && pre > 0 ? 1.0f : 0.0f;
        y[i] = kept ? relu / keep : 0.0f;
    }
}

void nmt_bias_relu_dropout(
    uint64_t seed, uint64_t stream, uint64_t first, size_t count, float rate, float keep,
    const float *x, const float *bias, float *y, float *mask)
{
    run_dropout_tiles(
        seed, stream, first, count, rate, keep, x, bias, y, mask, NMT_X86_ONLY(bias_relu_dropout512), NULL,
        bias_relu_dropout_portable);
}

// residual + dropout(x).

#if NMT_X86
NMT_AVX512 static void residual_dropout512(
    const float *u, size_t n, float rate, float keep, const float *residual, const float *x, float *y, float *mask)
{
    const __m512 rates = _mm512_set1_ps(rate), keeps = _mm512_set1_ps(keep), ones = _mm512_set1_ps(1);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 valid = nmt_tail16(n - i);
        __mmask16 kept = _mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, u + i), rates, _CMP_GE_OQ);
        __m512 dropped = _mm512_maskz_div_ps(kept, _mm512_maskz_loadu_ps(valid, x + i), keeps);
        _mm512_mask_storeu_ps(y + i, valid, _mm512_add_ps(_mm512_maskz_loadu_ps(valid, residual + i), dropped));
        _mm512_mask_storeu_ps(mask + i, valid, _mm512_maskz_mov_ps(kept, ones));
    }
}
#endif

static void residual_dropout_portable(
    const float *u, size_t n, float rate, float keep, const float *residual, const float *x, float *y, float *mask)
{
    for (size_t i = 0; i < n; i++) {
        // The dropped-out value (0 where dropped) is added, as the two kernels do.
        int kept = u[i] >= rate;
        mask[i] = kept ? 1.0f : 0.0f;
        y[i] = residual[i] + (kept ? x[i] / keep : 0.0f);
    }
}

void nmt_residual_dropout(
    uint64_t seed, uint64_t stream, uint64_t first, size_t count, float rate, float keep,
    const float *residual, const float *x, float *y, float *mask)
{
    run_dropout_tiles(
        seed, stream, first, count, rate, keep, residual, x, y, mask, NMT_X86_ONLY(residual_dropout512), NULL,
        residual_dropout_portable);
}
