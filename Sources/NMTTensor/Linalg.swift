import CNMTBLAS

/// Dense linear algebra on LAPACK.
public enum Linalg {
    /// The reduced QR decomposition of a matrix: `a = q · r` with q [M, K] having
    /// orthonormal columns and r [K, N] upper triangular, K = min(M, N).
    ///
    /// Computed by LAPACK's `sgeqrf` (Householder) and `sorgqr`; through LAPACKE on Linux
    /// and the Fortran entry points of Accelerate on Apple platforms.
    ///
    /// - Parameter a: [M, N].
    public static func qr(_ a: Tensor) -> (q: Tensor, r: Tensor) {
        precondition(a.rank == 2, "Linalg.qr: needs a matrix, got shape \(a.shape)")
        let m = a.shape[0], n = a.shape[1], k = min(m, n)
        // Work on [M, N] row-major; LAPACK overwrites it with R above the diagonal and the
        // Householder reflectors below.
        var factors = a.scalars
        var tau = [Float](repeating: 0, count: max(k, 1))
        householderQR(&factors, m: m, n: n, tau: &tau)
        var r = [Float](repeating: 0, count: k * n)
        for i in 0..<k { for j in i..<n { r[i * n + j] = factors[i * n + j] } }
        // Q's first K columns from the reflectors: keep the leading [M, K] block.
        var q = [Float](repeating: 0, count: m * k)
        for i in 0..<m { for j in 0..<k { q[i * k + j] = factors[i * n + j] } }
        formQ(&q, m: m, k: k, tau: tau)
        return (Tensor(shape: [m, k], scalars: q), Tensor(shape: [k, n], scalars: r))
    }

    #if canImport(Accelerate)
    // Accelerate has no LAPACKE: call the column-major Fortran routines on the transpose.
    private static func transposed(_ x: [Float], rows: Int, cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: x.count)
        for i in 0..<rows { for j in 0..<cols { t[j * rows + i] = x[i * cols + j] } }
        return t
    }

    private static func householderQR(_ a: inout [Float], m: Int, n: Int, tau: inout [Float]) {
        var columnMajor = transposed(a, rows: m, cols: n)
        var (mm, nn, lda, info, lwork) = (Int32(m), Int32(n), Int32(max(m, 1)), Int32(0), Int32(-1))
        var size: Float = 0
        sgeqrf_(&mm, &nn, &columnMajor, &lda, &tau, &size, &lwork, &info)
        lwork = Int32(size)
        var work = [Float](repeating: 0, count: max(Int(size), 1))
        sgeqrf_(&mm, &nn, &columnMajor, &lda, &tau, &work, &lwork, &info)
        precondition(info == 0, "Linalg.qr: sgeqrf failed with info \(info)")
        a = transposed(columnMajor, rows: n, cols: m)
    }

    private static func formQ(_ q: inout [Float], m: Int, k: Int, tau: [Float]) {
        guard k > 0 else { return }
        var columnMajor = transposed(q, rows: m, cols: k)
        var tau = tau
        var (mm, kk, kr, lda, info, lwork) = (Int32(m), Int32(k), Int32(k), Int32(max(m, 1)), Int32(0), Int32(-1))
        var size: Float = 0
        sorgqr_(&mm, &kk, &kr, &columnMajor, &lda, &tau, &size, &lwork, &info)
        lwork = Int32(size)
        var work = [Float](repeating: 0, count: max(Int(size), 1))
        sorgqr_(&mm, &kk, &kr, &columnMajor, &lda, &tau, &work, &lwork, &info)
        precondition(info == 0, "Linalg.qr: sorgqr failed with info \(info)")
        q = transposed(columnMajor, rows: k, cols: m)
    }
    #else
    private static func householderQR(_ a: inout [Float], m: Int, n: Int, tau: inout [Float]) {
        guard m > 0 && n > 0 else { return }
        let info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, Int32(m), Int32(n), &a, Int32(n), &tau)
        precondition(info == 0, "Linalg.qr: LAPACKE_sgeqrf failed with info \(info)")
    }

    private static func formQ(_ q: inout [Float], m: Int, k: Int, tau: [Float]) {
        guard k > 0 else { return }
        let info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, Int32(m), Int32(k), Int32(k), &q, Int32(k), tau)
        precondition(info == 0, "Linalg.qr: LAPACKE_sorgqr failed with info \(info)")
    }
    #endif
}

extension Tensor {
    /// A random (semi-)orthogonal matrix scaled by `gain`, as TensorFlow's
    /// `orthogonal_initializer`: QR of a standard normal matrix, with column signs fixed
    /// by the diagonal of R so that the distribution is uniform (Haar).
    ///
    /// Leading dimensions are flattened into rows: a shape [..., C] gives orthonormal
    /// columns when there are at least C rows, orthonormal rows otherwise.
    public static func orthogonal(_ shape: [Int], gain: Float = 1, key: RandomKey) -> Tensor {
        precondition(shape.count >= 2, "orthogonal: needs rank >= 2, got \(shape)")
        let rows = shape.dropLast().reduce(1, *), cols = shape.last!
        let (tall, short) = (Swift.max(rows, cols), Swift.min(rows, cols))
        let (q, r) = Linalg.qr(randomNormal([tall, short], key: key))
        var values = q.scalars
        for j in 0..<short where r[j, j] < 0 {
            for i in 0..<tall { values[i * short + j] = -values[i * short + j] }
        }
        var result = Tensor(shape: [tall, short], scalars: values)
        if rows < cols { result = result.transposed() }
        return (result * gain).reshaped(to: shape)
    }
}
