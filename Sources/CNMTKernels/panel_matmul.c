// Float products against a weight matrix packed once into panels of 16 output columns,
// for products repeated with few rows: a decoding step's logits. BLAS packs its operand
// again on every call and zeroes the output first; for [rows, 64] · [64, 8,340] those two
// passes cost 17 % of a beam-search run against 22 % for the arithmetic (perf, AMD EPYC,
// 2026-12-07).
//
// Each output is one chain of fused multiply-adds over the depth, in order, from +0, then
// plus the bias: c = fma(a[k-1], w[k-1], ... fma(a[0], w[0], +0)) + bias. A fused
// multiply-add rounds once, the same in a vector lane as in `fmaf`, so every width (AVX-512,
// AVX2, portable) gives the same bits on every CPU.
#include "dispatch.h"

#include <string.h>

#define NMT_PANEL 16

size_t nmt_panel_count(size_t n) { return (n + NMT_PANEL - 1) / NMT_PANEL; }

static void panel_pack_portable(const float *w, size_t n, size_t k, float *packed, size_t first_panel) {
    for (size_t p = first_panel; p < nmt_panel_count(n); p++) {
        for (size_t i = 0; i < k; i++) {
            float *slot = packed + (p * k + i) * NMT_PANEL;
            for (size_t lane = 0; lane < NMT_PANEL; lane++) {
                const size_t j = p * NMT_PANEL + lane;
                slot[lane] = j < n ? w[j * k + i] : 0.0f;
            }
        }
    }
}

#if NMT_X86
// Packing is a transpose of each panel's [16, k] rows: 16 × 16 blocks (8 × 8 at AVX2)
// transposed in registers instead of one strided load per float (in a profile of the main
// job's training, the scalar loop took about half a millisecond per step and replica for
// the [8,340, 64] output layer). The floats are only moved, so every path packs the same
// bits.

/// Whole panels (16 rows of `w`), 16 deep at a time; a depth tail loads masked.
NMT_AVX512 static size_t panel_pack512(const float *w, size_t n, size_t k, float *packed) {
    const size_t whole = n / NMT_PANEL;
    for (size_t p = 0; p < whole; p++) {
        for (size_t i = 0; i < k; i += 16) {
            const __mmask16 valid = nmt_tail16(k - i);
            __m512 v[16];
            for (int lane = 0; lane < 16; lane++) v[lane] = _mm512_maskz_loadu_ps(valid, w + (p * NMT_PANEL + lane) * k + i);
            nmt_transpose16(v);
            const size_t depth = k - i < 16 ? k - i : 16;
            for (size_t d = 0; d < depth; d++) _mm512_storeu_ps(packed + (p * k + i + d) * NMT_PANEL, v[d]);
        }
    }
    return whole;
}

/// Whole panels as two halves of 8 rows, 8 deep at a time; a depth tail goes lane by lane.
NMT_AVX2 static size_t panel_pack256(const float *w, size_t n, size_t k, float *packed) {
    const size_t whole = n / NMT_PANEL;
    for (size_t p = 0; p < whole; p++) {
        for (size_t half = 0; half < 2; half++) {
            const float *rows = w + (p * NMT_PANEL + half * 8) * k;
            float *out = packed + p * k * NMT_PANEL + half * 8;
            size_t i = 0;
            for (; i + 8 <= k; i += 8) {
                __m256 v[8];
                for (int lane = 0; lane < 8; lane++) v[lane] = _mm256_loadu_ps(rows + lane * k + i);
                nmt_transpose8(v);
                for (int d = 0; d < 8; d++) _mm256_storeu_ps(out + (i + d) * NMT_PANEL, v[d]);
            }
            for (; i < k; i++) {
                for (size_t lane = 0; lane < 8; lane++) out[i * NMT_PANEL + lane] = rows[lane * k + i];
            }
        }
    }
    return whole;
}
#endif

void nmt_panel_pack(const float *w, size_t n, size_t k, float *packed) {
    size_t done = 0;
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) done = panel_pack512(w, n, k, packed);
    else if (bits >= 256) done = panel_pack256(w, n, k, packed);
#endif
    // The last, partial panel (and every panel on the portable path).
    panel_pack_portable(w, n, k, packed, done);
}

// Each kernel computes `rows` rows of `x` (a constant after inlining) against one panel
// (AVX-512: up to three, `panel_block_avx512`), writing up to 16 outputs per panel and row
// at stride `ldc`. The rows share each load of a panel.

