// Label-smoothed softmax cross entropy over rows of logits, forward and backward, at every
// width. Every width takes the row maximum of the scalar scan and the one e^x of
// dispatch.h, then sums in its own order (16 lanes, 8 lanes plus a tail, 8 partial sums in
// the portable path): the widths agree to rounding, not bit for bit. Since they do, the
// vector widths take the e^x body with fused multiply-adds (NMT_FUSED), the one place a
// kernel fuses: it runs only in training and evaluation, never in decoding. The
// element-wise steps (the gradient's d·scale - offset) are scalar loops the compiler
// vectorizes.
#include "dispatch.h"

/// Σ t_j, the soft targets' total: `on` once and `off` for the other width - 1 ids.
static inline float target_total(size_t width, float on, float off) { return on + (float)(width - 1) * off; }

/// The loss of one row from its maximum, Σ e^(x - max) and Σ (x - max):
/// total·lse - off·Σ s - (on - off)·s_label.
static inline float row_loss(
    const float *x, int32_t label, size_t width, float on, float off, float maximum, float exp_sum, float shifted_sum)
{
    return target_total(width, on, off) * logf(exp_sum) - off * shifted_sum - (on - off) * (x[label] - maximum);
}

/// Eight partial sums, added in a fixed order.
static inline float sum_lanes(const float lanes[8]) {
    return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
}

// Each width has one pass over a row: Σ e^(x - max), each e^(x - max) stored in `d`
// (backward) or Σ (x - max) added up (forward), whichever pointer is not NULL.

static float shifted_exp_row(const float *x, size_t width, float maximum, float *d, float *shifted_sum) {
    float exp_sums[8] = {0}, shifted_sums[8] = {0};
    for (size_t i = 0; i < width; i++) {
        float s = x[i] - maximum, e = nmt_exp1(s);
        if (d) d[i] = e;
        exp_sums[i % 8] += e;
        shifted_sums[i % 8] += s;
    }
    if (shifted_sum) *shifted_sum = sum_lanes(shifted_sums);
    return sum_lanes(exp_sums);
}

#if NMT_X86
NMT_DEFINE_EXP(fused_exp16, NMT_AVX512, nmt_f16, nmt_i16, NMT_FUSED)
NMT_DEFINE_EXP(fused_exp8, NMT_AVX2, nmt_f8, nmt_i8, NMT_FUSED)

NMT_AVX512 static float shifted_exp_row16(const float *x, size_t width, float maximum, float *d, float *shifted_sum) {
    const __m512 max16 = _mm512_set1_ps(maximum);
    __m512 exp_sum = _mm512_setzero_ps(), shifted = _mm512_setzero_ps();
    for (size_t i = 0; i < width; i += 16) {
        __mmask16 valid = nmt_tail16(width - i);
        __m512 s = _mm512_maskz_sub_ps(valid, _mm512_maskz_loadu_ps(valid, x + i), max16);
        __m512 e = _mm512_maskz_mov_ps(valid, (__m512)fused_exp16((nmt_f16)s));
        if (d) _mm512_mask_storeu_ps(d + i, valid, e);
        exp_sum = _mm512_add_ps(exp_sum, e);
        shifted = _mm512_add_ps(shifted, s);
    }
    if (shifted_sum) *shifted_sum = _mm512_reduce_add_ps(shifted);
    return _mm512_reduce_add_ps(exp_sum);
}

NMT_AVX2 static float shifted_exp_row8(const float *x, size_t width, float maximum, float *d, float *shifted_sum) {
    const __m256 max8 = _mm256_set1_ps(maximum);
    __m256 exp_sum = _mm256_setzero_ps(), shifted = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= width; i += 8) {
        __m256 s = _mm256_sub_ps(_mm256_loadu_ps(x + i), max8);
        __m256 e = (__m256)fused_exp8((nmt_f8)s);
        if (d) _mm256_storeu_ps(d + i, e);
        exp_sum = _mm256_add_ps(exp_sum, e);
        shifted = _mm256_add_ps(shifted, s);
    }
    // The tail: the portable pass over the rest, added after the vector sums.
    float tail_shifted = 0;
    float tail_exp = shifted_exp_row(x + i, width - i, maximum, d ? d + i : NULL, &tail_shifted);
    if (shifted_sum) *shifted_sum = nmt_sum8(shifted) + tail_shifted;
    return nmt_sum8(exp_sum) + tail_exp;
}
#endif

/// The widest row pass and row maximum this CPU runs.
typedef float (*row_pass)(const float *x, size_t width, float maximum, float *d, float *shifted_sum);
typedef float (*row_maximum)(const float *x, size_t width);

static float max_portable(const float *x, size_t width) { return nmt_max_scan(x, width, -INFINITY); }

static void choose_width(row_pass *pass, row_maximum *maximum) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) { *pass = shifted_exp_row16, *maximum = nmt_max16; return; }
    if (bits >= 256) { *pass = shifted_exp_row8, *maximum = nmt_max8; return; }
