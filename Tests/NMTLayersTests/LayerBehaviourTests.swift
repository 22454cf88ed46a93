import NMTLayers
import NMTTensor
import NMTTestSupport
import XCTest

final class LayerBehaviourTests: XCTestCase {
    let ids = IndexTensor(shape: [2, 4], scalars: [3, 7, 1, 0, 5, 0, 0, 0])

    func testGatherAndMatmulEmbeddingsAgreeExactly() {
        let embedding = EmbeddingSharedWeights(vocabularySize: 9, hiddenSize: 6, key: RandomKey(seed: 1))
        let gathering = ForwardContext.inference(plan: ExecutionPlan(embeddingMethod: .gather, removesPadding: false))
        let multiplying = ForwardContext.inference(plan: ExecutionPlan(embeddingMethod: .matmul, removesPadding: false))
        let viaGather = embedding(ids, context: gathering), viaMatmul = embedding(ids, context: multiplying)
        XCTAssertEqual(viaGather.scalars, viaMatmul.scalars)
        // Padding (id 0) embeds to exactly zero; others are W[id]·sqrt(6).
        XCTAssertTrue(viaGather.slice(alongAxis: 1, 3..<4).scalars.allSatisfy { $0 == 0 })
        XCTAssertEqual(viaGather[0, 0, 2], embedding.weights[3, 2] * Float(Double(6).squareRoot()))
        let probe = patternTensor([2, 4, 6], frequency: 0.3, amplitude: 1)
        let (_, gg) = valueAndGradient(of: embedding) { ($0(self.ids, context: gathering) * probe).sum() }
        let (_, gm) = valueAndGradient(of: embedding) { ($0(self.ids, context: multiplying) * probe).sum() }
        assertClose(gg["weights"]!, gm["weights"]!, absoluteTolerance: 1e-6)
        XCTAssertTrue(gg["weights"]!.slice(alongAxis: 0, 0..<1).scalars.allSatisfy { $0 == 0 }, "padding row gets no gradient")
    }

    func testPaddingRemovalMatchesFullComputationOnRealRows() {
        let ffn = FeedForward(hiddenSize: 6, filterSize: 10, dropoutRate: 0.3, dropoutSite: 0, key: RandomKey(seed: 2))
        let x = Tensor.randomNormal([2, 4, 6], key: RandomKey(seed: 3))
        let rows = FeedForward.nonPaddingRows(of: ids)
        XCTAssertEqual(rows.scalars, [0, 1, 2, 4])
        // In training too: dropout masks follow the full layout, not the compacted rows.
        let context = ForwardContext.training(key: RandomKey(seed: 12), plan: .dynamicShapes, firstExampleIndex: 4)
        let full = ffn(x, context: context).reshaped(to: [8, 6])
        let removed = ffn(x, nonPaddingRows: rows, context: context).reshaped(to: [8, 6])
        for row in 0..<8 {
            let got = removed.slice(alongAxis: 0, row..<(row + 1))
            if rows.scalars.contains(Int32(row)) {
                assertClose(got, full.slice(alongAxis: 0, row..<(row + 1)), absoluteTolerance: 1e-6)
            } else {
                XCTAssertTrue(got.scalars.allSatisfy { $0 == 0 }, "padded row \(row) outputs zeros")
            }
        }
    }

    func testCachedAttentionEqualsFullCausalAttention() {
        let attention = MultiHeadAttention(hiddenSize: 8, headCount: 2, dropoutRate: 0, dropoutSite: 0, key: RandomKey(seed: 4))
        let length = 5
        let x = Tensor.randomNormal([3, length, 8], key: RandomKey(seed: 5))
        var causal = [Float](repeating: 0, count: length * length)
        for i in 0..<length { for j in 0..<length where j > i { causal[i * length + j] = -1e9 } }
        let bias = Tensor(shape: [1, 1, length, length], scalars: causal)
        let full = attention(AttentionInput(x: x, y: x, bias: bias), context: .inference(plan: .dynamicShapes))
        var cache = AttentionCache(batchSize: 3, hiddenSize: 8)
        for i in 0..<length {
            let step = x.slice(alongAxis: 1, i..<(i + 1))
            let out = attention(
                AttentionInput(x: step, y: step, bias: Tensor.zeros([1, 1, 1, i + 1])), context: .inference(plan: .dynamicShapes), cache: &cache)
            assertClose(out, full.slice(alongAxis: 1, i..<(i + 1)), absoluteTolerance: 1e-5, "position \(i)")
        }
        XCTAssertEqual(cache.keys.shape, [3, length, 8])
    }

