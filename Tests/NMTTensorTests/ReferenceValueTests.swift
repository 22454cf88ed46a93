import NMTTensor
import NMTTestSupport
import XCTest

/// Forward values against numpy (Scripts/reference/tensor_reference.py, float64 math on
/// the same float32 inputs).
final class ReferenceValueTests: XCTestCase {
    let x = patternTensor([3, 5], frequency: 0.37, amplitude: 3)

    func testSoftmax() {
        // tensor_reference.py: softmax(x)
        let expected: [Float] = [
            0.021717062, 0.064260458, 0.16417975, 0.31900103, 0.4308417, 0.49813709, 0.30391442, 0.13418009,
            0.047886738, 0.015881673, 0.43467102, 0.19288564, 0.11847536, 0.10759546, 0.14637252,
        ]
        assertClose(x.softmax(), Tensor(shape: [3, 5], scalars: expected), absoluteTolerance: 1e-7, relativeTolerance: 2e-6)
    }

    func testLogSoftmax() {
        // tensor_reference.py: logSoftmax(x)
        let expected: [Float] = [
            -3.8296571, -2.7448108, -1.8067934, -1.1425609, -0.84201454, -0.69687997, -1.1910091, -2.0085724,
            -3.0389167, -4.1425895, -0.83316581, -1.6456578, -2.1330502, -2.2293768, -1.9216004,
        ]
        assertClose(x.logSoftmax(), Tensor(shape: [3, 5], scalars: expected), absoluteTolerance: 1e-6, relativeTolerance: 1e-6)
    }

    func testSoftmaxIsStableForHugeLogits() {
        let big = Tensor(shape: [1, 3], scalars: [1e30, 1e30, -1e30])
        assertClose(big.softmax(), Tensor(shape: [1, 3], scalars: [0.5, 0.5, 0]))
        let masked = Tensor(shape: [1, 3], scalars: [1, 2, -1e9])
        XCTAssertEqual(masked.logSoftmax().scalars[2], -1e9 - 2.3132617, accuracy: 64)
        XCTAssertFalse(big.logSoftmax().scalars.contains { $0.isNaN })
    }

    func testLayerNorm() {
        let scale = patternTensor([5], frequency: 0.9, amplitude: 1, phase: 0.5) + 1
        let bias = patternTensor([5], frequency: 0.4, amplitude: 0.5, phase: 1)
        // tensor_reference.py: layerNorm(x, scale, bias, 1e-6)
        let expected: [Float] = [
            -1.9536074, -0.72571018, 0.91180481, 1.20491, 0.46217205, 2.2207536, 2.1224506, 0.7764537,
            -0.21684471, -0.022791567, 3.1330773, 0.91600871, -0.83756256, -0.49104518, 0.19649893,
        ]
        assertClose(
            x.layerNormalized(scale: scale, bias: bias), Tensor(shape: [3, 5], scalars: expected),
            absoluteTolerance: 1e-6, relativeTolerance: 2e-6)
    }

    func testCrossEntropyValueAndGradient() {
        let labels = Tensor.oneHot(IndexTensor([2, 0, 4]), depth: 5)
        let (loss, gradients) = valueAndGradient(at: [x]) { p in
            -(labels * p[0].logSoftmax()).sum(alongAxis: 1).mean()
        }
        // tensor_reference.py: cross-entropy loss, d loss / d x
        XCTAssertEqual(loss.scalar, 1.4750913, accuracy: 1e-6)
        let expected: [Float] = [
            0.0072390207, 0.021420153, -0.27860675, 0.10633368, 0.1436139, -0.16728764, 0.10130481, 0.044726696,
            0.015962246, 0.0052938909, 0.14489034, 0.064295212, 0.039491788, 0.035865153, -0.28454249,
        ]
        assertClose(gradients[0], Tensor(shape: [3, 5], scalars: expected), absoluteTolerance: 1e-7, relativeTolerance: 1e-5)
    }

    func testElementwiseFunctionsAgainstFoundation() {
        // exp runs on an 8-lane polynomial; compare with libm over a wide range, tail included.
        let values = (0..<1001).map { Float($0) * 0.17 - 85 }
        let result = Tensor(values).exp().scalars
        for (v, r) in zip(values, result) {
            XCTAssertEqual(r, Foundation.exp(v), accuracy: Foundation.exp(v) * 3e-7, "exp(\(v))")
        }
        XCTAssertEqual(Tensor([100, -100]).exp().scalars, [.infinity, 0])
        let p = Tensor([0.25, 4, 9])
        XCTAssertEqual(p.sqrt().scalars, [0.5, 2, 3])
        XCTAssertEqual(p.rsqrt().scalars, [2, 0.5, 1.0 / 3.0])
        XCTAssertEqual(p.log().scalars, [Foundation.log(0.25), Foundation.log(4), Foundation.log(9)])
        XCTAssertEqual(Tensor([-2, 0, 3]).relu().scalars, [0, 0, 3])
        XCTAssertEqual(Tensor([-2, 0, 3]).squared().scalars, [4, 0, 9])
    }
}
