// Products accumulated into an existing output, for the logits layer's backward pass
// (ProjectedCrossEntropyKernels): the gradient tile times the hidden rows gives the weight
// gradient, the tile times the weight rows gives the hidden gradient. One operand is read
// through two strides, so the tile serves both products as it lies and nothing is packed
// or transposed (BLAS packed the whole [tokens, vocabulary] gradient twice per step).
//
// Each output continues one chain of fused multiply-adds over the depth, in order, from its
// current value: c = fma(a[d-1], b[d-1], … fma(a[0], b[0], c)). A fused multiply-add rounds
// once, the same in a vector lane as in `fmaf`, so every width (AVX-512, AVX2, portable)
// gives the same bits on every CPU, and a depth split into consecutive calls gives the
// same bits as one call.
#include "dispatch.h"

static void accumulate_portable(
    const float *a, size_t ars, size_t ads, const float *b, size_t ldb, float *c, size_t ldc, size_t rows,
    size_t depth, size_t first_column, size_t columns) {
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = first_column; j < first_column + columns; j++) {
            float sum = c[r * ldc + j];
            for (size_t i = 0; i < depth; i++) sum = fmaf(a[r * ars + i * ads], b[i * ldb + j], sum);
            c[r * ldc + j] = sum;
        }
    }
}

#if NMT_X86
// Up to 6 rows × 64 columns: 24 accumulators and 4 vectors of b in the 32 registers, the
// broadcasts of a folded into the multiply-adds. `rows` is a constant after inlining.
NMT_AVX512 __attribute__((always_inline)) static inline void block_avx512(
    const float *a, size_t ars, size_t ads, const float *b, size_t ldb, float *c, size_t ldc, const size_t rows,
    size_t depth, size_t columns) {
    __mmask16 mask[4];
    for (size_t v = 0; v < 4; v++) mask[v] = columns > 16 * v ? nmt_tail16(columns - 16 * v) : 0;
    __m512 sum[6][4];
    for (size_t r = 0; r < rows; r++)
        for (size_t v = 0; v < 4; v++) sum[r][v] = _mm512_maskz_loadu_ps(mask[v], c + r * ldc + 16 * v);
    for (size_t i = 0; i < depth; i++) {
        __m512 w[4];
        for (size_t v = 0; v < 4; v++) w[v] = _mm512_maskz_loadu_ps(mask[v], b + i * ldb + 16 * v);
        for (size_t r = 0; r < rows; r++) {
            const __m512 x = _mm512_set1_ps(a[r * ars + i * ads]);
            for (size_t v = 0; v < 4; v++) sum[r][v] = _mm512_fmadd_ps(x, w[v], sum[r][v]);
        }
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t v = 0; v < 4; v++) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask[v], sum[r][v]);
}

NMT_AVX512 static void accumulate_avx512(
    const float *a, size_t ars, size_t ads, const float *b, size_t ldb, float *c, size_t ldc, size_t rows,
    size_t depth, size_t columns) {
    for (size_t j = 0; j < columns; j += 64) {
        const size_t width = columns - j < 64 ? columns - j : 64;
        size_t r = 0;
        for (; r + 6 <= rows; r += 6) block_avx512(a + r * ars, ars, ads, b + j, ldb, c + r * ldc + j, ldc, 6, depth, width);
        // The rest in blocks of 4, 2 and 1, which share the loads of b less.
        if (r + 4 <= rows) block_avx512(a + r * ars, ars, ads, b + j, ldb, c + r * ldc + j, ldc, 4, depth, width), r += 4;
        if (r + 2 <= rows) block_avx512(a + r * ars, ars, ads, b + j, ldb, c + r * ldc + j, ldc, 2, depth, width), r += 2;
        if (r < rows) block_avx512(a + r * ars, ars, ads, b + j, ldb, c + r * ldc + j, ldc, 1, depth, width);
    }
}

// Up to 4 rows × 16 columns: 8 accumulators, 2 vectors of b and a broadcast in AVX2's 16
// registers.
NMT_AVX2 __attribute__((always_inline)) static inline void block_avx2(
    const float *a, size_t ars, size_t ads, const float *b, size_t ldb, float *c, size_t ldc, const size_t rows,
    size_t depth) {
    __m256 low[4], high[4];
    for (size_t r = 0; r < rows; r++) low[r] = _mm256_loadu_ps(c + r * ldc), high[r] = _mm256_loadu_ps(c + r * ldc + 8);
    for (size_t i = 0; i < depth; i++) {
        const __m256 w0 = _mm256_loadu_ps(b + i * ldb), w1 = _mm256_loadu_ps(b + i * ldb + 8);
        for (size_t r = 0; r < rows; r++) {
            const __m256 x = _mm256_set1_ps(a[r * ars + i * ads]);
            low[r] = _mm256_fmadd_ps(x, w0, low[r]);
            high[r] = _mm256_fmadd_ps(x, w1, high[r]);
        }
    }
    for (size_t r = 0; r < rows; r++) _mm256_storeu_ps(c + r * ldc, low[r]), _mm256_storeu_ps(c + r * ldc + 8, high[r]);
}

NMT_AVX2 static void accumulate_avx2(
    const float *a, size_t ars, size_t ads, const float *b, size_t ldb, float *c, size_t ldc, size_t rows,
    size_t depth, size_t columns) {
    size_t j = 0;
    for (; j + 16 <= columns; j += 16) {
        size_t r = 0;
        for (; r + 4 <= rows; r += 4) block_avx2(a + r * ars, ars, ads, b + j, ldb, c + r * ldc + j, ldc, 4, depth);
        for (; r < rows; r++) block_avx2(a + r * ars, ars, ads, b + j, ldb, c + r * ldc + j, ldc, 1, depth);
    }
    // Fewer than 16 columns left: the same chains, one output at a time.
    accumulate_portable(a, ars, ads, b, ldb, c, ldc, rows, depth, j, columns - j);
}
#endif

void nmt_accumulate_products(
    const float *a, size_t a_row_stride, size_t a_depth_stride, const float *b, size_t ldb, float *c, size_t ldc,
    size_t rows, size_t depth, size_t columns) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) {
        accumulate_avx512(a, a_row_stride, a_depth_stride, b, ldb, c, ldc, rows, depth, columns);
        return;
    }
    if (bits >= 256) {
        accumulate_avx2(a, a_row_stride, a_depth_stride, b, ldb, c, ldc, rows, depth, columns);
        return;
    }
#endif
    accumulate_portable(a, a_row_stride, a_depth_stride, b, ldb, c, ldc, rows, depth, 0, columns);
}
