import Foundation
import NMTTensor
import NMTTestSupport
import XCTest

/// Central finite-difference checks of every differentiable operation (tolerances are
/// justified in `checkGradients`).
final class GradientCheckTests: XCTestCase {
    let a = patternTensor([2, 3], frequency: 0.7, amplitude: 1.5)
    let b = patternTensor([2, 3], frequency: 0.3, amplitude: 1.2, phase: 1)
    /// Strictly positive values for log, sqrt, rsqrt and division.
    let positive = patternTensor([2, 3], frequency: 0.5, amplitude: 0.8) + 1.5

    func testBinaryArithmeticWithBroadcasting() {
        let row = patternTensor([3], frequency: 0.9, amplitude: 1)
        let column = patternTensor([2, 1], frequency: 1.3, amplitude: 1, phase: 0.2)
        checkGradients([a, b]) { $0[0] + $0[1] }
        checkGradients([a, row]) { $0[0] - $0[1] }
        checkGradients([a, column]) { $0[0] * $0[1] }
        checkGradients([a, positive]) { $0[0] / $0[1] }
        checkGradients([row, positive]) { $0[0] / $0[1] }
        checkGradients([Tensor(2.5), a]) { $0[0] * $0[1] }
        // [2, 1, 1, 3] against [2, 2, 3, 3]: a non-trailing broadcast, as the attention bias.
        let bias = patternTensor([2, 1, 1, 3], frequency: 0.4, amplitude: 1)
        let logits = patternTensor([2, 2, 3, 3], frequency: 0.21, amplitude: 1)
        checkGradients([logits, bias]) { $0[0] + $0[1] }
    }

