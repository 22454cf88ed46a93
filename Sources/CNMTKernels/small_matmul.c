// Batches of products with a handful of rows: attention while decoding, where each beam's
// query (or each sentence's beams) meets its own keys and values. A decoding step of the
// main job's model makes about 3,800 such products, each a few hundred multiply-adds;
// through `cblas_sgemm` one call each, the calls' fixed costs (argument checks, packing,
// buffer set-up) outweighed the arithmetic.
//
// Each output is one chain of fused multiply-adds over the depth, in order, from +0, then
// times alpha: c = alpha · fma(a[k-1], b[k-1], … fma(a[0], b[0], +0)). A fused multiply-add
// rounds once in a vector lane as in `fmaf`, so every width gives the same bits on every
// CPU. OpenBLAS 0.3.21's SkylakeX and Cooperlake kernels compute the attention products of
// depth 16 in this order (the same bits, checked for 1 to 8 rows and 1 to 130 keys); other
// kernels and depths may round differently, within the usual reordering of a dot product.
//
// B is read through row pointers: row i of B [depth, columns] (or row j of B [columns,
// depth] when transposed) starts at b_rows[i] (b_rows[j]). A strided batch fills them from
// its strides; a decoder's attention history (nmt_history_scores, nmt_history_combine)
// points them at each position's keys and values wherever they were decoded, so the
// history is never copied when beams are reordered.
#include "dispatch.h"

#include <stdlib.h>

/// One product, portable: rows × columns outputs, B read as [depth, columns] (b_transposed
/// 0) or [columns, depth] (1).
static void small_product_portable(
    size_t rows, size_t columns, size_t depth, int b_transposed, float alpha, const float *a, size_t lda,
    const float *const *b_rows, float *c, size_t ldc, size_t first_column) {
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = first_column; j < columns; j++) {
            float sum = 0.0f;
            for (size_t i = 0; i < depth; i++) {
                const float w = b_transposed ? b_rows[j][i] : b_rows[i][j];
                sum = fmaf(a[r * lda + i], w, sum);
            }
            c[r * ldc + j] = alpha * sum;
        }
    }
}

#if NMT_X86
// Up to 8 rows share each vector of B: 8 accumulators, B's vectors and a broadcast fit the
// registers. `rows` is a constant after inlining, so the accumulators stay in registers.
#define NMT_SMALL_ROWS 8

NMT_AVX512 __attribute__((always_inline)) static inline void small_rows512(
    const size_t rows, size_t columns, size_t depth, int b_transposed, float alpha, const float *x, size_t lda,
    const float *const *b_rows, float *c, size_t ldc) {
    const __m512 scale = _mm512_set1_ps(alpha);
    for (size_t j = 0; j < columns; j += 16) {
        const size_t width = columns - j < 16 ? columns - j : 16;
        const __mmask16 mask = nmt_tail16(width);
        __m512 sum[NMT_SMALL_ROWS];
        for (size_t q = 0; q < rows; q++) sum[q] = _mm512_setzero_ps();
        if (b_transposed) {
            // 16 rows of B (16 outputs) at a time, 16 deep, transposed in registers so that
            // lane l of w[i] is B's row j + l at depth i.
            for (size_t i0 = 0; i0 < depth; i0 += 16) {
                const __mmask16 deep = nmt_tail16(depth - i0);
                __m512 w[16];
                for (size_t l = 0; l < 16; l++)
                    w[l] = l < width ? _mm512_maskz_loadu_ps(deep, b_rows[j + l] + i0) : _mm512_setzero_ps();
                nmt_transpose16(w);
                const size_t count = depth - i0 < 16 ? depth - i0 : 16;
                for (size_t i = 0; i < count; i++) {
                    for (size_t q = 0; q < rows; q++)
                        sum[q] = _mm512_fmadd_ps(_mm512_set1_ps(x[q * lda + i0 + i]), w[i], sum[q]);
                }
            }
        } else {
            for (size_t i = 0; i < depth; i++) {
                const __m512 w = _mm512_maskz_loadu_ps(mask, b_rows[i] + j);
                for (size_t q = 0; q < rows; q++) sum[q] = _mm512_fmadd_ps(_mm512_set1_ps(x[q * lda + i]), w, sum[q]);
            }
        }
        for (size_t q = 0; q < rows; q++) _mm512_mask_storeu_ps(c + q * ldc + j, mask, _mm512_mul_ps(scale, sum[q]));
    }
}

