import NMTTensor
import NMTTestSupport
import XCTest

/// BLAS-backed products against a naive triple loop in Double.
final class MatmulTests: XCTestCase {
    /// op(a) · op(b) for row-major matrices, accumulated in Double.
    func naiveMatmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> Tensor {
        let av = a.scalars, bv = b.scalars
        let (ar, ac, bc) = (a.shape[0], a.shape[1], b.shape[1])
        let m = transposeA ? ac : ar, k = transposeA ? ar : ac
        let n = transposeB ? b.shape[0] : bc
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transposeA ? av[p * ac + i] : av[i * ac + p]
                    let y = transposeB ? bv[j * bc + p] : bv[p * bc + j]
                    sum += Double(x) * Double(y)
                }
                out[i * n + j] = Float(sum)
            }
        }
        return Tensor(shape: [m, n], scalars: out)
    }

    func testAllTransposeCombinationsAndOddSizes() {
        for (m, k, n) in [(1, 1, 1), (7, 13, 5), (33, 17, 65), (64, 129, 31)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = Tensor.randomNormal(transposeA ? [k, m] : [m, k], key: RandomKey(seed: UInt64(m * 31 + k)))
                    let b = Tensor.randomNormal(transposeB ? [n, k] : [k, n], key: RandomKey(seed: UInt64(n * 17 + k)))
                    let result = Tensor.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
                    let expected = naiveMatmul(a, b, transposeA: transposeA, transposeB: transposeB)
                    // Float32 sums of k products of N(0,1) values: error grows like sqrt(k) ulp.
                    assertClose(
                        result, expected, absoluteTolerance: 1e-5 * Float(k).squareRoot(), relativeTolerance: 1e-5,
                        "m \(m) k \(k) n \(n) transposeA \(transposeA) transposeB \(transposeB)")
                }
            }
        }
    }

    /// With single-threaded BLAS, large products are split into row or column blocks across
    /// the cores by swift-nmt; every transpose combination must still be exact.
    func testSplitProductsWithSingleThreadedBLAS() throws {
        guard let previous = BLAS.threadCount else { throw XCTSkip("BLAS offers no thread control") }
        BLAS.threadCount = 1
        defer { BLAS.threadCount = previous }
        for (m, k, n) in [(301, 67, 150), (90, 70, 333)] {  // row split, then column split
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = Tensor.randomNormal(transposeA ? [k, m] : [m, k], key: RandomKey(seed: 7))
                    let b = Tensor.randomNormal(transposeB ? [n, k] : [k, n], key: RandomKey(seed: 8))
                    assertClose(
                        Tensor.matmul(a, b, transposeA: transposeA, transposeB: transposeB),
                        naiveMatmul(a, b, transposeA: transposeA, transposeB: transposeB),
                        absoluteTolerance: 1e-5 * Float(k).squareRoot(), relativeTolerance: 1e-5,
                        "m \(m) k \(k) n \(n) transposeA \(transposeA) transposeB \(transposeB)")
                }
            }
        }
    }

    func testEmptyInnerDimensionGivesZeros() {
        XCTAssertEqual(Tensor.matmul(Tensor.zeros([2, 0]), Tensor.zeros([0, 3])).scalars, [Float](repeating: 0, count: 6))
    }

    func testBatchedEqualsPerMatrix() {
        let a = Tensor.randomNormal([3, 4, 5], key: RandomKey(seed: 1))
        let b = Tensor.randomNormal([3, 5, 2], key: RandomKey(seed: 2))
        let batched = Tensor.matmul(a, b)
        XCTAssertEqual(batched.shape, [3, 4, 2])
        for i in 0..<3 {
            let ai = a.slice(alongAxis: 0, i..<(i + 1)).reshaped(to: [4, 5])
            let bi = b.slice(alongAxis: 0, i..<(i + 1)).reshaped(to: [5, 2])
            assertClose(
                batched.slice(alongAxis: 0, i..<(i + 1)).reshaped(to: [4, 2]),
                naiveMatmul(ai, bi, transposeA: false, transposeB: false))
        }
        // [B, T, H] · [H, V] flattens the leading axes.
        let w = Tensor.randomNormal([5, 6], key: RandomKey(seed: 3))
        let projected = a.matmul(w)
        XCTAssertEqual(projected.shape, [3, 4, 6])
        assertClose(projected.reshaped(to: [12, 6]), naiveMatmul(a.reshaped(to: [12, 5]), w, transposeA: false, transposeB: false))
    }

    func testMultiHeadProductsEqualExplicitHeadSplit() {
        let (batch, lq, lk, heads, depth) = (2, 3, 4, 2, 3)
        let q = Tensor.randomNormal([batch, lq, heads * depth], key: RandomKey(seed: 4))
        let k = Tensor.randomNormal([batch, lk, heads * depth], key: RandomKey(seed: 5))
        // The textbook route: split heads by reshape + transpose copies, then batched matmul.
        func split(_ x: Tensor, _ length: Int) -> Tensor {
            x.reshaped(to: [batch, length, heads, depth]).permuted([0, 2, 1, 3])
        }
        let scores = Tensor.multiHeadScores(queries: q, keys: k, heads: heads)
        let expected = Tensor.matmul(split(q, lq), split(k, lk), transposeB: true)
        assertClose(scores, expected)

        let weights = scores.softmax()
        let combined = Tensor.multiHeadCombine(weights: weights, values: k)
        let expectedCombined = Tensor.matmul(weights, split(k, lk)).permuted([0, 2, 1, 3])
            .reshaped(to: [batch, lq, heads * depth])
        assertClose(combined, expectedCombined)
    }

    /// A power-of-two scale inside the product (BLAS's alpha) gives exactly the floats of
    /// scaling the queries first, forward and backward; 0.3 agrees to rounding.
    func testScaledScoresEqualScaledQueries() {
        let q = Tensor.randomNormal([2, 5, 8], key: RandomKey(seed: 6))
        let k = Tensor.randomNormal([2, 7, 8], key: RandomKey(seed: 7))
        let weights = Tensor.randomNormal([2, 2, 5, 7], key: RandomKey(seed: 8))
        for scale: Float in [0.125, 0.3] {
            let (inside, insideGradients) = valueAndGradient(at: [q, k]) { p in
                (Tensor.multiHeadScores(queries: p[0], keys: p[1], heads: 2, scale: scale) * weights).sum()
            }
            let (outside, outsideGradients) = valueAndGradient(at: [q, k]) { p in
                (Tensor.multiHeadScores(queries: p[0] * scale, keys: p[1], heads: 2) * weights).sum()
            }
            if scale == 0.125 {
                XCTAssertEqual(inside.scalars, outside.scalars)
                XCTAssertEqual(insideGradients.map(\.scalars), outsideGradients.map(\.scalars))
            } else {
                assertClose(inside, outside, relativeTolerance: 1e-5)
                for (a, b) in zip(insideGradients, outsideGradients) { assertClose(a, b, absoluteTolerance: 1e-5) }
            }
        }
    }
}