    /// Swish and the exact GELU (Marian's activations), away from nothing: both are smooth.
    func testMarianActivations() {
        checkGradients([a]) { $0[0].swish() }
        checkGradients([a]) { $0[0].gelu() }
        // Values against the definitions, in double precision.
        for (x, y) in zip(a.scalars.map(Double.init), a.swish().scalars) { XCTAssertEqual(Double(y), x / (1 + Foundation.exp(-x)), accuracy: 1e-6) }
        for (x, y) in zip(a.scalars.map(Double.init), a.gelu().scalars) {
            XCTAssertEqual(Double(y), 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())), accuracy: 1e-6)
        }
    }

    /// The product with a row bias inside BLAS's accumulator: its gradients, and its values
    /// against the product plus the bias (equal to rounding).
    func testMatmulAddingARow() {
        let x = patternTensor([3, 4], frequency: 0.37, amplitude: 1.1)
        let w = patternTensor([5, 4], frequency: 0.23, amplitude: 0.9, phase: 0.5)
        let bias = patternTensor([5], frequency: 0.6, amplitude: 0.7)
        checkGradients([x, w, bias]) { Tensor.matmul($0[0], $0[1], transposeB: true, addingRow: $0[2]) }
        checkGradients([x, w.transposed(), bias]) { Tensor.matmul($0[0], $0[1], addingRow: $0[2]) }
        let fused = Tensor.matmul(x, w, transposeB: true, addingRow: bias).scalars
        let separate = (Tensor.matmul(x, w, transposeB: true) + bias).scalars
        for (f, s) in zip(fused, separate) { XCTAssertEqual(f, s, accuracy: 1e-6) }
    }

    func testScalarArithmetic() {
        checkGradients([a]) { $0[0] * 3 + 2 }
        checkGradients([a]) { 1 - $0[0] / 4 }
        checkGradients([a]) { -$0[0] }
    }

    func testUnaryFunctions() {
        checkGradients([a]) { $0[0].exp() }
        checkGradients([positive]) { $0[0].log() }
        checkGradients([positive]) { $0[0].sqrt() }
        checkGradients([positive]) { $0[0].rsqrt() }
        checkGradients([a]) { $0[0].squared() }
        checkGradients([positive]) { $0[0].raised(toPower: 1.5) }
        // a - 0.25 keeps every element at least 0.25 away from ReLU's kink at 0.
        checkGradients([a - 0.25]) { $0[0].relu() }
    }

    func testMatmulAllTransposes() {
        let x = patternTensor([3, 4], frequency: 0.31, amplitude: 1)
        let y = patternTensor([4, 2], frequency: 0.57, amplitude: 1)
        checkGradients([x, y]) { Tensor.matmul($0[0], $0[1]) }
        checkGradients([x.transposed(), y]) { Tensor.matmul($0[0], $0[1], transposeA: true) }
        checkGradients([x, y.transposed()]) { Tensor.matmul($0[0], $0[1], transposeB: true) }
        checkGradients([x.transposed(), y.transposed()]) {
            Tensor.matmul($0[0], $0[1], transposeA: true, transposeB: true)
        }
    }

    func testBatchedAndRankNMatmul() {
        let x = patternTensor([2, 3, 4], frequency: 0.31, amplitude: 1)
        let y = patternTensor([2, 4, 2], frequency: 0.57, amplitude: 1)
        checkGradients([x, y]) { Tensor.matmul($0[0], $0[1]) }
        let w = patternTensor([4, 5], frequency: 0.23, amplitude: 1)
        checkGradients([x, w]) { $0[0].matmul($0[1]) }
    }

    func testMultiHeadProducts() {
        let q = patternTensor([2, 3, 4], frequency: 0.31, amplitude: 1)
        let k = patternTensor([2, 5, 4], frequency: 0.57, amplitude: 1)
        checkGradients([q, k]) { Tensor.multiHeadScores(queries: $0[0], keys: $0[1], heads: 2) }
        let w = patternTensor([2, 2, 3, 5], frequency: 0.13, amplitude: 1)
        checkGradients([w, k]) { Tensor.multiHeadCombine(weights: $0[0], values: $0[1]) }
    }

    func testShapeOperations() {
        let x = patternTensor([2, 3, 4], frequency: 0.31, amplitude: 1)
        checkGradients([x]) { $0[0].reshaped(to: [6, 4]) }
        checkGradients([x]) { $0[0].permuted([2, 0, 1]) }
        checkGradients([x]) { $0[0].transposed() }
        checkGradients([x]) { $0[0].slice(alongAxis: 1, 1..<3) }
        checkGradients([x]) { $0[0].expandingShape(at: 1).broadcasted(to: [2, 3, 3, 4]) }
        checkGradients([x, a.reshaped(to: [2, 3, 1])]) { Tensor.concatenate([$0[0], $0[1]], alongAxis: 2) }
        checkGradients([x]) { x in
            let parts = x[0].split(sizes: [1, 3], alongAxis: -1)
            return parts[0] * parts[1]
        }
    }

    func testReductions() {
        let x = patternTensor([2, 3, 4], frequency: 0.31, amplitude: 1)
        checkGradients([x]) { $0[0].sum(alongAxes: [0, 2]) }
        checkGradients([x]) { $0[0].sum(alongAxis: 1, keepingDimensions: true) }
        checkGradients([x]) { $0[0].mean(alongAxis: -1) }
        checkGradients([x]) { $0[0].mean() }
        // Distinct values: no ties within the reduced rows.
        checkGradients([x]) { $0[0].max(alongAxis: 2) }
        checkGradients([x]) { $0[0].max(alongAxes: [0, 1]) }
    }

    func testSoftmaxAndLayerNorm() {
        let x = patternTensor([3, 5], frequency: 0.37, amplitude: 3)
        checkGradients([x]) { $0[0].softmax() }
        checkGradients([x]) { $0[0].logSoftmax() }
        let scale = patternTensor([5], frequency: 0.9, amplitude: 1, phase: 0.5) + 1
        let bias = patternTensor([5], frequency: 0.4, amplitude: 0.5, phase: 1)
        checkGradients([x, scale, bias]) { $0[0].layerNormalized(scale: $0[1], bias: $0[2]) }
    }

    func testGatherSelectAndDropout() {
        let table = patternTensor([5, 3], frequency: 0.41, amplitude: 1)
        let ids = IndexTensor(shape: [2, 3], scalars: [4, 0, 4, 1, 2, 4])
        checkGradients([table]) { $0[0].gathering(rows: ids) }
        let mask = Tensor(shape: [2, 3], scalars: [1, 0, 1, 0, 0, 1])
        checkGradients([a, b]) { Tensor.select(mask, $0[0], $0[1]) }
        checkGradients([a]) { $0[0].maskedFill(where: mask, with: -1e9) * 1e-9 }
        let key = RandomKey(seed: 7)
        checkGradients([a]) { $0[0].dropout(rate: 0.5, key: key) }
    }

    func testCompositions() {
        // A two-layer network with a squared-error loss.
        let x = patternTensor([4, 3], frequency: 0.7, amplitude: 1)
        let w1 = patternTensor([3, 5], frequency: 0.33, amplitude: 0.8, phase: 0.3)
        let b1 = patternTensor([5], frequency: 0.5, amplitude: 0.1, phase: 0.7)
        let w2 = patternTensor([5, 2], frequency: 0.61, amplitude: 0.8)
        let y = patternTensor([4, 2], frequency: 0.2, amplitude: 1)
        checkGradients([w1, b1, w2]) { p in
            ((x.matmul(p[0]) + p[1]).relu().matmul(p[2]) - y).squared().mean()
        }
        // Softmax cross-entropy on one-hot labels.
        let logits = patternTensor([3, 5], frequency: 0.37, amplitude: 3)
        let labels = Tensor.oneHot(IndexTensor([2, 0, 4]), depth: 5)
        checkGradients([logits]) { -(labels * $0[0].logSoftmax()).sum(alongAxis: 1).mean() }
    }
}