NMT_AVX512 static void small_product512(
    size_t rows, size_t columns, size_t depth, int b_transposed, float alpha, const float *a, size_t lda,
    const float *const *b_rows, float *c, size_t ldc) {
    for (size_t r = 0; r < rows; r += NMT_SMALL_ROWS) {
        const float *x = a + r * lda;
        float *out = c + r * ldc;
        switch (rows - r < NMT_SMALL_ROWS ? rows - r : NMT_SMALL_ROWS) {
        case 1: small_rows512(1, columns, depth, b_transposed, alpha, x, lda, b_rows, out, ldc); break;
        case 2: small_rows512(2, columns, depth, b_transposed, alpha, x, lda, b_rows, out, ldc); break;
        case 3: small_rows512(3, columns, depth, b_transposed, alpha, x, lda, b_rows, out, ldc); break;
        case 4: small_rows512(4, columns, depth, b_transposed, alpha, x, lda, b_rows, out, ldc); break;
        case 5: small_rows512(5, columns, depth, b_transposed, alpha, x, lda, b_rows, out, ldc); break;
        case 6: small_rows512(6, columns, depth, b_transposed, alpha, x, lda, b_rows, out, ldc); break;
        case 7: small_rows512(7, columns, depth, b_transposed, alpha, x, lda, b_rows, out, ldc); break;
        default: small_rows512(8, columns, depth, b_transposed, alpha, x, lda, b_rows, out, ldc); break;
        }
    }
}

NMT_AVX2 static void small_product256(
    size_t rows, size_t columns, size_t depth, int b_transposed, float alpha, const float *a, size_t lda,
    const float *const *b_rows, float *c, size_t ldc) {
    const __m256 scale = _mm256_set1_ps(alpha);
    const size_t whole = columns - columns % 8, whole_depth = depth - depth % 8;
    for (size_t r0 = 0; r0 < rows; r0 += NMT_SMALL_ROWS) {
        const size_t block = rows - r0 < NMT_SMALL_ROWS ? rows - r0 : NMT_SMALL_ROWS;
        const float *x = a + r0 * lda;
        for (size_t j = 0; j < whole; j += 8) {
            __m256 sum[NMT_SMALL_ROWS];
            for (size_t q = 0; q < block; q++) sum[q] = _mm256_setzero_ps();
            if (b_transposed) {
                size_t i0 = 0;
                for (; i0 < whole_depth; i0 += 8) {
                    __m256 w[8];
                    for (size_t l = 0; l < 8; l++) w[l] = _mm256_loadu_ps(b_rows[j + l] + i0);
                    nmt_transpose8(w);
                    for (size_t i = 0; i < 8; i++) {
                        for (size_t q = 0; q < block; q++)
                            sum[q] = _mm256_fmadd_ps(_mm256_set1_ps(x[q * lda + i0 + i]), w[i], sum[q]);
                    }
                }
                for (; i0 < depth; i0++) {
                    float column[8];
                    for (size_t l = 0; l < 8; l++) column[l] = b_rows[j + l][i0];
                    const __m256 w = _mm256_loadu_ps(column);
                    for (size_t q = 0; q < block; q++) sum[q] = _mm256_fmadd_ps(_mm256_set1_ps(x[q * lda + i0]), w, sum[q]);
                }
            } else {
                for (size_t i = 0; i < depth; i++) {
                    const __m256 w = _mm256_loadu_ps(b_rows[i] + j);
                    for (size_t q = 0; q < block; q++) sum[q] = _mm256_fmadd_ps(_mm256_set1_ps(x[q * lda + i]), w, sum[q]);
                }
            }
            for (size_t q = 0; q < block; q++) _mm256_storeu_ps(c + (r0 + q) * ldc + j, _mm256_mul_ps(scale, sum[q]));
        }
        small_product_portable(block, columns, depth, b_transposed, alpha, x, lda, b_rows, c + r0 * ldc, ldc, whole);
    }
}
#endif

/// One product at the widest width this CPU allows.
static void small_product(
    size_t rows, size_t columns, size_t depth, int b_transposed, float alpha, const float *a, size_t lda,
    const float *const *b_rows, float *c, size_t ldc) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits == 512) {
        small_product512(rows, columns, depth, b_transposed, alpha, a, lda, b_rows, c, ldc);
        return;
    }
    if (bits == 256) {
        small_product256(rows, columns, depth, b_transposed, alpha, a, lda, b_rows, c, ldc);
        return;
    }
#endif
    small_product_portable(rows, columns, depth, b_transposed, alpha, a, lda, b_rows, c, ldc, 0);
}

/// Room for `count` row pointers: `local` when it is large enough, else the heap. Out of
/// memory it aborts, as Swift's own allocations do, rather than leave outputs unwritten.
static const float **row_pointers(const float **local, size_t local_count, size_t count) {
    if (count <= local_count) return local;
    const float **heap = malloc(count * sizeof(float *));
    if (heap == NULL) abort();
    return heap;
}

#define NMT_LOCAL_ROWS 512

