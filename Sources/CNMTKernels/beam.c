// The scan of beam search's candidate selection: almost every id of a row falls below the
// current 2·beam-th best, so the caller asks for the next one that does not.
#include "dispatch.h"

#if NMT_X86
NMT_AVX512 static size_t first_above512(const float *x, size_t count, float shift, float offset, float threshold) {
    const __m512 shifts = _mm512_set1_ps(shift), offsets = _mm512_set1_ps(offset), thresholds = _mm512_set1_ps(threshold);
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 valid = nmt_tail16(count - i);
        __m512 values = _mm512_add_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, x + i), shifts), offsets);
        __mmask16 above = _mm512_mask_cmp_ps_mask(valid, values, thresholds, _CMP_GT_OQ);
        if (above) return i + (size_t)__builtin_ctz(above);
    }
    return count;
}

NMT_AVX2 static size_t first_above256(const float *x, size_t count, float shift, float offset, float threshold) {
    const __m256 shifts = _mm256_set1_ps(shift), offsets = _mm256_set1_ps(offset), thresholds = _mm256_set1_ps(threshold);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 values = _mm256_add_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), shifts), offsets);
        int above = _mm256_movemask_ps(_mm256_cmp_ps(values, thresholds, _CMP_GT_OQ));
        if (above) return i + (size_t)__builtin_ctz((unsigned)above);
    }
    for (; i < count; i++) {
        if ((x[i] - shift) + offset > threshold) return i;
    }
    return count;
}
#endif

size_t nmt_first_above(const float *x, size_t count, float shift, float offset, float threshold) {
#if NMT_X86
    const int bits = nmt_kernels_vector_bits();
    if (bits >= 512) return first_above512(x, count, shift, offset, threshold);
    if (bits >= 256) return first_above256(x, count, shift, offset, threshold);
#endif
    for (size_t i = 0; i < count; i++) {
        if ((x[i] - shift) + offset > threshold) return i;
    }
    return count;
}
