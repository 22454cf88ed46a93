// Σ x² in double, for the global gradient norm. Eight double lanes at every width: element
// i goes to lane i mod 8, each lane adds in order, and the lanes are combined in one fixed
// order. A float squared is exact in double (24 + 24 bits fit in 53), so whether a width
// fuses the multiply into the add makes no difference: every width gives the same bits.
#include "dispatch.h"

/// Lanes combined as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
static inline double combine(const double lane[8]) {
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

static double squares_portable(const float *x, size_t count) {
    double lane[8] = {0};
    for (size_t i = 0; i < count; i++) {
        const double v = x[i];
        lane[i % 8] += v * v;
    }
    return combine(lane);
}

#if NMT_X86
NMT_AVX512 static double squares512(const float *x, size_t count) {
    __m512d sum = _mm512_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        sum = _mm512_fmadd_pd(v, v, sum);
    }
    double lane[8];
    _mm512_storeu_pd(lane, sum);
    for (; i < count; i++) lane[i % 8] += (double)x[i] * (double)x[i];
    return combine(lane);
}

NMT_AVX2 static double squares256(const float *x, size_t count) {
    __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), b = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        low = _mm256_fmadd_pd(a, a, low);
        high = _mm256_fmadd_pd(b, b, high);
    }
    double lane[8];
    _mm256_storeu_pd(lane, low);
    _mm256_storeu_pd(lane + 4, high);
    for (; i < count; i++) lane[i % 8] += (double)x[i] * (double)x[i];
    return combine(lane);
}
#endif

double nmt_sum_of_squares(const float *x, size_t count) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits == 512) return squares512(x, count);
    if (bits == 256) return squares256(x, count);
#endif
    return squares_portable(x, count);
}
