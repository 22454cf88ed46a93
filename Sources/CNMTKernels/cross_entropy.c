// Label-smoothed softmax cross entropy over rows of logits, forward and backward, at every
// width. Every width takes the row maximum of the scalar scan and e^x of nmt_exp1 (bit for
// bit at each), then sums in its own order (16 lanes, 8 lanes plus a tail, 8 partial sums
// in the portable path): the widths agree to rounding, not bit for bit.
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

static void forward_portable(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off)
{
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        const float maximum = nmt_max_scan(x, width, -INFINITY);
        float exp_sums[8] = {0}, shifted_sums[8] = {0};
        for (size_t i = 0; i < width; i++) {
            float s = x[i] - maximum;
            exp_sums[i % 8] += nmt_exp1(s);
            shifted_sums[i % 8] += s;
        }
        loss[row] = row_loss(x, labels[row], width, on, off, maximum, sum_lanes(exp_sums), sum_lanes(shifted_sums));
    }
}

static void backward_portable(
    const float *g, const float *logits, const int32_t *labels, float *dlogits, size_t rows, size_t width, float on,
    float off)
{
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        float *d = dlogits + row * width;
        const float maximum = nmt_max_scan(x, width, -INFINITY);
        float sums[8] = {0};
        for (size_t i = 0; i < width; i++) {
            d[i] = nmt_exp1(x[i] - maximum);
            sums[i % 8] += d[i];
        }
        const float scale = g[row] * target_total(width, on, off) / sum_lanes(sums), offset = g[row] * off;
        for (size_t i = 0; i < width; i++) d[i] = d[i] * scale - offset;
        d[labels[row]] -= g[row] * (on - off);
    }
}

#if NMT_X86
NMT_AVX512 static void forward512(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off)
{
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        const float maximum = nmt_max16(x, width);
        const __m512 max16 = _mm512_set1_ps(maximum);
        __m512 exp_sum = _mm512_setzero_ps(), shifted_sum = _mm512_setzero_ps();
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = nmt_tail16(width - i);
            __m512 s = _mm512_maskz_sub_ps(valid, _mm512_maskz_loadu_ps(valid, x + i), max16);
            exp_sum = _mm512_mask_add_ps(exp_sum, valid, exp_sum, nmt_exp16(s));
            shifted_sum = _mm512_add_ps(shifted_sum, s);
        }
        loss[row] = row_loss(
            x, labels[row], width, on, off, maximum, _mm512_reduce_add_ps(exp_sum), _mm512_reduce_add_ps(shifted_sum));
    }
}

NMT_AVX512 static void backward512(
    const float *g, const float *logits, const int32_t *labels, float *dlogits, size_t rows, size_t width, float on,
    float off)
{
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        float *d = dlogits + row * width;
        const __m512 max16 = _mm512_set1_ps(nmt_max16(x, width));
        __m512 sum = _mm512_setzero_ps();
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = nmt_tail16(width - i);
            __m512 e = nmt_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, x + i), max16));
            _mm512_mask_storeu_ps(d + i, valid, e);
            sum = _mm512_mask_add_ps(sum, valid, sum, e);
        }
        const __m512 scale = _mm512_set1_ps(g[row] * target_total(width, on, off) / _mm512_reduce_add_ps(sum));
        const __m512 offset = _mm512_set1_ps(g[row] * off);
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = nmt_tail16(width - i);
            __m512 scaled = _mm512_mul_ps(_mm512_maskz_loadu_ps(valid, d + i), scale);
            _mm512_mask_storeu_ps(d + i, valid, _mm512_sub_ps(scaled, offset));
        }
        d[labels[row]] -= g[row] * (on - off);
    }
}

// AVX2 runs whole vectors and finishes each row with the portable path's scalar steps.
NMT_AVX2 static void forward256(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off)
{
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        const float maximum = nmt_max8(x, width);
        const __m256 max8 = _mm256_set1_ps(maximum);
        __m256 exp_sum = _mm256_setzero_ps(), shifted_sum = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 8 <= width; i += 8) {
            __m256 s = _mm256_sub_ps(_mm256_loadu_ps(x + i), max8);
            exp_sum = _mm256_add_ps(exp_sum, nmt_exp8(s));
            shifted_sum = _mm256_add_ps(shifted_sum, s);
        }
        float tail_exp = 0, tail_shifted = 0;
        for (; i < width; i++) {
            float s = x[i] - maximum;
            tail_exp += nmt_exp1(s);
            tail_shifted += s;
        }
        loss[row] = row_loss(
            x, labels[row], width, on, off, maximum, nmt_sum8(exp_sum) + tail_exp, nmt_sum8(shifted_sum) + tail_shifted);
    }
}

NMT_AVX2 static void backward256(
    const float *g, const float *logits, const int32_t *labels, float *dlogits, size_t rows, size_t width, float on,
    float off)
{
    for (size_t row = 0; row < rows; row++) {
        const float *x = logits + row * width;
        float *d = dlogits + row * width;
        const float maximum = nmt_max8(x, width);
        const __m256 max8 = _mm256_set1_ps(maximum);
        __m256 sum = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 8 <= width; i += 8) {
            __m256 e = nmt_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), max8));
            _mm256_storeu_ps(d + i, e);
            sum = _mm256_add_ps(sum, e);
        }
        float tail = 0;
        for (size_t j = i; j < width; j++) {
            d[j] = nmt_exp1(x[j] - maximum);
            tail += d[j];
        }
        const float scale = g[row] * target_total(width, on, off) / (nmt_sum8(sum) + tail), offset = g[row] * off;
        const __m256 scale8 = _mm256_set1_ps(scale), offset8 = _mm256_set1_ps(offset);
        for (i = 0; i + 8 <= width; i += 8) {
            _mm256_storeu_ps(d + i, _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(d + i), scale8), offset8));
        }
        for (; i < width; i++) d[i] = d[i] * scale - offset;
        d[labels[row]] -= g[row] * (on - off);
    }
}
#endif

void nmt_cross_entropy_forward(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off)
{
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) { forward512(logits, labels, loss, rows, width, on, off); return; }
    if (bits >= 256) { forward256(logits, labels, loss, rows, width, on, off); return; }
#endif
    forward_portable(logits, labels, loss, rows, width, on, off);
}

void nmt_cross_entropy_backward(
    const float *g, const float *logits, const int32_t *labels, float *dlogits, size_t rows, size_t width, float on,
    float off)
{
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) { backward512(g, logits, labels, dlogits, rows, width, on, off); return; }
    if (bits >= 256) { backward256(g, logits, labels, dlogits, rows, width, on, off); return; }
#endif
    backward_portable(g, logits, labels, dlogits, rows, width, on, off);
}
