// Hot element-wise kernels and int8 products in C, compiled for AVX-512 (VNNI for int8)
// and AVX2 with per-function target attributes (no build flags) and chosen at run time
// from the CPU's features.
//
// The contract every kernel keeps:
//
// - Whole job, every width. A kernel computes all of its output at every width it may
//   run at: 512 (AVX-512), 256 (AVX2 + FMA) or 0 (portable C, also every non-x86 CPU).
//   Callers never finish a range themselves and never check which width ran.
// - Tails. AVX-512 loops written with intrinsics cover their whole range with one mask
//   helper (masked loads and stores); every other vector loop runs whole vectors and
//   finishes with the portable path's own scalar step. No kernel reads or writes past
//   `count` elements.
// - Alignment. None required: every load and store is unaligned. Inputs and outputs may
//   not overlap unless a kernel says so (nmt_exp allows y == x).
// - Floats. Written operation by operation with no fused multiply-add (the compiler may
//   not contract either), so every lane computes the portable path's value: every kernel
//   gives the same bits at every width, except cross entropy, whose sums run in a
//   different order per width and agree to rounding, and whose vector e^x therefore fuses
//   (documented there).
// - The Swift kernels they match. nmt_exp and nmt_row_max give exactly the Swift
//   e^x the tests keep as a reference and the scalar maximum scan; dropout and Philox give exactly NMTTensor's Swift
//   Philox stream; the tests compare every width with those and with independent values.
// - NaN and infinities. Every width decides a comparison with NaN as the portable path
//   does: NaN is never above a threshold and never a maximum (a row maximum is the largest
//   non-NaN value, or -inf); a NaN dropout mask counts as kept (mask != 0). Arithmetic
//   propagates NaN as IEEE does; e^x returns a NaN input unchanged, +inf above 88.3762626
//   and 0 below -86.9.
#ifndef CNMTKERNELS_H
#define CNMTKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The instruction set the kernels use on this CPU: 512 (AVX-512), 256 (AVX2 + FMA) or 0
/// (portable C), at most the ceiling of `nmt_kernels_vector_bits_ceiling`.
int nmt_kernels_vector_bits(void);

/// The widest width this process may use: the environment variable NMT_VECTOR_BITS (512,
/// 256 or 0), read once; 512 when it is unset. `NMT_VECTOR_BITS=256 swift test` runs the
/// whole suite on the AVX2 kernels, `NMT_VECTOR_BITS=0` on the portable ones.
int nmt_kernels_vector_bits_ceiling(void);

/// Limits the kernels to at most `bits` (512, 256 or 0) for tests and benchmarks; returns
/// the width now in use (the lowest of `bits`, the NMT_VECTOR_BITS ceiling and what the CPU
/// offers). A test that tries each width keeps those where this returns the width asked for.
int nmt_kernels_limit_vector_bits(int bits);

/// Processors this process may run on (its CPU affinity mask; `taskset`, `mpirun
/// --bind-to`), or 0 where the system does not say.
int nmt_affinity_cpu_count(void);

/// Uniform floats in [0, 1) of a Philox-4x32-10 stream: element e is word e % 4 of the
/// block with counter (e / 4 as two words, stream as two words) under key (seed as two
/// words), converted as (word >> 8) * 2^-24. Writes elements [first, first + count).
void nmt_philox_uniform(uint64_t seed, uint64_t stream, uint64_t first, size_t count, float *out);

/// Inverted dropout of `count` elements that are elements [first, first + count) of the
/// stream: where the uniform is >= rate, mask = 1 and y = x / keep; else mask = 0, y = 0.
void nmt_dropout(
    uint64_t seed, uint64_t stream, uint64_t first, size_t count, float rate, float keep,
    const float *x, float *y, float *mask);

/// dropout(relu(x + bias)) of one row of `count` elements that are elements [first, first +
/// count) of the stream, `bias` of `count` elements: y as the three operations give it, and
/// mask = 1 where the element was kept and x + bias > 0 (so ``nmt_dropout_backward`` with
/// this mask gives the gradient of x + bias).
void nmt_bias_relu_dropout(
    uint64_t seed, uint64_t stream, uint64_t first, size_t count, float rate, float keep,
    const float *x, const float *bias, float *y, float *mask);

