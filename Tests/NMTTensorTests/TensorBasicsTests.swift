import NMTTensor
import NMTTestSupport
import XCTest

final class TensorBasicsTests: XCTestCase {
    func testCreation() {
        let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(t.shape, [2, 3])
        XCTAssertEqual(t.rank, 2)
        XCTAssertEqual(t.scalarCount, 6)
        XCTAssertEqual(t[1, 2], 6)
        XCTAssertEqual(Tensor.zeros([2, 2]).scalars, [0, 0, 0, 0])
        XCTAssertEqual(Tensor.ones([3]).scalars, [1, 1, 1])
        XCTAssertEqual(Tensor(repeating: 7, shape: [2]).scalars, [7, 7])
        XCTAssertEqual(Tensor(3).shape, [])
        XCTAssertEqual(Tensor(3).scalar, 3)
        XCTAssertEqual(Tensor.zeros([0, 4]).scalarCount, 0)
    }

    func testCopyOnWrite() {
        let original = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        var copy = original
        copy[0, 1] = 20
        XCTAssertEqual(original.scalars, [1, 2, 3, 4], "mutating a copy must not change the original")
        XCTAssertEqual(copy.scalars, [1, 20, 3, 4])
        var view = original.reshaped(to: [4])
        view.withUnsafeMutableBufferPointer { $0[3] = 40 }
        XCTAssertEqual(original.scalars, [1, 2, 3, 4], "a reshaped view is a value too")
        XCTAssertEqual(view.scalars, [1, 2, 3, 40])
    }

    func testBroadcastingForwardValues() {
        let m = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual((m + Tensor([10, 20, 30])).scalars, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual((m * Tensor(shape: [2, 1], scalars: [2, 3])).scalars, [2, 4, 6, 12, 15, 18])
        XCTAssertEqual((Tensor(shape: [2, 1], scalars: [1, 2]) - Tensor([1, 2, 3])).scalars, [0, -1, -2, 1, 0, -1])
        XCTAssertEqual((m / Tensor(2)).scalars, [0.5, 1, 1.5, 2, 2.5, 3])
        XCTAssertEqual((m * 2 + 1).scalars, [3, 5, 7, 9, 11, 13])
        XCTAssertEqual((10 - m).scalars, [9, 8, 7, 6, 5, 4])
        // Attention-style bias: [B, 1, 1, L] onto [B, N, L, L].
        let logits = Tensor.zeros([2, 2, 2, 2])
        let bias = Tensor(shape: [2, 1, 1, 2], scalars: [0, -1, -2, 0])
        let sum = logits + bias
        XCTAssertEqual(sum.shape, [2, 2, 2, 2])
        XCTAssertEqual(sum.scalars, [0, -1, 0, -1, 0, -1, 0, -1, -2, 0, -2, 0, -2, 0, -2, 0])
        XCTAssertEqual(Tensor([1, 2]).broadcasted(to: [2, 2]).scalars, [1, 2, 1, 2])
    }

    func testShapeOperationsForward() {
        let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(x.transposed().scalars, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(x.reshaped(to: [3, -1]).shape, [3, 2])
        let cube = Tensor(shape: [2, 2, 2], scalars: (0..<8).map(Float.init))
        XCTAssertEqual(cube.permuted([2, 0, 1]).scalars, [0, 2, 4, 6, 1, 3, 5, 7])
        XCTAssertEqual(x.slice(alongAxis: 1, 1..<3).scalars, [2, 3, 5, 6])
        XCTAssertEqual(Tensor.concatenate([x, x * 10], alongAxis: 0).scalars, [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60])
        XCTAssertEqual(Tensor.concatenate([x, x * 10], alongAxis: 1).shape, [2, 6])
        let parts = x.split(sizes: [1, 2], alongAxis: 1)
        XCTAssertEqual(parts.map(\.scalars), [[1, 4], [2, 3, 5, 6]])
        XCTAssertEqual(x.expandingShape(at: 0).shape, [1, 2, 3])
    }

    func testReductionsForward() {
        let x = Tensor(shape: [2, 3], scalars: [1, 5, 3, 4, 2, 6])
        XCTAssertEqual(x.sum().scalar, 21)
        XCTAssertEqual(x.sum(alongAxis: 0).scalars, [5, 7, 9])
        XCTAssertEqual(x.sum(alongAxis: 1, keepingDimensions: true).shape, [2, 1])
        XCTAssertEqual(x.mean(alongAxis: 1).scalars, [3, 4])
        XCTAssertEqual(x.max(alongAxis: 1).scalars, [5, 6])
        XCTAssertEqual(x.max(alongAxis: 0).scalars, [4, 5, 6])
        // A long row exercises the 8-lane accumulator and its tail.
        let long = Tensor((1...1001).map(Float.init))
        XCTAssertEqual(long.sum().scalar, 501_501)
        XCTAssertEqual(long.max(alongAxis: 0).scalar, 1001)
    }

    func testMaxGradientIsSharedAmongTies() {
        let x = Tensor([1, 3, 3])
        let (_, g) = valueAndGradient(at: [x]) { $0[0].max(alongAxis: 0) }
        XCTAssertEqual(g[0].scalars, [0, 0.5, 0.5])
    }
}
