import Foundation
import NMTTensor
import NMTTransformer
import XCTest

final class EvaluationMetricsTests: XCTestCase {
    func testRougeHandValues() {
        // Bigram sets {23, 34, 41} and {23, 35, 51}: one shared, P = R = 1/3, F = 1/3.
        XCTAssertEqual(EvaluationMetrics.rouge2F(hypotheses: [[2, 3, 4, 1]], references: [[2, 3, 5, 1]]), 1.0 / 3, accuracy: 1e-7)
        // LCS [2, 3, 1] of length 3: P = R = 3/4, β = 1, F = 0.75.
        XCTAssertEqual(EvaluationMetrics.rougeLF(hypotheses: [[2, 3, 4, 1]], references: [[2, 3, 5, 1]]), 0.75, accuracy: 1e-9)
        // Unequal lengths: LCS 2 of hyp 2 / ref 4: P = 1, R = 0.5, β = 2, F = 5·0.5/(0.5 + 4) = 0.5556.
        XCTAssertEqual(EvaluationMetrics.rougeLF(hypotheses: [[7, 8]], references: [[7, 9, 8, 1]]), 2.5 / 4.5, accuracy: 1e-9)
        XCTAssertEqual(EvaluationMetrics.rouge2F(hypotheses: [[7]], references: [[7, 8]]), 0)
    }

    func testTokenAndSequenceMetrics() {
        // Two sentences of 3 positions over 6 ids; logits put 5 on the predicted id and 0 on
        // the others.
        let predicted: [Int] = [2, 3, 1, 2, 4, 0]
        let labels = IndexTensor(shape: [2, 3], scalars: [2, 3, 1, 2, 5, 0])
        var values = [Float](repeating: 0, count: 36)
        for (i, p) in predicted.enumerated() { values[i * 6 + p] = 5 }
        let logits = Tensor(shape: [2, 3, 6], scalars: values)
        var metrics = EvaluationMetrics()
        metrics.accumulate(logits: logits, labels: labels)
        let r = metrics.results
        // Non-padding tokens: 5, of which 4 correct (position [1, 1] predicts 4, label 5).
        XCTAssertEqual(r[EvaluationMetrics.accuracy]!, 0.8, accuracy: 1e-12)
        // At [1, 1] the top 5 are id 4 and then the tied ids 0-3 (lower ids first, as top_k):
        // label 5 is outside, so top-5 accuracy is also 4/5.
        XCTAssertEqual(r[EvaluationMetrics.topFiveAccuracy]!, 0.8, accuracy: 1e-12)
        XCTAssertEqual(r[EvaluationMetrics.sequenceAccuracy]!, 0.5, accuracy: 1e-12)
        // log softmax of a row with one 5 and five 0s: at the 5, 5 - ln(e^5 + 5); elsewhere -ln(e^5 + 5).
        let top = 5 - Foundation.log(Foundation.exp(5.0) + 5), other = -Foundation.log(Foundation.exp(5.0) + 5)
        XCTAssertEqual(r[EvaluationMetrics.negativeLogPerplexity]!, (4 * top + other) / 5, accuracy: 1e-5)
        // Sentence 0 is perfect; sentence 1 hypothesis [2, 4] against reference [2, 5]:
        // BLEU of the batch, ROUGE means over both sentences.
        let bleu = Double(BLEU.score(references: [[Int32(2), 3, 1], [2, 5]], translations: [[Int32(2), 3, 1], [2, 4]]))
        XCTAssertEqual(r[EvaluationMetrics.approximateBLEU]!, bleu, accuracy: 1e-7)
        XCTAssertEqual(r[EvaluationMetrics.rouge2]!, (1 + 0) / 2, accuracy: 1e-7)
        XCTAssertEqual(r[EvaluationMetrics.rougeL]!, (1 + 0.5) / 2, accuracy: 1e-7)

        var device = EvaluationMetrics(includesHostMetrics: false)
        device.accumulate(logits: logits, labels: labels)
        XCTAssertNil(device.results[EvaluationMetrics.approximateBLEU])
        XCTAssertEqual(device.results[EvaluationMetrics.accuracy]!, 0.8, accuracy: 1e-12)
    }

    func testTopFiveMissAndRunningMean() {
        // V = 7: the label's logit is the lowest, so it is outside the top 5.
        let logits = Tensor(shape: [1, 1, 7], scalars: [6, 5, 4, 3, 2, 1, 0])
        var metrics = EvaluationMetrics()
        metrics.accumulate(logits: logits, labels: IndexTensor(shape: [1, 1], scalars: [6]))
        XCTAssertEqual(metrics.results[EvaluationMetrics.topFiveAccuracy]!, 0)
        metrics.accumulate(logits: logits, labels: IndexTensor(shape: [1, 1], scalars: [0 + 2]))
        XCTAssertEqual(metrics.results[EvaluationMetrics.topFiveAccuracy]!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(metrics.results[EvaluationMetrics.accuracy]!, 0)
    }
}