    func testDropoutOnlyInTrainingAndShardInvariant() {
        let dropout = Dropout(rate: 0.5, site: 3)
        let x = Tensor.ones([4, 10])
        XCTAssertEqual(dropout(x, context: .inference(plan: .dynamicShapes)).scalars, x.scalars)
        let key = RandomKey(seed: 8)
        let whole = dropout(x, context: .training(key: key, plan: .dynamicShapes)).scalars
        XCTAssertTrue(whole.contains(0) && whole.contains(2))
        let first = dropout(x.slice(alongAxis: 0, 0..<2), context: .training(key: key, plan: .dynamicShapes, firstExampleIndex: 0)).scalars
        let second = dropout(x.slice(alongAxis: 0, 2..<4), context: .training(key: key, plan: .dynamicShapes, firstExampleIndex: 2)).scalars
        XCTAssertEqual(first + second, whole)
    }

    func testWordDropoutDropsWholeTokenVectorsAndIsShardInvariant() {
        let rate: Float = 0.25
        let dropout = Dropout(rate: rate, site: 3)
        let (batch, length, width) = (40, 50, 6)
        let x = patternTensor([batch, length, width], frequency: 0.37, amplitude: 2)
        XCTAssertEqual(dropout.wholeVectors(x, context: .inference(plan: .dynamicShapes)).scalars, x.scalars)
        let key = RandomKey(seed: 21)
        let y = dropout.wholeVectors(x, context: .training(key: key, plan: .dynamicShapes))
        let gradient = valueAndGradient(at: [x]) {
            dropout.wholeVectors($0[0], context: .training(key: key, plan: .dynamicShapes)).sum()
        }.gradients[0]
        // Every token's vector is either all zeros or x's divided by 1 − rate, as in
        // element dropout, and its gradient (of the sum) is 0 or 1 / (1 − rate) alike.
        let keep = 1 - rate
        var dropped = 0
        for token in 0..<(batch * length) {
            let row = token * width..<(token + 1) * width
            let out = Array(y.scalars[row]), grad = Array(gradient.scalars[row])
            if out.allSatisfy({ $0 == 0 }) {
                dropped += 1
                XCTAssertEqual(grad, [Float](repeating: 0, count: width), "token \(token)")
            } else {
                XCTAssertEqual(out, x.scalars[row].map { $0 / keep }, "token \(token)")
                XCTAssertEqual(grad, [Float](repeating: 1 / keep, count: width), "token \(token)")
            }
        }
        // 2,000 tokens at rate 0.25: 500 expected, standard deviation 19.4; 4 deviations.
        XCTAssertEqual(Double(dropped), 500, accuracy: 4 * 19.4)
        // Replicas with the two halves of the batch drop the tokens the whole batch drops.
        let halves = [0..<15, 15..<batch].map { part in
            dropout.wholeVectors(
                x.slice(alongAxis: 0, part),
                context: .training(key: key, plan: .dynamicShapes, firstExampleIndex: part.lowerBound)
            ).scalars
        }
        XCTAssertEqual(halves[0] + halves[1], y.scalars)
        // Another site of the same step draws another mask.
        let other = Dropout(rate: rate, site: 4).wholeVectors(x, context: .training(key: key, plan: .dynamicShapes))
        XCTAssertNotEqual(other.scalars, y.scalars)
    }

    func testNamesAndLoading() throws {
        var attention = MultiHeadAttention(hiddenSize: 4, headCount: 2, dropoutRate: 0, dropoutSite: 0, key: RandomKey(seed: 6))
        XCTAssertEqual(
            attention.namedParameters.map(\.name), ["query.kernel", "key.kernel", "value.kernel", "output.kernel"])
        try attention.load(["query.kernel": Tensor.ones([4, 4])], allowMissing: true)
        XCTAssertEqual(attention.query.kernel.scalars, [Float](repeating: 1, count: 16))
        XCTAssertThrowsError(try attention.load(["query.kernel": Tensor.ones([4, 3])], allowMissing: true)) {
            XCTAssertEqual($0 as? ParameterError, .shapeMismatch(name: "query.kernel", expected: [4, 4], actual: [4, 3]))
        }
        XCTAssertThrowsError(try attention.load(["nope": Tensor.ones([1])], allowMissing: true)) {
            XCTAssertEqual($0 as? ParameterError, .unknown("nope"))
        }
        XCTAssertThrowsError(try attention.load([:])) { XCTAssertEqual($0 as? ParameterError, .missing("query.kernel")) }
    }
}
