import CNMTBLAS

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

    /// Runs every product of the batch with `cblas_sgemm`.
    static func gemm(_ d: GemmDescriptor, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
        let ta = d.transposeA ? CblasTrans : CblasNoTrans
        let tb = d.transposeB ? CblasTrans : CblasNoTrans
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
        // of them at once instead. Large ones run one at a time on all BLAS threads.
        let isSmall = d.m * d.n * d.k <= smallProductFlops
        Parallel.forChunks(count, costPerItem: isSmall ? d.m * d.n * d.k / 16 : 0) { range in
            for index in range {
                let o = index / d.batch.inner, i = index % d.batch.inner
                cblas_sgemm(
                    CblasRowMajor, ta, tb, Int32(d.m), Int32(d.n), Int32(d.k), d.alpha,
                    a + o * d.strideA.outer + i * d.strideA.inner, Int32(d.lda),
                    b + o * d.strideB.outer + i * d.strideB.inner, Int32(d.ldb), d.beta,
                    c + o * d.strideC.outer + i * d.strideC.inner, Int32(d.ldc))
            }
        }
    }
}
