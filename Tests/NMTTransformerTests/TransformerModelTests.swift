import Foundation
import NMTLayers
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

final class TransformerModelTests: XCTestCase {
    let small = TransformerConfiguration(vocabularySize: 7, hiddenSize: 8, layerCount: 2, headCount: 2, filterSize: 12)
    let inputs = IndexTensor(shape: [2, 4], scalars: [3, 5, 1, 0, 6, 2, 4, 1])
    let targets = IndexTensor(shape: [2, 3], scalars: [2, 1, 0, 4, 6, 1])

    func testPresetsEqualTheReferenceParameterSets() {
        let base = TransformerConfiguration.base, big = TransformerConfiguration.big, tiny = TransformerConfiguration.tiny
        XCTAssertEqual([base.hiddenSize, base.layerCount, base.headCount, base.filterSize], [512, 6, 8, 2048])
        XCTAssertEqual([big.hiddenSize, big.layerCount, big.headCount, big.filterSize], [1024, 6, 16, 4096])
        XCTAssertEqual([tiny.hiddenSize, tiny.layerCount, tiny.headCount, tiny.filterSize], [32, 6, 4, 256])
        for preset in [base, big, tiny] {
            XCTAssertEqual([preset.postprocessDropout, preset.attentionDropout, preset.reluDropout, preset.labelSmoothing], [0.1, 0.1, 0.1, 0.1])
            XCTAssertEqual([preset.extraDecodeLength, preset.beamSize], [50, 4])
            XCTAssertEqual(preset.alpha, 0.6)
            XCTAssertEqual(preset.vocabularySize, 0, "V comes from the vocabulary, never a preset")
        }
        XCTAssertEqual(TransformerConfiguration.preset(named: "big"), big)
        XCTAssertNil(TransformerConfiguration.preset(named: "huge"))
    }