/// residual + dropout(x) of `count` elements that are elements [first, first + count) of
/// the stream: y as the dropout followed by the add gives it, and dropout's mask.
void nmt_residual_dropout(
    uint64_t seed, uint64_t stream, uint64_t first, size_t count, float rate, float keep,
    const float *residual, const float *x, float *y, float *mask);

/// The gradient of ``nmt_dropout``: dx = g / keep where mask != 0, else 0.
void nmt_dropout_backward(size_t count, float keep, const float *g, const float *mask, float *dx);

/// y = e^x with exactly the floats of the Swift e^x the tests keep (the same Cephes
/// polynomial and operation order, no fused multiply-add): +inf above 88.3762626, 0 below
/// -86.9, NaN for NaN. `y` may be `x`.
void nmt_exp(const float *x, float *y, size_t count);

/// The largest of `count` floats that are not NaN, or -inf (a scan keeping x where
/// x > best, as the Swift row maximum).
float nmt_row_max(const float *x, size_t count);

/// Σ e^(x[i] - maximum) over `count` floats: exactly the sum NMTTensor's row sum gives of
/// the shifted exponentials ``nmt_exp`` writes (8 lanes over the whole blocks of 8, the
/// lanes added in order from 0, then the tail in order), in one pass and at every width.
float nmt_shifted_exp_sum(const float *x, size_t count, float maximum);

/// The first i < count with (x[i] - shift) + offset > threshold (float arithmetic, in
/// that order; NaN is never above), or count: beam search's scan for the next candidate
/// that beats the current last kept one.
size_t nmt_first_above(const float *x, size_t count, float shift, float offset, float threshold);

/// Label-smoothed cross entropy of `rows` rows of `width` logits: loss[r] = -Σ_j t_j log
/// softmax(x_r)_j with t = `on` at labels[r] and `off` elsewhere, computed as
/// (Σt)·lse - off·Σ_j s_j - (on - off)·s_label with s = x - max. Labels must lie in
/// [0, width). Sums run in 16 lanes, 8 lanes plus a tail, or 8 partial sums by width:
/// the widths agree to rounding.
void nmt_cross_entropy_forward(
    const float *logits, const int32_t *labels, float *loss, size_t rows, size_t width, float on, float off);

/// ``nmt_cross_entropy_forward`` that also writes each row's maximum and Σ e^(x - max)
/// to stats[2r] and stats[2r + 1] (for ``nmt_cross_entropy_gradient_tile``).
void nmt_cross_entropy_forward_stats(
    const float *logits, const int32_t *labels, float *loss, float *stats, size_t rows, size_t width, float on,
    float off);

/// The logits gradient of a tile of the [rows, width] logits: logits[r·logits_ld + c] is
/// the logit x of row r at column first_column + c (c < columns), and tile[r·ld + c]
/// becomes g_r · Σt / sum_r · e^(x - max_r) - g_r · off, less g_r (on - off) at the row's
/// label, with (max_r, sum_r) = stats[2r], stats[2r + 1] from the forward pass: the
/// formula of ``nmt_cross_entropy_backward``. With `logits` NULL the tile holds the logits
/// and is overwritten in place. Reading them from where the forward pass kept them spares
/// a copy of the whole [rows, width] logits. e^x is the fused-multiply-add body at every
/// width, so the bits do not depend on the width.
void nmt_cross_entropy_gradient_tile(
    const float *logits, size_t logits_ld, float *tile, size_t ld, size_t rows, size_t columns, size_t first_column,
    size_t width, const float *g, const float *stats, const int32_t *labels, float on, float off);

/// The gradient of ``nmt_cross_entropy_forward`` with respect to the logits, given the
/// loss gradient g per row: g_r (Σt · softmax(x_r) - t).
void nmt_cross_entropy_backward(
    const float *g, const float *logits, const int32_t *labels, float *dlogits, size_t rows, size_t width, float on,
    float off);

