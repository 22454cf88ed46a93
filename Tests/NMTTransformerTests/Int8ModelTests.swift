import CNMTKernels
import NMTLayers
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// `Transformer.int8Quantized()`: which weights it quantizes, how close its logits stay to
/// the float model's, that it decodes alike at every vector width, and its errors.
final class Int8ModelTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    let reference = TransformerConfiguration(vocabularySize: 40, hiddenSize: 32, layerCount: 2, headCount: 4, filterSize: 48)

    /// A Marian-style model: biased projections, post-norm, swish, its own output matrix
    /// and a logit bias.
    func marianConfiguration() -> TransformerConfiguration {
        var configuration = reference
        configuration.architecture = TransformerArchitecture(
            family: .marian, normalization: .postNorm, activation: .swish, layerNormEpsilon: 1e-5, attentionBiases: true,
            scalesEmbedding: true, zeroesPaddingEmbedding: false, positionTable: .marian, maximumPositions: 64,
            sourceVocabularySize: nil, tiesOutputProjection: false, outputBias: true)
        return configuration
    }

    /// Sources [3, 7] and shifted targets [3, 6] of ids 2..<40 with EOS and padding.
    let sources = IndexTensor(shape: [3, 7], scalars: [5, 9, 13, 22, 31, 1, 0, 7, 3, 1, 0, 0, 0, 0, 39, 2, 11, 17, 23, 29, 1])
    let targets = IndexTensor(shape: [3, 6], scalars: [4, 8, 15, 16, 1, 0, 6, 1, 0, 0, 0, 0, 12, 24, 36, 2, 3, 1])

    func logits(_ model: Transformer) -> Tensor {
        let context = ForwardContext.inference(plan: .dynamicShapes)
        let (outputs, bias) = model.encode(sources, context: context)
        return model.decode(targets, encoderOutputs: outputs, attentionBias: bias, context: context)
    }

    /// Teacher-forced logits of the int8 model against the float model's, for both
    /// families. Each int8 product is off by at most about 1/127 of its inputs' scale
    /// (Int8MatrixTests checks the exact bound); normalization rescales between sublayers,
    /// so the errors add along the longest chain of products rather than multiply: 4 per
    /// encoder layer's output into the decoder's attention, 6 per decoder layer, and the
    /// logits, 21 in all, allowing 21/127 ≈ 0.17 of the logits' largest magnitude. The
    /// Marian model's logit bias (±50, far above the products) must arrive intact.
    func testLogitsStayCloseToTheFloatModelsForBothFamilies() throws {
        var marian = try Transformer(configuration: marianConfiguration(), key: RandomKey(seed: 4))
        marian.outputBias = Tensor((0..<40).map { Float($0 % 3 - 1) * 50 })
        for (name, model) in [("reference", try Transformer(configuration: reference, key: RandomKey(seed: 3))), ("marian", marian)] {
            let quantized = try model.int8Quantized()
            XCTAssertTrue(quantized.isInt8)
            XCTAssertFalse(model.isInt8)
            let expected = logits(model), actual = logits(quantized)
            XCTAssertEqual(actual.shape, [3, 6, 40])
            let products = expected.scalars.enumerated().map { i, value in value - (model.outputBias?.scalars[i % 40] ?? 0) }
            let allowed = Float(21) / 127 * products.map(abs).max()!
            let worst = zip(actual.scalars, expected.scalars).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, allowed, name)
            XCTAssertGreaterThan(worst, 0, "\(name): the int8 model computes otherwise than the float one")
        }
    }

    /// Every layer's projections and the logits projection are quantized (and nothing is
    /// left in float by mistake); the source embedding table is not.
    func testQuantizesEveryProjection() throws {
        let model = try Transformer(configuration: marianConfiguration(), key: RandomKey(seed: 5)).int8Quantized()
        var linears: [Linear] = []
        for layer in model.encoder.layers {
            let a = layer.selfAttention
            linears += [a.query, a.key, a.value, a.output, layer.feedForward.filter, layer.feedForward.output]
        }
        for layer in model.decoder.layers {
            for a in [layer.selfAttention, layer.encoderDecoderAttention] { linears += [a.query, a.key, a.value, a.output] }
            linears += [layer.feedForward.filter, layer.feedForward.output]
        }
        XCTAssertEqual(linears.count, 2 * 6 + 2 * 10)
        for linear in linears {
            let int8 = try XCTUnwrap(linear.int8)
            XCTAssertEqual([int8.inputSize, int8.outputSize], linear.kernel.shape)
        }
        XCTAssertEqual(model.int8Logits.map { [$0.inputSize, $0.outputSize] }, [32, 40])
    }

    /// Beam search with the int8 model gives the same ids and scores at every vector width
    /// the CPU has (the int8 sums are exact, the other kernels width-independent by
    /// contract).
    func testDecodesIdenticallyAtEveryWidth() throws {
        let model = try Transformer(configuration: reference, key: RandomKey(seed: 6)).int8Quantized()
        _ = nmt_kernels_limit_vector_bits(0)
        let portable = model.translate(sources, plan: .dynamicShapes)
        for bits: Int32 in [256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
            let vector = model.translate(sources, plan: .dynamicShapes)
            XCTAssertEqual(vector.sequences, portable.sequences, "width \(bits)")
            XCTAssertEqual(vector.scores, portable.scores, "width \(bits)")
        }
    }

    /// A NaN or infinite weight is named with its position in the parameter; visiting the
    /// parameters (which may change them) returns the model to float.
    func testNamesAWeightWithoutAnInt8ValueAndVisitingClearsTheQuantization() throws {
        var model = try Transformer(configuration: reference, key: RandomKey(seed: 7))
        var broken = model
        broken.decoder.layers[1].feedForward.filter.kernel = Tensor(
            shape: [32, 48], scalars: (0..<(32 * 48)).map { $0 == 5 * 48 + 9 ? .nan : 0.1 })
        XCTAssertThrowsError(try broken.int8Quantized()) {
            XCTAssertEqual($0 as? Int8QuantizationError, .weight("decoder.layers.1.feedForward.filter.kernel", .notFinite(row: 5, column: 9)))
        }
        broken = model
        broken.embedding.weights = Tensor(shape: [40, 32], scalars: (0..<(40 * 32)).map { $0 == 17 * 32 + 3 ? .infinity : 0.1 })
        XCTAssertThrowsError(try broken.int8Quantized()) {
            XCTAssertEqual($0 as? Int8QuantizationError, .weight("embedding.weights", .notFinite(row: 17, column: 3)))
            XCTAssertTrue("\($0)".contains("embedding.weights"))
        }
        model = try model.int8Quantized()
        model.visitParameters { _, _ in }
        XCTAssertFalse(model.isInt8)
        XCTAssertNil(model.encoder.layers[0].selfAttention.query.int8)
        XCTAssertNil(model.decoder.layers[1].feedForward.output.int8)
    }
}
