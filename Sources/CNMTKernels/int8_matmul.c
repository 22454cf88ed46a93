// int8 matrix products for inference: weights quantized per output column when a model is
// loaded, activations per row at run time, products summed in int32.
//
// Every width computes the same integers: the sum of int8 × int8 products is exact in
// int32 however it is grouped, and the conversion back to float is the same four IEEE
// operations in every lane. So the three paths (AVX-512 VNNI, AVX2, portable) give the
// same bits, on every CPU, and the tests assert that.
//
// The AVX2 path multiplies |a| (unsigned) by w carrying a's sign with vpmaddubsw. Its
// pair sums saturate at 32767 only above 2·127·127 = 32258, and both sides lie in
// [-127, 127] (the quantizers never produce -128), so it never saturates. VNNI's vpdpbusd
// takes unsigned activations: it adds 128 to each (flipping the top bit) and takes 128
// times the column's weight sum off the total afterwards.
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

#define NMT_INT8_COLUMNS 16
#define NMT_INT8_DEPTH 4

/// Quantizes `count` floats with the row's absolute maximum: q = nearest(x · 127/max),
/// scale = max/127 (0 for an all-zero row; NaN when a value is not finite, so that the
/// product propagates NaN as the float product would).
static float quantize_run(const float *x, size_t count, size_t stride, int8_t *q, size_t q_stride) {
    float largest = 0;
    int finite = 1;
    for (size_t i = 0; i < count; i++) {
        float v = fabsf(x[i * stride]);
        if (!(v <= 3.402823466e38f)) finite = 0;
        else if (v > largest) largest = v;
    }
    if (!finite || largest == 0) {
        for (size_t i = 0; i < count; i++) q[i * q_stride] = 0;
        return finite ? 0.0f : NAN;
    }
    const float inverse = 127.0f / largest;
    for (size_t i = 0; i < count; i++) {
        float scaled = nearbyintf(x[i * stride] * inverse);
        // x · (127/max) may round a hair past ±127.
        if (scaled > 127.0f) scaled = 127.0f;
        if (scaled < -127.0f) scaled = -127.0f;
        q[i * q_stride] = (int8_t)scaled;
    }
    return largest / 127.0f;
}

size_t nmt_int8_padded_depth(size_t k) { return (k + NMT_INT8_DEPTH - 1) / NMT_INT8_DEPTH * NMT_INT8_DEPTH; }

size_t nmt_int8_column_blocks(size_t n) { return (n + NMT_INT8_COLUMNS - 1) / NMT_INT8_COLUMNS; }

void nmt_int8_pack_weights(
    const float *w, size_t k, size_t n, size_t row_stride, size_t column_stride, int8_t *packed, float *scales,
    int32_t *column_sums) {
    const size_t depth = nmt_int8_padded_depth(k), blocks = nmt_int8_column_blocks(n);
    memset(packed, 0, blocks * NMT_INT8_COLUMNS * depth);
    int8_t *column = depth ? (int8_t *)malloc(depth) : NULL;
    for (size_t j = 0; j < blocks * NMT_INT8_COLUMNS; j++) {
        scales[j] = 0;
        column_sums[j] = 0;
        if (j >= n) continue;
        scales[j] = quantize_run(w + j * column_stride, k, row_stride, column, 1);
        const size_t block = j / NMT_INT8_COLUMNS, lane = j % NMT_INT8_COLUMNS;
        int32_t sum = 0;
        for (size_t i = 0; i < k; i++) {
            // Block-major; inside a block, 4 consecutive depths of one column are adjacent.
            size_t group = i / NMT_INT8_DEPTH, within = i % NMT_INT8_DEPTH;
            packed[(block * (depth / NMT_INT8_DEPTH) + group) * NMT_INT8_COLUMNS * NMT_INT8_DEPTH
                   + lane * NMT_INT8_DEPTH + within] = column[i];
            sum += column[i];
        }
        column_sums[j] = sum;
    }
    free(column);
}

#if NMT_X86
// The row quantizer in vectors: the same maximum (max is exact), the same 127/max, and
// vcvtps2dq rounding x · (127/max) to nearest-even as nearbyintf does in the default
// rounding mode; the clamp to ±127 and the conversion to bytes saturate alike.

/// The row's largest |x|, or -1 when a value is NaN or infinite.
NMT_AVX512 static float largest_magnitude512(const float *x, size_t count) {
    const __m512 limit = _mm512_set1_ps(3.402823466e38f);
    __m512 largest = _mm512_setzero_ps();
    __mmask16 finite = 0xFFFF;
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 valid = nmt_tail16(count - i);
        __m512 v = _mm512_abs_ps(_mm512_maskz_loadu_ps(valid, x + i));
        finite &= _mm512_cmp_ps_mask(v, limit, _CMP_LE_OQ);
        largest = _mm512_max_ps(largest, v);
    }
    return finite == 0xFFFF ? _mm512_reduce_max_ps(largest) : -1.0f;
}

