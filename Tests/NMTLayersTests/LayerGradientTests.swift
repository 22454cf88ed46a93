import NMTLayers
import NMTTensor
import NMTTestSupport
import XCTest

/// Finite-difference checks of every layer (with dropout active where the layer has it).
final class LayerGradientTests: XCTestCase {
    let x = patternTensor([2, 3, 8], frequency: 0.37, amplitude: 1)
    let training = ForwardContext.training(key: RandomKey(seed: 11), plan: .dynamicShapes)

    func testLinearAndLayerNorm() {
        checkParameterGradients(of: Linear(inputSize: 8, outputSize: 5, key: RandomKey(seed: 1))) { $0(self.x) }
        checkParameterGradients(of: Linear(inputSize: 8, outputSize: 5, useBias: false, key: RandomKey(seed: 2))) {
            $0(self.x)
        }
        var norm = LayerNorm(size: 8)
        norm.scale = patternTensor([8], frequency: 0.9, amplitude: 0.5) + 1
        checkParameterGradients(of: norm) { $0(self.x) }
    }

    func testEmbeddingBothMethods() {
        let ids = IndexTensor(shape: [2, 3], scalars: [3, 0, 5, 5, 1, 0])
        for method in EmbeddingMethod.allCases {
            let embedding = EmbeddingSharedWeights(vocabularySize: 6, hiddenSize: 4, key: RandomKey(seed: 3))
            let context = ForwardContext.inference(plan: ExecutionPlan(embeddingMethod: method, removesPadding: false))
            checkParameterGradients(of: embedding) { $0(ids, context: context) }
            let h = patternTensor([2, 3, 4], frequency: 0.21, amplitude: 1)
            checkParameterGradients(of: embedding) { $0.linear(h) }
        }
    }

    func testAttention() {
        let attention = MultiHeadAttention(hiddenSize: 8, headCount: 2, dropoutRate: 0.1, dropoutSite: 5, key: RandomKey(seed: 4))
        let y = patternTensor([2, 4, 8], frequency: 0.53, amplitude: 1)
        let bias = Tensor(shape: [2, 1, 1, 4], scalars: [0, 0, 0, -1e9, 0, -1e9, -1e9, -1e9])
        checkParameterGradients(of: attention) { $0(AttentionInput(x: self.x, y: y, bias: bias), context: self.training) }
        checkGradients([x, y]) { xy in attention(AttentionInput(x: xy[0], y: xy[1], bias: bias), context: .inference(plan: .dynamicShapes)) }
    }

    func testFeedForwardWithAndWithoutPaddingRemoval() {
        let ffn = FeedForward(hiddenSize: 8, filterSize: 12, dropoutRate: 0.1, dropoutSite: 6, key: RandomKey(seed: 131))
        // Seed 131 keeps every ReLU pre-activation at least 0.15 from the kink, so central
        // differences with ε = 1e-2 (which move them by at most ~0.01) never straddle it.
        let margin = x.matmul(ffn.filter.kernel).scalars.map { abs($0) }.min()!
        XCTAssertGreaterThan(margin, 0.15)
        checkParameterGradients(of: ffn) { $0(self.x, context: self.training) }
        let rows = IndexTensor([0, 1, 3, 5])
        checkParameterGradients(of: ffn) { $0(self.x, nonPaddingRows: rows, context: .inference(plan: .dynamicShapes)) }
    }
}
