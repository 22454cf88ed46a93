import NMTTensor
import NMTTestSupport
import XCTest

final class LinalgTests: XCTestCase {
    func testQRReconstructsAndIsOrthonormal() {
        for shape in [[5, 3], [3, 5], [4, 4]] {
            let a = Tensor.randomNormal(shape, key: RandomKey(seed: 3))
            let (q, r) = Linalg.qr(a)
            let k = min(shape[0], shape[1])
            XCTAssertEqual(q.shape, [shape[0], k])
            XCTAssertEqual(r.shape, [k, shape[1]])
            assertClose(q.matmul(r), a, absoluteTolerance: 1e-5, "q·r = a for \(shape)")
            assertClose(Tensor.matmul(q, q, transposeA: true), identity(k), absoluteTolerance: 1e-5)
            for i in 0..<k { for j in 0..<i { XCTAssertEqual(r[i, j], 0, "r is upper triangular") } }
        }
    }

    func testOrthogonalInitializer() {
        let tall = Tensor.orthogonal([6, 4], gain: 2, key: RandomKey(seed: 1))
        assertClose(Tensor.matmul(tall, tall, transposeA: true), identity(4) * 4, absoluteTolerance: 1e-5)
        let wide = Tensor.orthogonal([3, 7], key: RandomKey(seed: 2))
        assertClose(Tensor.matmul(wide, wide, transposeB: true), identity(3), absoluteTolerance: 1e-5)
        XCTAssertEqual(Tensor.orthogonal([2, 3, 4], key: RandomKey(seed: 3)).shape, [2, 3, 4])
    }

    func identity(_ n: Int) -> Tensor {
        Tensor(shape: [n, n], scalars: (0..<(n * n)).map { $0 / n == $0 % n ? 1 : 0 })
    }

    func testBLASImplementationIsReported() {
        XCTAssertFalse(BLAS.implementation.isEmpty)
    }
}