/// One Adam step on elements [0, n) of a parameter `p`, its gradient `g` and moments `m`,
/// `v`: m += (g - m)(1 - β1); v += (g² - v)(1 - β2); p -= m·step / (√v + ε), in that
/// order: the same bits at every width.
void nmt_adam_update(
    size_t count, float one_minus_beta1, float one_minus_beta2, float epsilon, float step_size, float *p, const float *g,
    float *m, float *v);

/// out[i] = a[i·a_stride] op b[i·b_stride] for i in [0, count), strides 0 (a broadcast
/// scalar) or 1; op 0 adds, 1 subtracts, 2 multiplies, 3 divides. One IEEE operation per
/// element: the same bits at every width. `out` may be `a` or `b`.
void nmt_arithmetic(int op, const float *a, size_t a_stride, const float *b, size_t b_stride, float *out, size_t count);

/// sum[i] = ((+0 + terms[0][i]·scales[0]) + terms[1][i]·scales[1]) + … for i in [0, count):
/// each product and each sum rounded on its own, the terms in order (the floats of adding
/// each scaled term into a zeroed array), so the same bits at every width. `sum` may be
/// one of the terms.
void nmt_weighted_sum(const float *const *terms, const float *scales, size_t term_count, float *sum, size_t count);

/// Σ x[i]² over `count` floats, in double: element i in lane i mod 8, each lane summed in
/// order, the 8 lanes combined in a fixed order. The same bits at every width.
double nmt_sum_of_squares(const float *x, size_t count);

/// Float products against weights packed once (panel_matmul.c): panels of 16 output
/// columns, each [k][16] (``nmt_panel_pack``). Output (r, j) is one chain of fused
/// multiply-adds over i = 0..<k in order from +0, plus bias[j] when a bias is given: the
/// same bits at every width and on every CPU.
size_t nmt_panel_count(size_t n);

/// Packs the [n, k] row-major matrix `w` (row j holds output column j's weights) into
/// `packed` (``nmt_panel_count``(n) · 16 · k floats), zero past column n.
void nmt_panel_pack(const float *w, size_t n, size_t k, float *packed);

/// c[r, j] = Σ_i a[r, i]·w[j, i] (+ bias[j]) for the `m` rows of `a` [m, k], the columns of
/// panels [panel_begin, panel_end) of the [m, n] output `c`. `bias` may be NULL.
void nmt_panel_matmul(
    const float *a, size_t m, size_t k, const float *packed, size_t n, const float *bias, float *c, size_t panel_begin,
    size_t panel_end);

/// A batch of small products (small_matmul.c): for each index in [first, last) of an
/// (outer, inner) batch (o = index / inner, i = index % inner), C = alpha · A · op(B) with
/// A at a + o·strides[0] + i·strides[1] ([rows, depth], row stride lda), B at
/// b + o·strides[2] + i·strides[3] ([depth, columns] at row stride ldb, or [columns, depth]
/// when `b_transposed`) and C at c + o·strides[4] + i·strides[5] ([rows, columns], row
/// stride ldc). Output (r, j) is alpha times one chain of fused multiply-adds over the
/// depth in order from +0: the same bits at every width and on every CPU.
void nmt_small_matmul(
    size_t rows, size_t columns, size_t depth, int b_transposed, float alpha, const float *a, size_t lda,
    const float *b, size_t ldb, float *c, size_t ldc, size_t inner, const ptrdiff_t strides[6], size_t first,
    size_t last);

/// Attention scores of one query row per decoded row against a history of keys kept as
/// one [rows_s, heads·depth] matrix per position (small_matmul.c): row r's key at position
/// s is row origins[r·positions + s] of keys[s]. scores [rows, heads, positions] =
/// alpha · (query head h) · (key head h), each a fused multiply-add chain over the depth
/// in order from +0, as ``nmt_small_matmul``: the same bits on every CPU.
void nmt_history_scores(
    size_t rows, size_t positions, size_t heads, size_t depth, float alpha, const float *queries,
    const float *const *keys, const int32_t *origins, float *scores);