void nmt_small_matmul(
    size_t rows, size_t columns, size_t depth, int b_transposed, float alpha, const float *a, size_t lda,
    const float *b, size_t ldb, float *c, size_t ldc, size_t inner, const ptrdiff_t strides[6], size_t first,
    size_t last) {
    const size_t count = b_transposed ? columns : depth;
    const float *local[NMT_LOCAL_ROWS];
    const float **b_rows = row_pointers(local, NMT_LOCAL_ROWS, count);
    for (size_t index = first; index < last; index++) {
        const size_t o = index / inner, i = index % inner;
        const float *pa = a + (ptrdiff_t)o * strides[0] + (ptrdiff_t)i * strides[1];
        const float *pb = b + (ptrdiff_t)o * strides[2] + (ptrdiff_t)i * strides[3];
        float *pc = c + (ptrdiff_t)o * strides[4] + (ptrdiff_t)i * strides[5];
        for (size_t r = 0; r < count; r++) b_rows[r] = pb + r * ldb;
        small_product(rows, columns, depth, b_transposed, alpha, pa, lda, b_rows, pc, ldc);
    }
    if (b_rows != local) free((void *)b_rows);
}

/// Points `b_rows[s]` at the head slice (`offset` floats in) of row `origin[s]` of
/// position s's [rows, hidden] tensor, for every position.
static void point_at_history(
    const float **b_rows, const float *const *tensors, const int32_t *origin, size_t positions, size_t hidden,
    size_t offset) {
    for (size_t s = 0; s < positions; s++) b_rows[s] = tensors[s] + (size_t)origin[s] * hidden + offset;
}

void nmt_history_scores(
    size_t rows, size_t positions, size_t heads, size_t depth, float alpha, const float *queries,
    const float *const *keys, const int32_t *origins, float *scores) {
    const size_t hidden = heads * depth;
    const float *local[NMT_LOCAL_ROWS];
    const float **b_rows = row_pointers(local, NMT_LOCAL_ROWS, positions);
    for (size_t r = 0; r < rows; r++) {
        for (size_t h = 0; h < heads; h++) {
            point_at_history(b_rows, keys, origins + r * positions, positions, hidden, h * depth);
            small_product(1, positions, depth, 1, alpha, queries + r * hidden + h * depth, depth, b_rows,
                          scores + (r * heads + h) * positions, positions);
        }
    }
    if (b_rows != local) free((void *)b_rows);
}

#if NMT_X86
// Every head of a row at once when the depth is a whole number of vectors: each position's
// values row is read once, and the heads' chains (up to 8 vectors of them at a time) run
// side by side instead of one head's chain waiting on each fused multiply-add in turn.
// Each output is still its own chain over the positions in order, as in the portable path.
NMT_AVX512 static void history_combine512(
    size_t rows, size_t positions, size_t heads, size_t depth, const float *weights, const float *const *values,
    const int32_t *origins, float *out) {
    const size_t hidden = heads * depth, vectors = hidden / 16, per_head = depth / 16;
    for (size_t r = 0; r < rows; r++) {
        const float *w = weights + r * heads * positions;
        const int32_t *origin = origins + r * positions;
        for (size_t v0 = 0; v0 < vectors; v0 += NMT_SMALL_ROWS) {
            const size_t count = vectors - v0 < NMT_SMALL_ROWS ? vectors - v0 : NMT_SMALL_ROWS;
            __m512 sum[NMT_SMALL_ROWS];
            for (size_t v = 0; v < count; v++) sum[v] = _mm512_setzero_ps();
            for (size_t s = 0; s < positions; s++) {
                const float *row = values[s] + (size_t)origin[s] * hidden;
                for (size_t v = 0; v < count; v++) {
                    const size_t head = (v0 + v) / per_head;
                    sum[v] = _mm512_fmadd_ps(_mm512_set1_ps(w[head * positions + s]), _mm512_loadu_ps(row + 16 * (v0 + v)), sum[v]);
                }
            }
            for (size_t v = 0; v < count; v++) _mm512_storeu_ps(out + r * hidden + 16 * (v0 + v), sum[v]);
        }
    }
}
#endif

void nmt_history_combine(
    size_t rows, size_t positions, size_t heads, size_t depth, const float *weights, const float *const *values,
    const int32_t *origins, float *out) {
#if NMT_X86
    if (depth % 16 == 0 && depth > 0 && nmt_kernels_vector_bits() == 512) {
        history_combine512(rows, positions, heads, depth, weights, values, origins, out);
        return;
    }
#endif
    const size_t hidden = heads * depth;
    const float *local[NMT_LOCAL_ROWS];
    const float **b_rows = row_pointers(local, NMT_LOCAL_ROWS, positions);
    for (size_t r = 0; r < rows; r++) {
        for (size_t h = 0; h < heads; h++) {
            point_at_history(b_rows, values, origins + r * positions, positions, hidden, h * depth);
            small_product(1, depth, positions, 0, 1.0f, weights + (r * heads + h) * positions, positions, b_rows,
                          out + r * hidden + h * depth, hidden);
        }
    }
    if (b_rows != local) free((void *)b_rows);
}
