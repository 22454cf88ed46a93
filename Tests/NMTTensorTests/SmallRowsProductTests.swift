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

    /// Keys stored transposed ([B, N·d, Lk], as a decoder keeps its encoder's) give the
    /// untransposed keys' scores bit for bit: the same chains, read along rows.
    func testTransposedKeysGiveTheSameScores() {
        for (b, lq, lk, heads, depth) in [(3, 4, 19, 4, 16), (2, 1, 40, 2, 64), (1, 3, 7, 2, 20)] {
            let q = patternTensor([b, lq, heads * depth], frequency: 0.47, amplitude: 2)
            let k = patternTensor([b, lk, heads * depth], frequency: 0.13, amplitude: 1.5)
            for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                let transposed = Tensor.multiHeadScores(queries: q, transposedKeys: k.permuted([0, 2, 1]), heads: heads, scale: 0.25)
                let plain = Tensor.multiHeadScores(queries: q, keys: k, heads: heads, scale: 0.25)
                XCTAssertEqual(transposed.shape, [b, heads, lq, lk])
                XCTAssertEqual(transposed.scalars.map(\.bitPattern), plain.scalars.map(\.bitPattern), "[\(b), \(lq), \(lk)], depth \(depth), width \(bits)")
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

/// Attention over a history kept per position (`RowOrigins`, `multiHeadScores(queries:history:...)`):
/// the floats of the gathered [rows, positions, H] keys and values, bit for bit.
final class AttentionHistoryTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    /// Reordering, duplicating and dropping rows composes the table: row r reads, at each
    /// earlier position, the row its ancestor read.
    func testOriginsFollowTheSelectedRows() {
        var origins = RowOrigins(rowCount: 3)
        origins.advance(selecting: nil)
        XCTAssertEqual(origins.table.shape, [3, 1])
        XCTAssertEqual(origins.table.scalars, [0, 1, 2])
        origins.advance(selecting: [2, 2, 0])
        XCTAssertEqual(origins.table.scalars, [2, 0, 2, 1, 0, 2])
        origins.advance(selecting: [1, 0])  // a row leaves
        XCTAssertEqual(origins.table.shape, [2, 3])
        XCTAssertEqual(origins.table.scalars, [2, 1, 0, 2, 0, 1])
        XCTAssertEqual(origins.rowsAtPosition, [3, 3, 2])
    }

    /// Scores and combined outputs read through the origins equal the same products on the
    /// keys and values gathered into one [rows, positions, H] tensor, bit for bit, at every
    /// width: four steps of reordering with 16-deep heads (the main job's), 64-deep ones
    /// (the base model's: more vectors than one pass of the combining kernel keeps) and
    /// 20-deep ones (not whole vectors).
    func testHistoryAttentionEqualsTheGatheredProducts() {
        for (heads, depth) in [(4, 16), (8, 64), (2, 20)] {
            let hidden = heads * depth
            var origins = RowOrigins(rowCount: 4)
            var keys: [Tensor] = [], values: [Tensor] = []
            let selections: [[Int32]?] = [nil, [1, 1, 3, 0], [0, 2, 2, 3], [3, 1]]
            for (step, selection) in selections.enumerated() {
                origins.advance(selecting: selection)
                keys.append(patternTensor([origins.rowCount, hidden], frequency: 0.3 + Double(step) * 0.11, amplitude: 2))
                values.append(patternTensor([origins.rowCount, hidden], frequency: 0.7 + Double(step) * 0.05, amplitude: 1))
            }
            let rows = origins.rowCount, positions = keys.count, table = origins.table.scalars
            func gathered(_ tensors: [Tensor]) -> Tensor {
                var scalars: [Float] = []
                for r in 0..<rows {
                    for s in 0..<positions {
                        let source = Int(table[r * positions + s])
                        scalars += tensors[s].scalars[(source * hidden)..<((source + 1) * hidden)]
                    }
                }
                return Tensor(shape: [rows, positions, hidden], scalars: scalars)
            }
            let q = patternTensor([rows, 1, hidden], frequency: 0.9, amplitude: 1.5)
            let w = patternTensor([rows, heads, 1, positions], frequency: 0.37, amplitude: 1)
            for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                let scores = Tensor.multiHeadScores(queries: q, history: keys, origins: origins, heads: heads, scale: 0.25)
                let expectedScores = Tensor.multiHeadScores(queries: q, keys: gathered(keys), heads: heads, scale: 0.25)
                XCTAssertEqual(scores.shape, [rows, heads, 1, positions])
                XCTAssertEqual(scores.scalars.map(\.bitPattern), expectedScores.scalars.map(\.bitPattern), "scores, depth \(depth), width \(bits)")
                let combined = Tensor.multiHeadCombine(weights: w, history: values, origins: origins)
                let expectedCombined = Tensor.multiHeadCombine(weights: w, values: gathered(values))
                XCTAssertEqual(combined.shape, [rows, 1, hidden])
                XCTAssertEqual(
                    combined.scalars.map(\.bitPattern), expectedCombined.scalars.map(\.bitPattern), "combine, depth \(depth), width \(bits)")
            }
        }
    }
}
