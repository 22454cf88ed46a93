import CNMTKernels
import NMTTensor
import NMTTestSupport
import XCTest

/// Attention products with few query rows outside differentiation (a decoding step's
/// attention) skip BLAS for `nmt_small_matmul`: bit for bit the fused multiply-add chain
/// computed here, at every width the CPU has, and within float rounding of BLAS, which
/// the same products use while a gradient is recorded.
final class SmallRowsProductTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    /// The documented arithmetic, written here independently: per score, fused
    /// multiply-adds over the head's depth in order from +0, then times the scale.
    private func expectedScores(_ q: Tensor, _ k: Tensor, heads: Int, scale: Float) -> [Float] {
        let (b, lq, lk, hidden) = (q.shape[0], q.shape[1], k.shape[1], q.shape[2])
        let depth = hidden / heads
        let qs = q.scalars, ks = k.scalars
        var out: [Float] = []
        for e in 0..<b {
            for h in 0..<heads {
                for i in 0..<lq {
                    for j in 0..<lk {
                        var sum: Float = 0
                        for p in 0..<depth { sum.addProduct(qs[(e * lq + i) * hidden + h * depth + p], ks[(e * lk + j) * hidden + h * depth + p]) }
                        out.append(scale * sum)
                    }
                }
            }
        }
        return out
    }

    /// Per output, fused multiply-adds over the keys in order from +0.
    private func expectedCombine(_ w: Tensor, _ v: Tensor) -> [Float] {
        let (b, heads, lq, lk, hidden) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3], v.shape[2])
        let depth = hidden / heads
        let ws = w.scalars, vs = v.scalars
        var out = [Float](repeating: 0, count: b * lq * hidden)
        for e in 0..<b {
            for h in 0..<heads {
                for i in 0..<lq {
                    for d in 0..<depth {
                        var sum: Float = 0
                        for j in 0..<lk { sum.addProduct(ws[((e * heads + h) * lq + i) * lk + j], vs[(e * lk + j) * hidden + h * depth + d]) }
                        out[(e * lq + i) * hidden + h * depth + d] = sum
                    }
                }
            }
        }
        return out
    }

    /// Shapes a decoding step makes (one query row per beam; 4 beams of a sentence
    /// together) and their edges: depths 16 and 64 (one and four 16-deep blocks), 20 (a
    /// depth tail), key counts that leave a 16- and 8-wide tail (1, 17, 37), 8 and 9 query
    /// rows (one block; then BLAS), a scale of 0.25 and of 1.
    func testEveryWidthMatchesTheFusedMultiplyAddChainBitForBit() {
        let shapes = [(3, 1, 1, 4, 16), (2, 4, 17, 4, 16), (1, 8, 37, 2, 64), (2, 3, 9, 4, 20), (1, 1, 130, 8, 64), (2, 9, 5, 2, 8)]
        for (index, (b, lq, lk, heads, depth)) in shapes.enumerated() {
            let hidden = heads * depth
            let q = patternTensor([b, lq, hidden], frequency: 0.37 + Double(index) * 0.1, amplitude: 2)
            let k = patternTensor([b, lk, hidden], frequency: 0.21 + Double(index) * 0.07, amplitude: 1.5)
            let w = patternTensor([b, heads, lq, lk], frequency: 0.43, amplitude: 1)
            for scale: Float in [0.25, 1] {
                let expected = expectedScores(q, k, heads: heads, scale: scale)
                let expectedOut = expectedCombine(w, k)
                for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                    let scores = Tensor.multiHeadScores(queries: q, keys: k, heads: heads, scale: scale)
                    let combined = Tensor.multiHeadCombine(weights: w, values: k)
                    let label = "[\(b), \(lq), \(lk)], \(heads) heads of \(depth), scale \(scale), width \(bits)"
                    if lq <= 8 {
                        XCTAssertEqual(scores.scalars.map(\.bitPattern), expected.map(\.bitPattern), "scores " + label)
                        XCTAssertEqual(combined.scalars.map(\.bitPattern), expectedOut.map(\.bitPattern), "combine " + label)
                    } else {
                        // 9 rows go to BLAS: the same values within rounding.
                        assertClose(scores, Tensor(shape: scores.shape, scalars: expected), absoluteTolerance: 1e-5)
                    }
                }
            }
        }
    }

    /// While a gradient is recorded the products go to BLAS, as before (training's floats
    /// are unchanged). The two agree within two k-term dot products' rounding,
    /// 2·k·2⁻²⁴·Σ|q_i·k_i| times the scale (on CPUs whose BLAS sums in the same order, they
    /// are equal), and the gradient is d(Σ scores)/dq = scale · Σ_j k_j per head.
    func testDifferentiatedProductsAgreeWithinRounding() {
        let (b, lq, lk, heads, depth) = (2, 4, 23, 4, 16)
        let q = patternTensor([b, lq, heads * depth], frequency: 0.31, amplitude: 3)
        let k = patternTensor([b, lk, heads * depth], frequency: 0.17, amplitude: 2)
        let direct = Tensor.multiHeadScores(queries: q, keys: k, heads: heads, scale: 0.25).scalars
        var blasScores: [Float] = []
        let (_, gradients) = valueAndGradient(at: [q, k]) { p in
            let scores = Tensor.multiHeadScores(queries: p[0], keys: p[1], heads: heads, scale: 0.25)
            blasScores = scores.detached.scalars
            return scores.sum()
        }
        let magnitudes = expectedScores(
            Tensor(shape: q.shape, scalars: q.scalars.map(abs)), Tensor(shape: k.shape, scalars: k.scalars.map(abs)), heads: heads,
            scale: 0.25)
        for (index, (x, y)) in zip(direct, blasScores).enumerated() {
            XCTAssertLessThanOrEqual(abs(x - y), 2 * Float(depth) * 0x1p-24 * magnitudes[index], "score \(index)")
        }
        XCTAssertEqual(gradients[0].shape, q.shape)
        let ks = k.scalars
        for e in 0..<b {
            for c in 0..<(heads * depth) {
                let expected = 0.25 * (0..<lk).reduce(Float(0)) { $0 + ks[(e * lk + $1) * heads * depth + c] }
                XCTAssertEqual(gradients[0].scalars[e * lq * heads * depth + c], expected, accuracy: 1e-4)
            }
        }
    }
}