NMT_AVX512 static void quantize_row512(const float *x, size_t k, size_t depth, int8_t *q, float *scale) {
    const float largest = largest_magnitude512(x, k);
    if (largest <= 0) {
        memset(q, 0, depth);
        *scale = largest == 0 ? 0.0f : NAN;
        return;
    }
    const __m512 inverse = _mm512_set1_ps(127.0f / largest);
    const __m512i high = _mm512_set1_epi32(127), low = _mm512_set1_epi32(-127);
    for (size_t i = 0; i < depth; i += 16) {
        // Padding past k loads zeros, which quantize to 0.
        __mmask16 valid = i < k ? nmt_tail16(k - i) : 0;
        __m512i n = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(valid, x + i), inverse));
        n = _mm512_max_epi32(_mm512_min_epi32(n, high), low);
        _mm512_mask_cvtsepi32_storeu_epi8(q + i, nmt_tail16(depth - i), n);
    }
    *scale = largest / 127.0f;
}

NMT_AVX2 static void quantize_row256(const float *x, size_t k, size_t depth, int8_t *q, float *scale) {
    const __m256 sign = _mm256_set1_ps(-0.0f), limit = _mm256_set1_ps(3.402823466e38f);
    __m256 largest = _mm256_setzero_ps();
    int finite = 1;
    size_t i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 v = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i));
        finite &= _mm256_movemask_ps(_mm256_cmp_ps(v, limit, _CMP_LE_OQ)) == 0xFF;
        largest = _mm256_max_ps(largest, v);
    }
    float each[8], best = 0;
    _mm256_storeu_ps(each, largest);
    for (int lane = 0; lane < 8; lane++) best = each[lane] > best ? each[lane] : best;
    for (; i < k; i++) {
        float v = fabsf(x[i]);
        if (!(v <= 3.402823466e38f)) finite = 0;
        else if (v > best) best = v;
    }
    if (!finite || best == 0) {
        memset(q, 0, depth);
        *scale = finite ? 0.0f : NAN;
        return;
    }
    const float inverse1 = 127.0f / best;
    const __m256 inverse = _mm256_set1_ps(inverse1);
    const __m256i high = _mm256_set1_epi32(127), low = _mm256_set1_epi32(-127);
    for (i = 0; i + 8 <= k; i += 8) {
        __m256i n = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), inverse));
        n = _mm256_max_epi32(_mm256_min_epi32(n, high), low);
        __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(n), _mm256_extracti128_si256(n, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(words, words));
    }
    for (; i < k; i++) {
        float scaled = nearbyintf(x[i] * inverse1);
        if (scaled > 127.0f) scaled = 127.0f;
        if (scaled < -127.0f) scaled = -127.0f;
        q[i] = (int8_t)scaled;
    }
    for (; i < depth; i++) q[i] = 0;
    *scale = best / 127.0f;
}
#endif

void nmt_int8_quantize_rows(const float *x, size_t rows, size_t k, int8_t *q, float *scales) {
    const size_t depth = nmt_int8_padded_depth(k);
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) {
        for (size_t r = 0; r < rows; r++) quantize_row512(x + r * k, k, depth, q + r * depth, scales + r);
        return;
    }
    if (bits >= 256) {
        for (size_t r = 0; r < rows; r++) quantize_row256(x + r * k, k, depth, q + r * depth, scales + r);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++) {
        scales[r] = quantize_run(x + r * k, k, 1, q + r * depth, 1);
        for (size_t i = k; i < depth; i++) q[r * depth + i] = 0;
    }
}

/// The float of one output: the integer sum scaled by both scales, plus the bias, then
/// ReLU; the operations every vector lane repeats.
static inline float dequantize1(int32_t sum, float row_scale, float column_scale, const float *bias, size_t j, int relu) {
    float y = (float)sum * (row_scale * column_scale);
    if (bias) y = y + bias[j];
    if (relu) y = y > 0.0f ? y : 0.0f;
    return y;
}

/// Portable: each output's sum in depth order (any order gives the same integer).
static void int8_portable(
    const int8_t *a, const float *a_scales, size_t m, size_t depth, const int8_t *packed, const float *w_scales,
    size_t n, const float *bias, int relu, float *c, size_t block_begin, size_t block_end) {
    const size_t groups = depth / NMT_INT8_DEPTH;
    for (size_t block = block_begin; block < block_end; block++) {
        const int8_t *w = packed + block * groups * NMT_INT8_COLUMNS * NMT_INT8_DEPTH;
        for (size_t r = 0; r < m; r++) {
            for (size_t lane = 0; lane < NMT_INT8_COLUMNS; lane++) {
                size_t j = block * NMT_INT8_COLUMNS + lane;
                if (j >= n) break;
                int32_t sum = 0;
                for (size_t g = 0; g < groups; g++)
                    for (size_t t = 0; t < NMT_INT8_DEPTH; t++)
                        sum += (int32_t)a[r * depth + g * NMT_INT8_DEPTH + t]
                               * (int32_t)w[(g * NMT_INT8_COLUMNS + lane) * NMT_INT8_DEPTH + t];
                c[r * n + j] = dequantize1(sum, a_scales[r], w_scales[j], bias, j, relu);
            }
        }
    }
}

