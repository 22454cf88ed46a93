import CNMTBLAS
import CNMTKernels

/// One matrix product C = alpha * op(A) * op(B) + beta * C, or a two-level batch of them
/// at strided offsets (used for attention heads, read straight out of [B, L, N*d] rows
/// through the leading dimensions, with no transpose copies).
struct GemmDescriptor {
    var m: Int, n: Int, k: Int
    var transposeA = false, transposeB = false
    var lda: Int, ldb: Int, ldc: Int
    var alpha: Float = 1, beta: Float = 0
    /// Outer and inner batch counts; the product of (outer, inner) matrices is computed.
    var batch: (outer: Int, inner: Int) = (1, 1)
    /// Element offsets between consecutive matrices, per batch level, for A, B and C.
    var strideA: (outer: Int, inner: Int) = (0, 0)
    var strideB: (outer: Int, inner: Int) = (0, 0)
    var strideC: (outer: Int, inner: Int) = (0, 0)
    /// Whether a batch of products with few rows may skip BLAS for ``MatmulKernels/smallRowsProduct(_:_:_:_:)``:
    /// attention while decoding, where BLAS's per-call costs outweigh the arithmetic.
    var allowsSmallRowsKernel = false

    /// A plain row-major product of op(A) [m, k] and op(B) [k, n] into C [m, n].
    init(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) {
        self.m = m
        self.n = n
        self.k = k
        self.transposeA = transposeA
        self.transposeB = transposeB
        lda = transposeA ? m : k
        ldb = transposeB ? k : n
        ldc = n
    }
}

enum MatmulKernels {
    /// Products up to this many multiply-adds count as small (see ``gemm(_:_:_:_:)``).
    static let smallProductFlops = 1 << 20

    /// The most rows a product may have to go to ``smallRowsProduct(_:_:_:_:)``: a decoding
    /// step's attention has one query row per beam, or a sentence's beams together.
    static let smallRowsLimit = 8

    /// Runs every product of the batch with `cblas_sgemm`, or, where the descriptor allows
    /// it and every product is small enough, with ``smallRowsProduct(_:_:_:_:)``.
    static func gemm(_ d: GemmDescriptor, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
        if d.allowsSmallRowsKernel && d.m <= smallRowsLimit && !d.transposeA && d.beta == 0 {
            smallRowsProduct(d, a, b, c)
            return
        }
        if d.k == 0 {
            // BLAS leaves C untouched when k == 0; the mathematical product is zero.
            for o in 0..<d.batch.outer {
                for i in 0..<d.batch.inner {
                    let pc = c + o * d.strideC.outer + i * d.strideC.inner
                    for r in 0..<d.m { for j in 0..<d.n { pc[r * d.ldc + j] = d.beta == 0 ? 0 : pc[r * d.ldc + j] * d.beta } }
                }
            }
            return
        }
        let count = d.batch.outer * d.batch.inner
        // Small products (attention heads) gain little from BLAS's own threads; run several
        // of them at once instead. Large ones run one at a time, each split across the
        // cores by us when BLAS is single-threaded (see `BLAS.threadCount`), or left to
        // BLAS's own threads otherwise.
        let flops = d.m * d.n * d.k
        let isSmall = flops <= smallProductFlops
        let split = !isSmall && BLAS.cachedThreadCount == 1 && !Parallel.isSerial ? min(Parallel.coreCount, max(d.m, d.n) / 64) : 1
        Parallel.forChunks(count, costPerItem: isSmall ? flops / 16 : 0) { range in
            for index in range {
                let o = index / d.batch.inner, i = index % d.batch.inner
                let pa = a + o * d.strideA.outer + i * d.strideA.inner
                let pb = b + o * d.strideB.outer + i * d.strideB.inner
                let pc = c + o * d.strideC.outer + i * d.strideC.inner
                if split <= 1 {
                    sgemm(d, pa, pb, pc, rows: 0..<d.m, columns: 0..<d.n)
                    continue
                }
                // Split the output along its longer side into disjoint blocks.
                let splitRows = d.m >= d.n
                let length = splitRows ? d.m : d.n
                Parallel.forChunks(split, costPerItem: Parallel.minimumWorkPerThread) { parts in
                    for part in parts {
                        let range = (length * part / split)..<(length * (part + 1) / split)
                        sgemm(d, pa, pb, pc, rows: splitRows ? range : 0..<d.m, columns: splitRows ? 0..<d.n : range)
                    }
                }
            }
        }
    }

    /// Every product of the batch by `nmt_small_matmul`: each output is alpha times one chain
    /// of fused multiply-adds over k in order (the same bits on every CPU), with no
    /// per-product call into BLAS. For at most ``smallRowsLimit`` rows, A not transposed and
    /// beta 0 (and k 0 gives zeros, as the mathematical product).
    static func smallRowsProduct(
        _ d: GemmDescriptor, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>
    ) {
        let count = d.batch.outer * d.batch.inner
        let strides = [d.strideA.outer, d.strideA.inner, d.strideB.outer, d.strideB.inner, d.strideC.outer, d.strideC.inner]
        let work = UnsafeSendable((a, b, c))
        strides.withUnsafeBufferPointer { strides in
            let shared = UnsafeSendable(strides.baseAddress!)
            Parallel.forChunks(count, costPerItem: d.m * d.n * max(d.k, 1)) { range in
                nmt_small_matmul(
                    d.m, d.n, d.k, d.transposeB ? 1 : 0, d.alpha, work.value.0, d.lda, work.value.1, d.ldb, work.value.2, d.ldc,
                    d.batch.inner, shared.value, range.lowerBound, range.upperBound)
            }
        }
    }

    /// The block `rows x columns` of C = op(A)·op(B) by one `cblas_sgemm` call.
    @inline(__always)
    static func sgemm(
        _ d: GemmDescriptor, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        rows: Range<Int>, columns: Range<Int>
    ) {
        // Row r of op(A) starts at r·lda (A as stored) or at column r (A transposed);
        // column j of op(B) starts at column j (B as stored) or at row j (B transposed).
        let aStart = d.transposeA ? rows.lowerBound : rows.lowerBound * d.lda
        let bStart = d.transposeB ? columns.lowerBound * d.ldb : columns.lowerBound
        cblas_sgemm(
            CblasRowMajor, d.transposeA ? CblasTrans : CblasNoTrans, d.transposeB ? CblasTrans : CblasNoTrans,
            Int32(rows.count), Int32(columns.count), Int32(d.k), d.alpha, a + aStart, Int32(d.lda), b + bStart,
            Int32(d.ldb), d.beta, c + rows.lowerBound * d.ldc + columns.lowerBound, Int32(d.ldc))
    }
}