/// The attention outputs for ``nmt_history_scores``' weights [rows, heads, positions] and
/// values kept the same way: out [rows, heads·depth], head h of row r the fused
/// multiply-add chain over the positions in order from +0 of weight · value.
void nmt_history_combine(
    size_t rows, size_t positions, size_t heads, size_t depth, const float *weights, const float *const *values,
    const int32_t *origins, float *out);

/// ``nmt_panel_matmul`` writing the columns of panels [panel_begin, panel_end) to `c` at
/// row stride `ldc`: c[r·ldc + j] holds output column panel_begin·16 + j.
void nmt_panel_matmul_into(
    const float *a, size_t m, size_t k, const float *packed, size_t n, const float *bias, float *c, size_t ldc,
    size_t panel_begin, size_t panel_end);

/// c[r·ldc + j] = fma(a(r, depth-1), b[(depth-1)·ldb + j], … fma(a(r, 0), b[j], c[r·ldc + j]))
/// for r < rows and j < columns, with a(r, i) = a[r·a_row_stride + i·a_depth_stride]
/// (accumulate_products.c): each output continues one chain of fused multiply-adds over i
/// in order from its current value, so the bits are the same at every width and on every
/// CPU, and splitting the depth into consecutive calls changes nothing.
void nmt_accumulate_products(
    const float *a, size_t a_row_stride, size_t a_depth_stride, const float *b, size_t ldb, float *c, size_t ldc,
    size_t rows, size_t depth, size_t columns);

/// int8 products (int8_matmul.c). Weights are packed once: `k` padded to a multiple of 4
/// (``nmt_int8_padded_depth``), columns in blocks of 16 (``nmt_int8_column_blocks``), each
/// column quantized symmetrically with its absolute maximum (scale = max/127, values in
/// [-127, 127]). Activations are quantized the same way per row. Every width computes the
/// same int32 sums and turns them into the same floats: the bits do not depend on the CPU.
size_t nmt_int8_padded_depth(size_t k);

/// Blocks of 16 columns that hold `n` columns.
size_t nmt_int8_column_blocks(size_t n);

/// Quantizes and packs the [k, n] matrix whose element (i, j) is w[i·row_stride +
/// j·column_stride] into `packed` (blocks · 16 · padded depth bytes), with each column's
/// scale and its sum of quantized values in `scales` and `column_sums` (blocks · 16
/// entries each; zero past n). A column holding NaN or an infinity gets scale NaN.
void nmt_int8_pack_weights(
    const float *w, size_t k, size_t n, size_t row_stride, size_t column_stride, int8_t *packed, float *scales,
    int32_t *column_sums);

/// Quantizes `rows` rows of `k` floats into `q` (rows of the padded depth, zero-filled)
/// and each row's scale into `scales` (0 for an all-zero row, NaN for one that is not
/// finite).
void nmt_int8_quantize_rows(const float *x, size_t rows, size_t k, int8_t *q, float *scales);

/// c[r, j] = relu?(sum_i a[r, i]·w[i, j] · (a_scales[r]·w_scales[j]) + bias[j]) for the
/// `m` quantized rows of `a` and the packed weights, writing the columns of blocks
/// [block_begin, block_end) of the [m, n] output `c`. `bias` may be NULL; `relu` is 0 or 1.
void nmt_int8_matmul(
    const int8_t *a, const float *a_scales, size_t m, size_t k, const int8_t *packed, const float *w_scales,
    const int32_t *column_sums, size_t n, const float *bias, int relu, float *c, size_t block_begin, size_t block_end);

/// The int8 path ``nmt_int8_matmul`` takes: 512 (AVX-512 VNNI), 256 (AVX2; also AVX-512
/// CPUs without VNNI) or 0 (portable), under the limit of ``nmt_kernels_limit_vector_bits``.
int nmt_int8_width(void);

#ifdef __cplusplus
}
#endif

#endif
