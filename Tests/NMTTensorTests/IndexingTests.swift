import NMTTensor
import NMTTestSupport
import XCTest

final class IndexingTests: XCTestCase {
    func testGatherAndScatterAddGradient() {
        let table = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        let ids = IndexTensor(shape: [2, 2], scalars: [2, 0, 2, 1])
        let rows = table.gathering(rows: ids)
        XCTAssertEqual(rows.shape, [2, 2, 2])
        XCTAssertEqual(rows.scalars, [5, 6, 1, 2, 5, 6, 3, 4])
        let (_, g) = valueAndGradient(at: [table]) { $0[0].gathering(rows: ids).sum() }
        XCTAssertEqual(g[0].scalars, [1, 1, 1, 1, 2, 2], "id 2 appears twice, so its row gets 2")
    }

    func testOneHotMatmulEqualsGather() {
        let table = Tensor.randomNormal([6, 4], key: RandomKey(seed: 3))
        let ids = IndexTensor(shape: [2, 3], scalars: [5, 0, 3, 3, 1, 0])
        let byMatmul = Tensor.oneHot(ids, depth: 6).matmul(table)
        XCTAssertEqual(byMatmul.scalars, table.gathering(rows: ids).scalars)
        XCTAssertEqual(Tensor.oneHot(IndexTensor([1, 7]), depth: 3).scalars, [0, 1, 0, 0, 0, 0])
        let (_, viaGather) = valueAndGradient(at: [table]) { ($0[0].gathering(rows: ids) * byMatmul).sum() }
        let (_, viaMatmul) = valueAndGradient(at: [table]) { (Tensor.oneHot(ids, depth: 6).matmul($0[0]) * byMatmul).sum() }
        assertClose(viaGather[0], viaMatmul[0], absoluteTolerance: 1e-6)
    }

    /// The structured one-hot product gives the dense product's forward floats exactly and
    /// its gradient up to summation order, including repeated ids and ids outside the table.
    func testStructuredOneHotProductEqualsTheDenseProduct() {
        let (rows, width) = (37, 19)
        let table = Tensor.randomNormal([rows, width], key: RandomKey(seed: 4))
        let draws = Tensor.randomUniform([5, 23], key: RandomKey(seed: 5)).scalars
        // Ids -1...rows: -1 and rows select zero rows; many ids repeat.
        let ids = IndexTensor(shape: [5, 23], scalars: draws.map { Int32($0 * Float(rows + 2)) - 1 })
        let dense = Tensor.oneHot(ids, depth: rows).matmul(table)
        let structured = Tensor.oneHotMatmul(ids, table)
        XCTAssertEqual(structured.shape, [5, 23, width])
        XCTAssertEqual(structured.scalars, dense.scalars)
        XCTAssertTrue(ids.scalars.contains(-1) && ids.scalars.contains(Int32(rows)), "the draw covers both out-of-range ids")
        let weights = Tensor.randomNormal([5, 23, width], key: RandomKey(seed: 6))
        let (_, viaDense) = valueAndGradient(at: [table]) { (Tensor.oneHot(ids, depth: rows).matmul($0[0]) * weights).sum() }
        let (_, viaStructured) = valueAndGradient(at: [table]) { (Tensor.oneHotMatmul(ids, $0[0]) * weights).sum() }
        assertClose(viaStructured[0], viaDense[0], absoluteTolerance: 1e-5, relativeTolerance: 1e-5)
    }

    func testSelectAndMaskedFill() {
        let a = Tensor([1, 2, 3, 4]), b = Tensor([-1, -2, -3, -4])
        XCTAssertEqual(Tensor.select(Tensor([1, 0, 0, 1]), a, b).scalars, [1, -2, -3, 4])
        let logits = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        let mask = Tensor(shape: [1, 2], scalars: [0, 1])
        XCTAssertEqual(logits.maskedFill(where: mask, with: -1e9).scalars, [1, -1e9, 3, -1e9])
    }

    func testTopKOrderAndTies() {
        let x = Tensor(shape: [2, 5], scalars: [0.1, 0.9, 0.5, 0.9, 0.2, -1, -3, -2, -5, -4])
        let (values, indices) = x.topK(3)
        XCTAssertEqual(values.shape, [2, 3])
        XCTAssertEqual(values.scalars, [0.9, 0.9, 0.5, -1, -2, -3])
        XCTAssertEqual(indices.scalars, [1, 3, 2, 0, 2, 1], "ties keep the lower index first")
    }

    func testPaddingMask() {
        XCTAssertEqual(IndexTensor([5, 0, 3, 0]).mask(equalTo: 0).scalars, [0, 1, 0, 1])
    }

    func testSelectingRowsAlongTheFirstAxis() {
        // [3, 2, 2] holding 0...11; rows 2, 0, 2 picked (a repeat, out of order).
        let x = Tensor(shape: [3, 2, 2], scalars: (0..<12).map(Float.init))
        let rows = IndexTensor([2, 0, 2])
        let picked = x.selectingRows(rows)
        XCTAssertEqual(picked.shape, [3, 2, 2])
        XCTAssertEqual(picked.scalars, [8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11])
        // The gradient of sum(picked · w) adds both uses of row 2; row 1 gets none.
        let w = Tensor(shape: [3, 2, 2], scalars: (1...12).map(Float.init))
        let (_, g) = valueAndGradient(at: [x]) { ($0[0].selectingRows(rows) * w).sum() }
        let expected: [Float] = [5, 6, 7, 8, 0, 0, 0, 0, 10, 12, 14, 16]  // row 2: w rows 0 and 2 added
        XCTAssertEqual(g[0].scalars, expected)
    }

    func testIndexRowsAndCounts() {
        let ids = IndexTensor(shape: [3, 3], scalars: [4, 1, 0, 5, 0, 0, 7, 8, 1])
        XCTAssertEqual(ids.rows(1..<3).shape, [2, 3])
        XCTAssertEqual(ids.rows(1..<3).scalars, [5, 0, 0, 7, 8, 1])
        XCTAssertEqual(ids.count(notEqualTo: 0, rows: 0..<3), 6)
        XCTAssertEqual(ids.count(notEqualTo: 0, rows: 1..<2), 1)
        XCTAssertEqual(ids.count(notEqualTo: 1, rows: 0..<1), 2)
    }
}