#if NMT_X86
#define NMT_VNNI __attribute__((target("avx512f,avx512vnni")))

/// Writes one row's 16 sums of block `block` as floats (masked past column n).
NMT_VNNI static inline void store16(
    __m512i sums, float row_scale, const float *w_scales, const float *bias, int relu, float *c_row, size_t n,
    size_t block) {
    const size_t first = block * NMT_INT8_COLUMNS;
    const __mmask16 valid = nmt_tail16(n - first);
    __m512 scale = _mm512_mul_ps(_mm512_set1_ps(row_scale), _mm512_loadu_ps(w_scales + first));
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(sums), scale);
    if (bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(valid, bias + first));
    // max(y, 0) returns 0 for NaN, as the portable y > 0 ? y : 0 does.
    if (relu) y = _mm512_max_ps(y, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(c_row + first, valid, y);
}

/// R rows × CB blocks of 16 columns: R·CB accumulators, one weight load per block and
/// depth group, one broadcast per row. Always inlined with constant R and CB, so the
/// accumulators stay in registers.
NMT_VNNI static inline __attribute__((always_inline)) void vnni_tile(
    const int8_t *a, const float *a_scales, size_t depth, const int8_t *packed, const float *w_scales,
    const int32_t *column_sums, size_t n, const float *bias, int relu, float *c, size_t block, const int R,
    const int CB) {
    const size_t groups = depth / NMT_INT8_DEPTH, block_bytes = groups * NMT_INT8_COLUMNS * NMT_INT8_DEPTH;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i acc[4][4];
    for (int r = 0; r < R; r++)
        for (int b = 0; b < CB; b++) acc[r][b] = _mm512_setzero_si512();
    const int8_t *w = packed + block * block_bytes;
    for (size_t g = 0; g < groups; g++) {
        __m512i weights[4];
        for (int b = 0; b < CB; b++) weights[b] = _mm512_loadu_si512(w + b * block_bytes + g * 64);
        for (int r = 0; r < R; r++) {
            int32_t four;
            memcpy(&four, a + r * depth + g * NMT_INT8_DEPTH, sizeof four);
            __m512i shifted = _mm512_xor_si512(_mm512_set1_epi32(four), flip);
            for (int b = 0; b < CB; b++) acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], shifted, weights[b]);
        }
    }
    for (int b = 0; b < CB; b++) {
        __m512i offsets = _mm512_slli_epi32(_mm512_loadu_si512(column_sums + (block + b) * NMT_INT8_COLUMNS), 7);
        for (int r = 0; r < R; r++)
            store16(_mm512_sub_epi32(acc[r][b], offsets), a_scales[r], w_scales, bias, relu, c + r * n, n, block + b);
    }
}

NMT_VNNI static void int8_vnni(
    const int8_t *a, const float *a_scales, size_t m, size_t depth, const int8_t *packed, const float *w_scales,
    const int32_t *column_sums, size_t n, const float *bias, int relu, float *c, size_t block_begin, size_t block_end) {
#define NMT_VNNI_ROWS(CB)                                                                                        \
    do {                                                                                                         \
        size_t r = 0;                                                                                            \
        for (; r + 4 <= m; r += 4)                                                                               \
            vnni_tile(a + r * depth, a_scales + r, depth, packed, w_scales, column_sums, n, bias, relu, c + r * n, \
                      block, 4, CB);                                                                             \
        switch (m - r) {                                                                                         \
        case 3: vnni_tile(a + r * depth, a_scales + r, depth, packed, w_scales, column_sums, n, bias, relu, c + r * n, block, 3, CB); break; \
        case 2: vnni_tile(a + r * depth, a_scales + r, depth, packed, w_scales, column_sums, n, bias, relu, c + r * n, block, 2, CB); break; \
        case 1: vnni_tile(a + r * depth, a_scales + r, depth, packed, w_scales, column_sums, n, bias, relu, c + r * n, block, 1, CB); break; \
        default: break;                                                                                          \
        }                                                                                                        \
    } while (0)
    size_t block = block_begin;
    // Four blocks (64 columns) at a time: their weights stay in L1 while every row passes.
    for (; block + 4 <= block_end; block += 4) NMT_VNNI_ROWS(4);
    for (; block < block_end; block++) NMT_VNNI_ROWS(1);
#undef NMT_VNNI_ROWS
}

