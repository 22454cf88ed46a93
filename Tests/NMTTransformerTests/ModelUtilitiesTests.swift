import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// Documentation/Reference.md, "Model mathematics" (`model_utils_test.py`) values.
final class ModelUtilitiesTests: XCTestCase {
    let n = ModelUtilities.negativeInfinity
    let ids = IndexTensor(shape: [3, 5], scalars: [1, 0, 0, 0, 2, 3, 4, 0, 0, 0, 0, 5, 6, 0, 7])

    func testPositionalEncodingReferenceValues() {
        // Documentation/Reference.md: computed pe(3, 4).
        let expected = Tensor(
            shape: [3, 4],
            scalars: [0, 0, 1, 1, 0.84147098, 1e-4, 0.54030231, 1.0, 0.90929743, 2e-4, -0.41614684, 0.99999998])
        assertClose(ModelUtilities.positionalEncoding(length: 3, hiddenSize: 4), expected, absoluteTolerance: 1e-7)
    }

    func testPositionalEncodingHalvesAreSinThenCos() {
        let pe = ModelUtilities.positionalEncoding(length: 50, hiddenSize: 512)
        XCTAssertEqual(pe.shape, [50, 512])
        // Timescale 0 has inverse 1: position p gives sin(p) then cos(p), 256 apart.
        XCTAssertEqual(pe[49, 0], Foundation.sin(Float(49)), accuracy: 1e-6)
        XCTAssertEqual(pe[49, 256], Foundation.cos(Float(49)), accuracy: 1e-6)
        // The last timescale is 1e-4: inv = exp(-255 · ln(1e4)/255).
        XCTAssertEqual(pe[49, 255], Foundation.sin(Float(49) * 1e-4), accuracy: 1e-6)
    }

    func testPadding() {
        XCTAssertEqual(ModelUtilities.padding(ids).scalars, [0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0])
    }

    func testPaddingBias() {
        let bias = ModelUtilities.paddingBias(ids)
        XCTAssertEqual(bias.shape, [3, 1, 1, 5])
        XCTAssertEqual(bias.scalars, [0, n, n, n, 0, 0, 0, n, n, n, n, 0, 0, n, 0])
    }

    func testDecoderSelfAttentionBias() {
        let bias = ModelUtilities.decoderSelfAttentionBias(length: 5)
        XCTAssertEqual(bias.shape, [1, 1, 5, 5])
        XCTAssertEqual(
            bias.scalars,
            [0, n, n, n, n, 0, 0, n, n, n, 0, 0, 0, n, n, 0, 0, 0, 0, n, 0, 0, 0, 0, 0])
    }
}
