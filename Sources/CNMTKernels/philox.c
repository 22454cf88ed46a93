// Philox-4x32-10 uniforms and dropout (Salmon et al. 2011, "Parallel random numbers: as
// easy as 1, 2, 3"), bit for bit the stream of NMTTensor's `Philox` and `RandomKernels`.
// The vector versions run 16 (AVX-512) or 8 (AVX2) blocks side by side, one per 32-bit
// lane, with one body for both widths (the macros below); a 32x32->64 multiply exists only
// for even lanes (vpmuludq), so odd lanes are shifted down, multiplied, and the halves
// merged back.
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
/// Defines `name`, the ten Philox-4x32 rounds on four counter vectors `c` of 32-bit lanes
/// (one block per lane), viewed as `U` (uint32 lanes) or `W` (uint64 lanes, the same
/// bytes). The products of even lanes are the 64-bit lanes' low words times the
/// multiplier, of odd lanes their high words (both vpmuludq); `merge` puts each lane's low
/// and high product words back in its place.
#define NMT_DEFINE_PHILOX_ROUNDS(name, attributes, U, W, merge)                       \
    attributes static inline void name(U c[4], uint64_t seed) {                      \
        const W low32 = (W){0} + 0xFFFFFFFFull;                                        \
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);                   \
        for (int round = 0; round < 10; round++) {                                   \
            U lo0, hi0, lo1, hi1;                                                     \
            merge(((W)c[0] & low32) * PHILOX_M0, ((W)c[0] >> 32) * PHILOX_M0, &lo0, &hi0); \
            merge(((W)c[2] & low32) * PHILOX_M1, ((W)c[2] >> 32) * PHILOX_M1, &lo1, &hi1); \
            c[0] = hi1 ^ c[1] ^ k0;                                                   \
            c[2] = hi0 ^ c[3] ^ k1;                                                   \
            c[1] = lo1;                                                               \
            c[3] = lo0;                                                               \
            k0 += PHILOX_W0;                                                          \
            k1 += PHILOX_W1;                                                          \
        }                                                                             \
    }

/// Defines `name`: 4 × L uniforms (L the lanes of `U`) of blocks `block` ... `block + L -
/// 1`, in stream order. `setup` gives the four counters, `rounds` runs Philox on them, and
/// `arrange` puts the words into stream order, one vector of `F` per quarter of the output.
#define NMT_DEFINE_PHILOX_UNIFORMS(name, attributes, setup, rounds, arrange, U, F)            \
    attributes static void name(uint64_t block, uint64_t seed, uint64_t stream, float *out) { \
        U c[4], words[4];                                                                     \
        setup(block, stream, c);                                                              \
        rounds(c, seed);                                                                      \
        arrange(c, words);                                                                    \
        for (int i = 0; i < 4; i++) {                                                         \
            F uniforms = __builtin_convertvector(words[i] >> 8, F) * 0x1p-24f;                \
            __builtin_memcpy(out + i * (sizeof(F) / sizeof(float)), &uniforms, sizeof uniforms); \
        }                                                                                     \
    }

typedef uint32_t philox_u16 __attribute__((vector_size(64)));
typedef uint64_t philox_w16 __attribute__((vector_size(64)));
typedef uint32_t philox_u8 __attribute__((vector_size(32)));
typedef uint64_t philox_w8 __attribute__((vector_size(32)));

/// Counters of blocks `block` ... `block + 15`: a lane whose low word wrapped around
/// carries into the high word.
NMT_AVX512 static inline void philox_setup16(uint64_t block, uint64_t stream, philox_u16 c[4]) {
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i low = _mm512_set1_epi32((int)(uint32_t)block), high = _mm512_set1_epi32((int)(uint32_t)(block >> 32));
    __m512i first = _mm512_add_epi32(low, lane);
    __mmask16 carry = _mm512_cmplt_epu32_mask(first, low);
    c[0] = (philox_u16)first;
    c[1] = (philox_u16)_mm512_mask_add_epi32(high, carry, high, _mm512_set1_epi32(1));
    c[2] = (philox_u16){0} + (uint32_t)stream;
    c[3] = (philox_u16){0} + (uint32_t)(stream >> 32);
}

/// Counters of blocks `block` ... `block + 7` (an unsigned compare by flipped sign bits).
NMT_AVX2 static inline void philox_setup8(uint64_t block, uint64_t stream, philox_u8 c[4]) {
    const __m256i low = _mm256_set1_epi32((int)(uint32_t)block), sign = _mm256_set1_epi32((int)0x80000000u);
    __m256i first = _mm256_add_epi32(low, _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0));
    __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(low, sign), _mm256_xor_si256(first, sign));
    c[0] = (philox_u8)first;
    c[1] = (philox_u8)_mm256_sub_epi32(_mm256_set1_epi32((int)(uint32_t)(block >> 32)), carry);
    c[2] = (philox_u8){0} + (uint32_t)stream;
    c[3] = (philox_u8){0} + (uint32_t)(stream >> 32);
}