static void panel_rows_portable(
    const float *x, size_t k, const float *panel, const float *bias, float *c, size_t ldc, size_t rows,
    size_t columns) {
    for (size_t r = 0; r < rows; r++) {
        for (size_t lane = 0; lane < columns; lane++) {
            float sum = 0.0f;
            for (size_t i = 0; i < k; i++) sum = fmaf(x[r * k + i], panel[i * NMT_PANEL + lane], sum);
            c[r * ldc + lane] = bias ? sum + bias[lane] : sum;
        }
    }
}

#if NMT_X86
// `rows` (8, 4 or 1) rows against `panels` (1 to 3) consecutive panels, both constants
// after inlining: 8 × 3 accumulators, the three panels' vectors and a broadcast fill the
// 32 registers. Each broadcast serves three panels and each panel load eight rows.
// `last_columns` (≤ 16) are written of the last panel, 16 of the others.
NMT_AVX512 __attribute__((always_inline)) static inline void panel_block_avx512(
    const float *x, size_t k, const float *panel, const float *bias, float *c, size_t ldc, const size_t rows,
    const size_t panels, size_t last_columns) {
    const size_t panel_floats = k * NMT_PANEL;
    __m512 sum[8][3];
    for (size_t q = 0; q < rows; q++)
        for (size_t p = 0; p < panels; p++) sum[q][p] = _mm512_setzero_ps();
    for (size_t i = 0; i < k; i++) {
        __m512 w[3];
        for (size_t p = 0; p < panels; p++) w[p] = _mm512_loadu_ps(panel + p * panel_floats + i * NMT_PANEL);
        for (size_t q = 0; q < rows; q++) {
            const __m512 v = _mm512_set1_ps(x[q * k + i]);
            for (size_t p = 0; p < panels; p++) sum[q][p] = _mm512_fmadd_ps(v, w[p], sum[q][p]);
        }
    }
    for (size_t p = 0; p < panels; p++) {
        const __mmask16 mask = nmt_tail16(p + 1 == panels ? last_columns : NMT_PANEL);
        const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + p * NMT_PANEL) : _mm512_setzero_ps();
        for (size_t q = 0; q < rows; q++) {
            float *out = c + q * ldc + p * NMT_PANEL;
            _mm512_mask_storeu_ps(out, mask, bias ? _mm512_add_ps(sum[q][p], b) : sum[q][p]);
        }
    }
}

// 4 rows: a panel is two 8-float halves, so 8 accumulators.
NMT_AVX2 __attribute__((always_inline)) static inline void panel_rows_avx2(
    const float *x, size_t k, const float *panel, const float *bias, float *c, size_t ldc, const size_t rows,
    size_t columns) {
    __m256 low[4], high[4];
    for (size_t q = 0; q < rows; q++) low[q] = high[q] = _mm256_setzero_ps();
    for (size_t i = 0; i < k; i++) {
        const __m256 w0 = _mm256_loadu_ps(panel + i * NMT_PANEL), w1 = _mm256_loadu_ps(panel + i * NMT_PANEL + 8);
        for (size_t q = 0; q < rows; q++) {
            const __m256 v = _mm256_set1_ps(x[q * k + i]);
            low[q] = _mm256_fmadd_ps(v, w0, low[q]);
            high[q] = _mm256_fmadd_ps(v, w1, high[q]);
        }
    }
    float padded_bias[NMT_PANEL] = {0}, row[NMT_PANEL];
    if (bias) memcpy(padded_bias, bias, columns * sizeof(float));
    const __m256 b0 = _mm256_loadu_ps(padded_bias), b1 = _mm256_loadu_ps(padded_bias + 8);
    for (size_t q = 0; q < rows; q++) {
        float *out = columns == NMT_PANEL ? c + q * ldc : row;
        _mm256_storeu_ps(out, bias ? _mm256_add_ps(low[q], b0) : low[q]);
        _mm256_storeu_ps(out + 8, bias ? _mm256_add_ps(high[q], b1) : high[q]);
        if (columns < NMT_PANEL) memcpy(c + q * ldc, row, columns * sizeof(float));
    }
}