/// Writes 8 sums of one row (columns first..first+7) as floats, the tail through the
/// portable step.
NMT_AVX2 static inline void store8(
    __m256i sums, float row_scale, const float *w_scales, const float *bias, int relu, float *c_row, size_t n,
    size_t first) {
    if (first >= n) return;
    if (first + 8 > n) {
        int32_t each[8];
        _mm256_storeu_si256((__m256i *)each, sums);
        for (size_t j = first; j < n; j++) c_row[j] = dequantize1(each[j - first], row_scale, w_scales[j], bias, j, relu);
        return;
    }
    __m256 scale = _mm256_mul_ps(_mm256_set1_ps(row_scale), _mm256_loadu_ps(w_scales + first));
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(sums), scale);
    if (bias) y = _mm256_add_ps(y, _mm256_loadu_ps(bias + first));
    if (relu) y = _mm256_max_ps(y, _mm256_setzero_ps());
    _mm256_storeu_ps(c_row + first, y);
}

/// R rows × one block of 16 columns (two 8-column halves).
NMT_AVX2 static inline __attribute__((always_inline)) void avx2_tile(
    const int8_t *a, const float *a_scales, size_t depth, const int8_t *packed, const float *w_scales, size_t n,
    const float *bias, int relu, float *c, size_t block, const int R) {
    const size_t groups = depth / NMT_INT8_DEPTH;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4][2];
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const int8_t *w = packed + block * groups * NMT_INT8_COLUMNS * NMT_INT8_DEPTH;
    for (size_t g = 0; g < groups; g++) {
        __m256i low = _mm256_loadu_si256((const __m256i *)(w + g * 64));
        __m256i high = _mm256_loadu_si256((const __m256i *)(w + g * 64 + 32));
        for (int r = 0; r < R; r++) {
            int32_t four;
            memcpy(&four, a + r * depth + g * NMT_INT8_DEPTH, sizeof four);
            __m256i values = _mm256_set1_epi32(four);
            __m256i magnitudes = _mm256_sign_epi8(values, values);
            __m256i pairs0 = _mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(low, values));
            __m256i pairs1 = _mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(high, values));
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(pairs0, ones));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(pairs1, ones));
        }
    }
    for (int r = 0; r < R; r++) {
        store8(acc[r][0], a_scales[r], w_scales, bias, relu, c + r * n, n, block * NMT_INT8_COLUMNS);
        store8(acc[r][1], a_scales[r], w_scales, bias, relu, c + r * n, n, block * NMT_INT8_COLUMNS + 8);
    }
}

NMT_AVX2 static void int8_avx2(
    const int8_t *a, const float *a_scales, size_t m, size_t depth, const int8_t *packed, const float *w_scales,
    size_t n, const float *bias, int relu, float *c, size_t block_begin, size_t block_end) {
    for (size_t block = block_begin; block < block_end; block++) {
        size_t r = 0;
        for (; r + 4 <= m; r += 4)
            avx2_tile(a + r * depth, a_scales + r, depth, packed, w_scales, n, bias, relu, c + r * n, block, 4);
        switch (m - r) {
        case 3: avx2_tile(a + r * depth, a_scales + r, depth, packed, w_scales, n, bias, relu, c + r * n, block, 3); break;
        case 2: avx2_tile(a + r * depth, a_scales + r, depth, packed, w_scales, n, bias, relu, c + r * n, block, 2); break;
        case 1: avx2_tile(a + r * depth, a_scales + r, depth, packed, w_scales, n, bias, relu, c + r * n, block, 1); break;
        default: break;
        }
    }
}
#endif

int nmt_int8_width(void) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512 && __builtin_cpu_supports("avx512vnni")) return 512;
    if (bits >= 256) return 256;
#endif
    return 0;
}

void nmt_int8_matmul(
    const int8_t *a, const float *a_scales, size_t m, size_t k, const int8_t *packed, const float *w_scales,
    const int32_t *column_sums, size_t n, const float *bias, int relu, float *c, size_t block_begin, size_t block_end) {
    const size_t depth = nmt_int8_padded_depth(k);
#if NMT_X86
    const int width = nmt_int8_width();
    if (width == 512) {
        int8_vnni(a, a_scales, m, depth, packed, w_scales, column_sums, n, bias, relu, c, block_begin, block_end);
        return;
    }
    if (width == 256) {
        int8_avx2(a, a_scales, m, depth, packed, w_scales, n, bias, relu, c, block_begin, block_end);
        return;
    }
#endif
    (void)column_sums;
    int8_portable(a, a_scales, m, depth, packed, w_scales, n, bias, relu, c, block_begin, block_end);
}