/// Words 0-3 of block 0, then of block 1, ...: within each 128-bit lane first, then
/// the 128-bit lanes themselves (blocks 0,4,8,12 / 1,5,9,13 / ... after the first stage).
NMT_AVX512 static inline void philox_arrange16(const philox_u16 c[4], philox_u16 words[4]) {
    __m512i t0 = _mm512_unpacklo_epi32((__m512i)c[0], (__m512i)c[1]), t1 = _mm512_unpackhi_epi32((__m512i)c[0], (__m512i)c[1]);
    __m512i t2 = _mm512_unpacklo_epi32((__m512i)c[2], (__m512i)c[3]), t3 = _mm512_unpackhi_epi32((__m512i)c[2], (__m512i)c[3]);
    __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
    __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
    __m512i v0 = _mm512_shuffle_i32x4(u0, u1, 0x44), v1 = _mm512_shuffle_i32x4(u2, u3, 0x44);  // 0,4,1,5 / 2,6,3,7
    __m512i v2 = _mm512_shuffle_i32x4(u0, u1, 0xEE), v3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);  // 8,12,9,13 / 10,14,11,15
    words[0] = (philox_u16)_mm512_shuffle_i32x4(v0, v1, 0x88);
    words[1] = (philox_u16)_mm512_shuffle_i32x4(v0, v1, 0xDD);
    words[2] = (philox_u16)_mm512_shuffle_i32x4(v2, v3, 0x88);
    words[3] = (philox_u16)_mm512_shuffle_i32x4(v2, v3, 0xDD);
}

/// The same order for 8 blocks: blocks 0,4 / 1,5 / 2,6 / 3,7 after the first stage.
NMT_AVX2 static inline void philox_arrange8(const philox_u8 c[4], philox_u8 words[4]) {
    __m256i pairs01[2] = {_mm256_unpacklo_epi32((__m256i)c[0], (__m256i)c[1]), _mm256_unpackhi_epi32((__m256i)c[0], (__m256i)c[1])};
    __m256i pairs23[2] = {_mm256_unpacklo_epi32((__m256i)c[2], (__m256i)c[3]), _mm256_unpackhi_epi32((__m256i)c[2], (__m256i)c[3])};
    __m256i blocks[4];
    for (int h = 0; h < 2; h++) {
        blocks[2 * h] = _mm256_unpacklo_epi64(pairs01[h], pairs23[h]);
        blocks[2 * h + 1] = _mm256_unpackhi_epi64(pairs01[h], pairs23[h]);
    }
    words[0] = (philox_u8)_mm256_permute2x128_si256(blocks[0], blocks[1], 0x20);
    words[1] = (philox_u8)_mm256_permute2x128_si256(blocks[2], blocks[3], 0x20);
    words[2] = (philox_u8)_mm256_permute2x128_si256(blocks[0], blocks[1], 0x31);
    words[3] = (philox_u8)_mm256_permute2x128_si256(blocks[2], blocks[3], 0x31);
}

/// Lane i's low word of its product (even lanes: of `even`, odd lanes: of `odd`) and high
/// word, by blends (a permute would lengthen every round).
NMT_AVX512 static inline void philox_merge16(philox_w16 even, philox_w16 odd, philox_u16 *lo, philox_u16 *hi) {
    *lo = (philox_u16)_mm512_mask_blend_epi32(0xAAAA, (__m512i)even, _mm512_slli_epi64((__m512i)odd, 32));
    *hi = (philox_u16)_mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64((__m512i)even, 32), (__m512i)odd);
}
NMT_AVX2 static inline void philox_merge8(philox_w8 even, philox_w8 odd, philox_u8 *lo, philox_u8 *hi) {
    *lo = (philox_u8)_mm256_blend_epi32((__m256i)even, _mm256_slli_epi64((__m256i)odd, 32), 0xAA);
    *hi = (philox_u8)_mm256_blend_epi32(_mm256_srli_epi64((__m256i)even, 32), (__m256i)odd, 0xAA);
}

NMT_DEFINE_PHILOX_ROUNDS(philox_rounds16, NMT_AVX512, philox_u16, philox_w16, philox_merge16)
NMT_DEFINE_PHILOX_ROUNDS(philox_rounds8, NMT_AVX2, philox_u8, philox_w8, philox_merge8)
NMT_DEFINE_PHILOX_UNIFORMS(philox_uniform16, NMT_AVX512, philox_setup16, philox_rounds16, philox_arrange16, philox_u16, nmt_f16)
NMT_DEFINE_PHILOX_UNIFORMS(philox_uniform8, NMT_AVX2, philox_setup8, philox_rounds8, philox_arrange8, philox_u8, nmt_f8)
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

/// Defines the public kernel `name` of a dropout fused with an operation on two inputs
/// (`a`, `b`, named as in CNMTKernels.h): its tiles are `kind##512` (AVX-512) and
/// `kind##_portable`, for every other width.
#define NMT_DEFINE_TWO_INPUT_DROPOUT(name, a, b, kind)                                                     \
    void name(                                                                                               \
        uint64_t seed, uint64_t stream, uint64_t first, size_t count, float rate, float keep, const float *a, \
        const float *b, float *y, float *mask) {                                                             \
        run_dropout_tiles(                                                                                   \
            seed, stream, first, count, rate, keep, a, b, y, mask, NMT_X86_ONLY(kind##512), NULL, kind##_portable); \
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

NMT_DEFINE_TWO_INPUT_DROPOUT(nmt_bias_relu_dropout, x, bias, bias_relu_dropout)

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

NMT_DEFINE_TWO_INPUT_DROPOUT(nmt_residual_dropout, residual, x, residual_dropout)