/// `rows` rows against `panels` (1 to 3) panels.
NMT_AVX512 static void panel_avx512(
    const float *x, size_t k, const float *panel, const float *bias, float *c, size_t ldc, size_t rows, size_t panels,
    size_t last_columns) {
#define NMT_PANEL_ROWS(R)                                                                              \
    switch (panels) {                                                                                  \
    case 3: panel_block_avx512(x, k, panel, bias, c, ldc, R, 3, last_columns); break;                  \
    case 2: panel_block_avx512(x, k, panel, bias, c, ldc, R, 2, last_columns); break;                  \
    default: panel_block_avx512(x, k, panel, bias, c, ldc, R, 1, last_columns); break;                 \
    }
    if (rows == 8) {
        NMT_PANEL_ROWS(8)
    } else if (rows == 4) {
        NMT_PANEL_ROWS(4)
    } else {
        for (size_t r = 0; r < rows; r++, x += k, c += ldc) {
            NMT_PANEL_ROWS(1)
        }
    }
#undef NMT_PANEL_ROWS
}

NMT_AVX2 static void panel_avx2(
    const float *x, size_t k, const float *panel, const float *bias, float *c, size_t ldc, size_t rows, size_t columns) {
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) panel_rows_avx2(x + r * k, k, panel, bias, c + r * ldc, ldc, 4, columns);
    for (; r < rows; r++) panel_rows_avx2(x + r * k, k, panel, bias, c + r * ldc, ldc, 1, columns);
}
#endif

void nmt_panel_matmul(
    const float *a, size_t m, size_t k, const float *packed, size_t n, const float *bias, float *c, size_t panel_begin,
    size_t panel_end) {
    nmt_panel_matmul_into(a, m, k, packed, n, bias, c + panel_begin * NMT_PANEL, n, panel_begin, panel_end);
}

void nmt_panel_matmul_into(
    const float *a, size_t m, size_t k, const float *packed, size_t n, const float *bias, float *c, size_t ldc,
    size_t panel_begin, size_t panel_end) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
#endif
    // Panels in groups of about 128 KiB, which stay in L2 while every block of rows passes
    // over them; each block writes its rows' outputs for the group contiguously. (Every
    // panel against all the rows in turn wrote 16 floats into each of the rows' pages and
    // ran 30 % slower in the decoder than in isolation.)
    const size_t panel_floats = k * NMT_PANEL;
    // AVX-512 computes 3 panels at a time when they are deep (k ≥ 256): a deep panel
    // fills half the L1 cache or more, so with one panel per block the rows' x, read again
    // for every panel, fell out of it. In a C harness on one core of AMD EPYC Zen 4
    // (2026-12-08; its multiply-add peak is 117 GFLOP/s), 3 panels gave 89 → 99 GFLOP/s at
    // k = 512 with 32 rows and 35 → 51 with 5 rows; at k = 64-128 with 128 rows, where
    // everything fits in L1, single panels were 3-5 % faster. A group holds whole steps.
#if NMT_X86
    const size_t step = bits == 512 && k >= 256 ? 3 : 1;
#else
    const size_t step = 1;
#endif
    const size_t fitting = panel_floats == 0 ? step : 32768 / panel_floats;
    const size_t group = fitting < step ? step : fitting / step * step;
    for (size_t first_panel = panel_begin; first_panel < panel_end; first_panel += group) {
        const size_t end_panel = panel_end - first_panel < group ? panel_end : first_panel + group;
        for (size_t r = 0; r < m;) {
            // Blocks of 8 rows, then one of 4 (beam search decodes 4 rows a sentence), then single rows.
            const size_t rows = m - r >= 8 ? 8 : m - r >= 4 ? 4 : m - r;
            const float *x = a + r * k;
            float *row_out = c + r * ldc;
#if NMT_X86
            if (bits == 512) {
                for (size_t p = first_panel; p < end_panel; p += step) {
                    const size_t panels = end_panel - p < step ? end_panel - p : step;
                    const size_t last = (p + panels - 1) * NMT_PANEL;
                    const size_t last_columns = n - last < NMT_PANEL ? n - last : NMT_PANEL;
                    panel_avx512(
                        x, k, packed + p * panel_floats, bias ? bias + p * NMT_PANEL : NULL,
                        row_out + (p - panel_begin) * NMT_PANEL, ldc, rows, panels, last_columns);
                }
                r += rows;
                continue;
            }
#endif
            for (size_t p = first_panel; p < end_panel; p++) {
                const size_t first = p * NMT_PANEL, columns = n - first < NMT_PANEL ? n - first : NMT_PANEL;
                const float *panel = packed + p * panel_floats, *panel_bias = bias ? bias + first : NULL;
                float *out = row_out + (first - panel_begin * NMT_PANEL);
#if NMT_X86
                if (bits == 256) {
                    panel_avx2(x, k, panel, panel_bias, out, ldc, rows, columns);
                    continue;
                }
#endif
                panel_rows_portable(x, k, panel, panel_bias, out, ldc, rows, columns);
            }
            r += rows;
        }
    }
}
