import NMTTensor
import XCTest

/// A row gather's gradient is added into a table's existing gradient at the gathered rows
/// only; these tests pin that it gives the floats of the dense route (zeros, rows added in
/// order, then one dense add), computed here by plain loops.
final class RowGradientTests: XCTestCase {
    let (rows, width) = (11, 37)

    /// The dense route by hand: `values` rows summed into a zero table in row order.
    func scattered(_ values: [Float], ids: [Int32]) -> [Float] {
        var table = [Float](repeating: 0, count: rows * width)
        for (i, id) in ids.enumerated() where id >= 0 && Int(id) < rows {
            for j in 0..<width { table[Int(id) * width + j] += values[i * width + j] }
        }
        return table
    }

    func uniform(_ count: Int, seed: UInt64) -> [Float] {
        Tensor.randomUniform([count], key: RandomKey(seed: seed)).scalars.map { $0 * 2 - 1 }
    }

    func assertBitwiseEqual(_ actual: [Float], _ expected: [Float], _ message: String, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, message, line: line)
        let differing = zip(actual, expected).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "\(message): \(differing) elements differ", line: line)
    }

    /// An embedding shared with an output layer: the dense use comes last in the forward
    /// pass, so its gradient is there first, and both lookups add into it in place.
    func testLookupsAddIntoTheDenseGradientAsTheDenseRouteDoes() {
        let table = Tensor(shape: [rows, width], scalars: uniform(rows * width, seed: 1))
        // Repeated ids, and rows that no id touches.
        let sourceIds: [Int32] = [3, 0, 3, 7, 3, 10, 0]
        let targetIds: [Int32] = [7, 7, 1, 3, 9]
        let a = uniform(sourceIds.count * width, seed: 2), b = uniform(targetIds.count * width, seed: 3)
        let c = uniform(rows * width, seed: 4)
        let (_, gradients) = valueAndGradient(at: [table]) { p in
            let source = p[0].gathering(rows: IndexTensor(shape: [sourceIds.count], scalars: sourceIds))
            let target = p[0].gathering(rows: IndexTensor(shape: [targetIds.count], scalars: targetIds))
            let lookups = (source * Tensor(shape: [sourceIds.count, width], scalars: a)).sum()
                + (target * Tensor(shape: [targetIds.count, width], scalars: b)).sum()
            return lookups + (p[0] * Tensor(shape: [rows, width], scalars: c)).sum()
        }
        // Backwards: the dense use's gradient c, then the target lookup's, then the source's.
        let targetSum = scattered(b, ids: targetIds), sourceSum = scattered(a, ids: sourceIds)
        let expected = (0..<(rows * width)).map { (c[$0] + targetSum[$0]) + sourceSum[$0] }
        assertBitwiseEqual(gradients[0].scalars, expected, "gradient of the shared table")
    }

    /// The one-hot product's gradient takes the same route, ids outside the table included.
    func testOneHotProductAddsIntoTheDenseGradientSkippingOutOfRangeIds() {
        let table = Tensor(shape: [rows, width], scalars: uniform(rows * width, seed: 5))
        let ids: [Int32] = [-1, 4, 4, Int32(rows), 0, 4]
        let a = uniform(ids.count * width, seed: 6), c = uniform(rows * width, seed: 7)
        let (_, gradients) = valueAndGradient(at: [table]) { p in
            let looked = Tensor.oneHotMatmul(IndexTensor(shape: [ids.count], scalars: ids), p[0])
            return (looked * Tensor(shape: [ids.count, width], scalars: a)).sum()
                + (p[0] * Tensor(shape: [rows, width], scalars: c)).sum()
        }
        let sum = scattered(a, ids: ids)
        assertBitwiseEqual(gradients[0].scalars, (0..<(rows * width)).map { c[$0] + sum[$0] }, "one-hot product")
    }

    /// When the existing gradient's storage is shared with another tensor's gradient (an
    /// add passes one gradient to both operands), the lookup adds into a copy and leaves
    /// the other gradient as it was.
    func testASharedGradientIsCopiedBeforeTheLookupAddsIntoIt() {
        let table = Tensor(shape: [rows, width], scalars: uniform(rows * width, seed: 8))
        let other = Tensor(shape: [rows, width], scalars: uniform(rows * width, seed: 9))
        let ids: [Int32] = [2, 5, 2]
        let a = uniform(ids.count * width, seed: 10)
        let (_, gradients) = valueAndGradient(at: [table, other]) { p in
            let looked = p[0].gathering(rows: IndexTensor(shape: [ids.count], scalars: ids))
            return (looked * Tensor(shape: [ids.count, width], scalars: a)).sum() + (p[0] + p[1]).sum()
        }
        let sum = scattered(a, ids: ids)
        assertBitwiseEqual(gradients[0].scalars, (0..<(rows * width)).map { 1 + sum[$0] }, "the table")
        assertBitwiseEqual(gradients[1].scalars, [Float](repeating: 1, count: rows * width), "the other operand")
    }

    /// With no dense gradient before it, a lookup's gradient is the dense scatter itself.
    func testALookupAloneGivesTheScatteredRows() {
        let table = Tensor(shape: [rows, width], scalars: uniform(rows * width, seed: 11))
        let ids: [Int32] = [6, 1, 6, 6]
        let a = uniform(ids.count * width, seed: 12)
        let (_, gradients) = valueAndGradient(at: [table]) { p in
            (p[0].gathering(rows: IndexTensor(shape: [ids.count], scalars: ids)) * Tensor(shape: [ids.count, width], scalars: a)).sum()
        }
        assertBitwiseEqual(gradients[0].scalars, scattered(a, ids: ids), "a lookup alone")
    }
}