    func testValidationNamesTheField() throws {
        XCTAssertThrowsError(try TransformerConfiguration.base.validate()) { error in
            guard case .invalid(let field, _) = error as? ConfigurationError else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "vocabularySize")
        }
        var c = TransformerConfiguration.base.withVocabularySize(100)
        try c.validate()
        c.headCount = 7
        XCTAssertThrowsError(try c.validate()) { error in
            XCTAssertTrue("\(error)".contains("headCount") && "\(error)".contains("512"), "\(error)")
        }
        c.headCount = 8
        c.attentionDropout = 1
        XCTAssertThrowsError(try Transformer(configuration: c, key: RandomKey(seed: 0))) { error in
            XCTAssertEqual(error as? ConfigurationError, .invalid(field: "attentionDropout", reason: "is 1.0; must be in [0, 1)"))
        }
    }

    func testConfigurationRoundTripsThroughJSON() throws {
        let c = TransformerConfiguration.tiny.withVocabularySize(8192)
        let decoded = try JSONDecoder().decode(TransformerConfiguration.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(decoded, c)
    }

    func testWordDropoutIsAConfigurationFieldThatOnlyTrainingUses() throws {
        // Files of models without word dropout do not mention it, and read back as 0.
        let plain = try JSONSerialization.jsonObject(with: JSONEncoder().encode(small)) as! [String: Any]
        XCTAssertNil(plain["wordDropout"])
        var c = small
        c.wordDropout = 0.5
        let decoded = try JSONDecoder().decode(TransformerConfiguration.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(decoded.wordDropout, 0.5)
        c.wordDropout = 1
        XCTAssertThrowsError(try c.validate()) { error in
            XCTAssertEqual(error as? ConfigurationError, .invalid(field: "wordDropout", reason: "is 1.0; must be in [0, 1)"))
        }
        // The same weights (word dropout has none) with and without it: inference is the
        // same computation; training draws other losses.
        var quiet = small
        (quiet.postprocessDropout, quiet.attentionDropout, quiet.reluDropout) = (0, 0, 0)
        var dropping = quiet
        dropping.wordDropout = 0.5
        let without = try Transformer(configuration: quiet, key: RandomKey(seed: 4))
        let with = try Transformer(configuration: dropping, key: RandomKey(seed: 4))
        let inference = ForwardContext.inference(plan: .dynamicShapes)
        XCTAssertEqual(
            with(inputs: inputs, targets: targets, context: inference).scalars,
            without(inputs: inputs, targets: targets, context: inference).scalars)
        let training = ForwardContext.training(key: RandomKey(seed: 5), plan: .dynamicShapes)
        XCTAssertEqual(
            without.loss(inputs: inputs, targets: targets, context: training).scalars,
            without.loss(inputs: inputs, targets: targets, context: inference).scalars)
        let losses = (0..<4).map {
            with.loss(inputs: inputs, targets: targets, context: .training(key: RandomKey(seed: $0), plan: .dynamicShapes)).scalars[0]
        }
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(Set(losses).count, 1, "different steps drop different tokens")
    }

    func testLabelSmoothingConstantsMatchReference() {
        // Documentation/Reference.md, label smoothing: V = 33708, smoothing 0.1 -> low 2.96674e-6, constant 1.3676291.
        let (on, off, constant) = TransformerLoss.smoothingConstants(smoothing: 0.1, vocabularySize: 33708)
        XCTAssertEqual(on, 0.9)
        XCTAssertEqual(off, 2.96674e-6, accuracy: 1e-11)
        XCTAssertEqual(constant, 1.3676291, accuracy: 2e-7)
        XCTAssertEqual(TransformerLoss.smoothingConstants(smoothing: 0, vocabularySize: 10).normalizingConstant, 0)
    }

    func testFusedCrossEntropyMatchesLogSoftmaxRoute() {
        let logits = patternTensor([4, 9], frequency: 0.71, amplitude: 3)
        let labels = IndexTensor([2, 0, 8, 5])
        let (on, off): (Float, Float) = (0.9, 0.1 / 8)
        var targets = [Float](repeating: off, count: 36)
        for (row, label) in labels.scalars.enumerated() { targets[row * 9 + Int(label)] = on }
        let soft = Tensor(shape: [4, 9], scalars: targets)
        assertClose(
            logits.softmaxCrossEntropy(labels: labels, onValue: on, offValue: off),
            -(soft * logits.logSoftmax()).sum(alongAxis: 1), absoluteTolerance: 2e-6)
        checkGradients([logits]) { $0[0].softmaxCrossEntropy(labels: labels, onValue: on, offValue: off) }
    }

    func testParameterNamesAreStableAndComplete() throws {
        let model = try Transformer(configuration: small, key: RandomKey(seed: 1))
        let names = model.namedParameters.map(\.name)
        // 1 embedding + per encoder layer 4 + 2 + 4 + 2, + 2; per decoder layer 8 + 4 + 4 + 2, + 2.
        XCTAssertEqual(names.count, 1 + 2 * 12 + 2 + 2 * 18 + 2)
        XCTAssertEqual(Set(names).count, names.count)
        XCTAssertEqual(names.first, "embedding.weights")
        XCTAssertTrue(names.contains("encoder.layers.1.selfAttention.query.kernel"))
        XCTAssertTrue(names.contains("decoder.layers.0.encoderDecoderAttentionNorm.scale"))
        XCTAssertEqual(names.last, "decoder.outputNorm.bias")
    }

    func testBatchValidation() throws {
        XCTAssertNoThrow(try TransformerBatch(inputs: inputs, targets: targets, vocabularySize: 7))
        XCTAssertThrowsError(try TransformerBatch(inputs: inputs, targets: targets, vocabularySize: 6)) { error in
            XCTAssertEqual(
                error as? BatchError, .idOutOfRange(name: "inputs", row: 1, column: 0, id: 6, vocabularySize: 6))
        }
        XCTAssertThrowsError(
            try TransformerBatch(inputs: inputs, targets: IndexTensor(shape: [1, 2], scalars: [1, 1]), vocabularySize: 7))
        XCTAssertThrowsError(try TransformerBatch(inputs: IndexTensor([1, 2]), targets: targets, vocabularySize: 7))
    }

    func testEmbeddingMethodsAndPaddingRemovalGiveTheSameModel() throws {
        let model = try Transformer(configuration: small, key: RandomKey(seed: 2))
        let probe = Tensor.randomNormal([2, 3, 7], key: RandomKey(seed: 3))
        func run(_ method: EmbeddingMethod, _ removal: Bool) throws -> (Tensor, ParameterGradients) {
            let context = ForwardContext.inference(plan: ExecutionPlan(embeddingMethod: method, removesPadding: removal))
            let logits = model(inputs: inputs, targets: targets, context: context)
            let (_, g) = valueAndGradient(of: model) {
                ($0(inputs: self.inputs, targets: self.targets, context: context) * probe).sum()
            }
            return (logits, g)
        }
        let (baseline, baselineGradients) = try run(.gather, true)
        for (method, removal) in [(EmbeddingMethod.matmul, false), (.gather, false), (.matmul, true)] {
            let (logits, gradients) = try run(method, removal)
            assertClose(logits, baseline, absoluteTolerance: 1e-6, "\(method), removal \(removal)")
            for name in gradients.names {
                assertClose(gradients[name]!, baselineGradients[name]!, absoluteTolerance: 1e-5, "\(name)")
            }
        }
    }

    /// `loss` runs the output layer and the loss as one op; it must be the loss of the
    /// logits `callAsFunction` gives, with the same gradients, to rounding (the op's own
    /// tests derive the bound; 1e-5 here is far below what a wrong table, label shift or
    /// padding mask would move them). The targets end in padding, which the op skips.
    func testTrainingLossIsTheLossOfTheModelsLogits() throws {
        let model = try Transformer(configuration: small, key: RandomKey(seed: 6))
        let context = ForwardContext.inference(plan: .dynamicShapes)
        let padded = IndexTensor(shape: [2, 3], scalars: [3, 4, 0, 5, 0, 0])
        let (fused, fusedGradients) = valueAndGradient(of: model) { $0.loss(inputs: self.inputs, targets: padded, context: context) }
        let (unfused, unfusedGradients) = valueAndGradient(of: model) {
            TransformerLoss.mean(
                logits: $0(inputs: self.inputs, targets: padded, context: context), labels: padded,
                smoothing: self.small.labelSmoothing)
        }
        XCTAssertEqual(fused.scalar, unfused.scalar, accuracy: 1e-5 * abs(unfused.scalar))
        for name in fusedGradients.names {
            assertClose(fusedGradients[name]!, unfusedGradients[name]!, absoluteTolerance: 1e-5, name)
        }
    }

    func testWholeTinyModelGradients() throws {
        // Small vocabulary, 2 + 2 layers, dropout on with a fixed key: every parameter's
        // gradient against central differences. ε = 1e-3 rather than 1e-2: through four
        // ReLU layers a 1e-2 step moved some pre-activations across 0 (a kink the analytic
        // gradient rightly ignores); the loss is ~2, so float32 noise stays ~1e-4.
        let model = try Transformer(configuration: small, key: RandomKey(seed: 4))
        let context = ForwardContext.training(key: RandomKey(seed: 5), plan: .dynamicShapes)
        checkParameterGradients(of: model, epsilon: 1e-3, absoluteTolerance: 3e-3) {
            $0.loss(inputs: self.inputs, targets: self.targets, context: context)
        }
    }
}
