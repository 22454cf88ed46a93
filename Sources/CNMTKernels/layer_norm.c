// Layer normalization over rows, forward and the per-row part of backward, for AVX-512.
// Same mathematics as NMTTensor's NormalizationKernels (the portable path and the
// reference): two-pass variance, 16 partial sums instead of a serial sum, so results agree
// to rounding, not bit for bit.
#include "dispatch.h"

#include <math.h>

#if NMT_X86
NMT_AVX512 static inline __mmask16 valid_lanes(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

NMT_AVX512 static void forward512(
    const float *x, const float *scale, const float *bias, float *y, float *mean, float *rstd, size_t rows, size_t width,
    float epsilon)
{
    for (size_t row = 0; row < rows; row++) {
        const float *xr = x + row * width;
        float *yr = y + row * width;
        __m512 sum = _mm512_setzero_ps();
        for (size_t i = 0; i < width; i += 16) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(valid_lanes(width - i), xr + i));
        const float mu = _mm512_reduce_add_ps(sum) / (float)width;
        const __m512 mu16 = _mm512_set1_ps(mu);
        __m512 squares = _mm512_setzero_ps();
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = valid_lanes(width - i);
            __m512 c = _mm512_maskz_sub_ps(valid, _mm512_maskz_loadu_ps(valid, xr + i), mu16);
            squares = _mm512_fmadd_ps(c, c, squares);
        }
        const float inv = 1.0f / sqrtf(_mm512_reduce_add_ps(squares) / (float)width + epsilon);
        const __m512 inv16 = _mm512_set1_ps(inv);
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = valid_lanes(width - i);
            __m512 normalized = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, xr + i), mu16), inv16);
            __m512 out = _mm512_fmadd_ps(normalized, _mm512_maskz_loadu_ps(valid, scale + i), _mm512_maskz_loadu_ps(valid, bias + i));
            _mm512_mask_storeu_ps(yr + i, valid, out);
        }
        mean[row] = mu;
        rstd[row] = inv;
    }
}

NMT_AVX512 static void backward512(
    const float *g, const float *x, const float *scale, const float *mean, const float *rstd, float *dx, size_t rows,
    size_t width)
{
    for (size_t row = 0; row < rows; row++) {
        const float *gr = g + row * width, *xr = x + row * width;
        float *dr = dx + row * width;
        const __m512 mu = _mm512_set1_ps(mean[row]), inv = _mm512_set1_ps(rstd[row]);
        __m512 sum_g = _mm512_setzero_ps(), sum_gx = _mm512_setzero_ps();
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = valid_lanes(width - i);
            __m512 gh = _mm512_mul_ps(_mm512_maskz_loadu_ps(valid, gr + i), _mm512_maskz_loadu_ps(valid, scale + i));
            __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, xr + i), mu), inv);
            sum_g = _mm512_add_ps(sum_g, gh);
            sum_gx = _mm512_mask3_fmadd_ps(gh, xhat, sum_gx, valid);
        }
        const __m512 mean_g = _mm512_set1_ps(_mm512_reduce_add_ps(sum_g) / (float)width);
        const __m512 mean_gx = _mm512_set1_ps(_mm512_reduce_add_ps(sum_gx) / (float)width);
        for (size_t i = 0; i < width; i += 16) {
            __mmask16 valid = valid_lanes(width - i);
            __m512 gh = _mm512_mul_ps(_mm512_maskz_loadu_ps(valid, gr + i), _mm512_maskz_loadu_ps(valid, scale + i));
            __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, xr + i), mu), inv);
            __m512 inner = _mm512_sub_ps(_mm512_sub_ps(gh, mean_g), _mm512_mul_ps(xhat, mean_gx));
            _mm512_mask_storeu_ps(dr + i, valid, _mm512_mul_ps(inv, inner));
        }
    }
}
#endif

int nmt_layer_norm_forward(
    const float *x, const float *scale, const float *bias, float *y, float *mean, float *rstd, size_t rows, size_t width,
    float epsilon)
{
#if NMT_X86
    if (nmt_kernels_vector_bits() >= 512) {
        forward512(x, scale, bias, y, mean, rstd, rows, width, epsilon);
        return 1;
    }
#endif
    (void)x, (void)scale, (void)bias, (void)y, (void)mean, (void)rstd, (void)rows, (void)width, (void)epsilon;
    return 0;
}

int nmt_layer_norm_backward_rows(
    const float *g, const float *x, const float *scale, const float *mean, const float *rstd, float *dx, size_t rows,
    size_t width)
{
#if NMT_X86
    if (nmt_kernels_vector_bits() >= 512) {
        backward512(g, x, scale, mean, rstd, dx, rows, width);
        return 1;
    }
#endif
    (void)g, (void)x, (void)scale, (void)mean, (void)rstd, (void)dx, (void)rows, (void)width;
    return 0;
}