#endif
    *pass = shifted_exp_row, *maximum = max_portable;
}

void nmt_cross_entropy_forward_stats(
    const float *logits, const int32_t *labels, float *loss, float *stats, size_t rows, size_t width, float on,
    float off)
{
    row_pass pass;
    row_maximum row_max;
    choose_width(&pass, &row_max);
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        const float maximum = row_max(x, width);
        float shifted_sum;
        const float exp_sum = pass(x, width, maximum, NULL, &shifted_sum);
        loss[row] = row_loss(x, labels[row], width, on, off, maximum, exp_sum, shifted_sum);
        if (stats) stats[2 * row] = maximum, stats[2 * row + 1] = exp_sum;
    }
}

void nmt_cross_entropy_forward(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off)
{
    nmt_cross_entropy_forward_stats(logits, labels, loss, NULL, rows, width, on, off);
}

// The gradient tile's e^x: the fused body at every width, one lane included, so that the
// tile's bits do not depend on the width (the products it feeds promise that).
typedef float nmt_f1_fused __attribute__((vector_size(4)));
typedef uint32_t nmt_i1_fused __attribute__((vector_size(4)));
NMT_DEFINE_EXP(fused_exp_lane, , nmt_f1_fused, nmt_i1_fused, NMT_FUSED)

/// One row of a gradient tile, `count` elements from `start`: d = e^(x - max)·scale - offset.
/// `x` and `d` may be the same row.
static void gradient_span(const float *x, float *d, size_t start, size_t count, float maximum, float scale, float offset) {
    for (size_t i = start; i < start + count; i++) d[i] = fused_exp_lane((nmt_f1_fused){x[i] - maximum})[0] * scale - offset;
}

#if NMT_X86
NMT_AVX512 static void gradient_span16(const float *x, float *d, size_t count, float maximum, float scale, float offset) {
    const __m512 max16 = _mm512_set1_ps(maximum), scale16 = _mm512_set1_ps(scale), offset16 = _mm512_set1_ps(offset);
    for (size_t i = 0; i < count; i += 16) {
        const __mmask16 valid = nmt_tail16(count - i);
        const __m512 s = _mm512_sub_ps(_mm512_maskz_loadu_ps(valid, x + i), max16);
        const __m512 e = (__m512)fused_exp16((nmt_f16)s);
        _mm512_mask_storeu_ps(d + i, valid, _mm512_sub_ps(_mm512_mul_ps(e, scale16), offset16));
    }
}

NMT_AVX2 static void gradient_span8(const float *x, float *d, size_t count, float maximum, float scale, float offset) {
    const __m256 max8 = _mm256_set1_ps(maximum), scale8 = _mm256_set1_ps(scale), offset8 = _mm256_set1_ps(offset);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 s = _mm256_sub_ps(_mm256_loadu_ps(x + i), max8);
        const __m256 e = (__m256)fused_exp8((nmt_f8)s);
        _mm256_storeu_ps(d + i, _mm256_sub_ps(_mm256_mul_ps(e, scale8), offset8));
    }
    gradient_span(x, d, i, count - i, maximum, scale, offset);
}
#endif

void nmt_cross_entropy_gradient_tile(
    const float *logits, size_t logits_ld, float *tile, size_t ld, size_t rows, size_t columns, size_t first_column,
    size_t width, const float *g, const float *stats, const int32_t *labels, float on, float off)
{
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
#endif
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits ? logits + row * logits_ld : tile + row * ld;
        float *d = tile + row * ld;
        // The operations of nmt_cross_entropy_backward: (g·Σt) / Σe, then e·scale - g·off.
        const float scale = g[row] * target_total(width, on, off) / stats[2 * row + 1];
        const float offset = g[row] * off, maximum = stats[2 * row];
#if NMT_X86
        if (bits >= 512) gradient_span16(x, d, columns, maximum, scale, offset);
        else if (bits >= 256) gradient_span8(x, d, columns, maximum, scale, offset);
        else
#endif
            gradient_span(x, d, 0, columns, maximum, scale, offset);
        const size_t label = (size_t)labels[row];
        if (label >= first_column && label < first_column + columns) d[label - first_column] -= g[row] * (on - off);
    }
}

void nmt_cross_entropy_backward(
    const float *g, const float *logits, const int32_t *labels, float *dlogits, size_t rows, size_t width, float on,
    float off)
{
    row_pass pass;
    row_maximum row_max;
    choose_width(&pass, &row_max);
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        float *d = dlogits + row * width;
        const float scale = g[row] * target_total(width, on, off) / pass(x, width, row_max(x, width), d, NULL);
        const float offset = g[row] * off;
        // d·scale - offset: element-wise, so every width gives the same bits for it.
        for (size_t i = 0; i < width; i++) d[i] = d[i] * scale - offset;
        d[labels[row]] -= g[row] * (on - off);
    }
}
