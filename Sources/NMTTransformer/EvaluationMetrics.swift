import Foundation
import NMTTensor

/// The reference's evaluation metrics (`utils/metrics.get_eval_metrics`), accumulated
/// over batches as `tf.metrics.mean` does: each metric is Σ scores·weights / Σ weights.
///
/// Difference from the reference, deliberately: approximate BLEU, ROUGE-2 and ROUGE-L
/// are computed on id rows with padding and everything after the first EOS removed (the
/// EOS itself is kept), not on the padded rows (Documentation/Reference.md, "BLEU").
public struct EvaluationMetrics: Sendable {
    /// Whether approximate BLEU and ROUGE are computed (off on a static device, as on a TPU).
    public var includesHostMetrics: Bool
    private var sums: [String: Double] = [:]
    private var weights: [String: Double] = [:]

    /// The metric names, as the reference reports them.
    public static let accuracy = "metrics/accuracy", topFiveAccuracy = "metrics/accuracy_top5"
    /// The metric names, as the reference reports them.
    public static let sequenceAccuracy = "metrics/accuracy_per_sequence"
    /// The metric names, as the reference reports them.
    public static let negativeLogPerplexity = "metrics/neg_log_perplexity"
    /// The metric names, as the reference reports them.
    public static let approximateBLEU = "metrics/approx_bleu_score", rouge2 = "metrics/rouge_2_fscore"
    /// The metric names, as the reference reports them.
    public static let rougeL = "metrics/rouge_L_fscore"

    /// Creates empty accumulators.
    public init(includesHostMetrics: Bool = true) {
        self.includesHostMetrics = includesHostMetrics
    }

    private mutating func add(_ name: String, score: Double, weight: Double) {
        sums[name, default: 0] += score * weight
        weights[name, default: 0] += weight
    }

    /// Adds one batch.
    ///
    /// - Parameters:
    ///   - logits: [B, T, V].
    ///   - labels: [B, T] target ids, 0 = padding.
    public mutating func accumulate(logits: Tensor, labels: IndexTensor) {
        let (batch, length, vocabulary) = (logits.shape[0], logits.shape[1], logits.shape[2])
        let flat = logits.reshaped(to: [batch * length, vocabulary])
        let k = min(5, vocabulary)
        let top = flat.topK(k).indices.scalars
        let ids = labels.scalars
        let predictions = (0..<(batch * length)).map { top[$0 * k] }
        let (losses, lossWeights) = TransformerLoss.paddedCrossEntropy(logits: logits, labels: labels, smoothing: 0)
        let negativeLogProbabilities = losses.scalars, tokenWeights = lossWeights.scalars
        for b in 0..<batch {
            var allCorrect = true
            for t in 0..<length {
                let i = b * length + t
                guard ids[i] != 0 else { continue }
                let correct = predictions[i] == ids[i]
                allCorrect = allCorrect && correct
                add(Self.accuracy, score: correct ? 1 : 0, weight: 1)
                add(Self.topFiveAccuracy, score: top[(i * k)..<(i * k + k)].contains(ids[i]) ? 1 : 0, weight: 1)
                add(Self.negativeLogPerplexity, score: -Double(negativeLogProbabilities[i]), weight: Double(tokenWeights[i]))
            }
            add(Self.sequenceAccuracy, score: allCorrect ? 1 : 0, weight: 1)
        }
        guard includesHostMetrics else { return }
        let references = (0..<batch).map { Self.stripped(ids[($0 * length)..<($0 * length + length)]) }
        let hypotheses = (0..<batch).map { Self.stripped(predictions[($0 * length)..<($0 * length + length)]) }
        add(Self.approximateBLEU, score: Double(BLEU.score(references: references, translations: hypotheses)), weight: 1)
        add(Self.rouge2, score: Self.rouge2F(hypotheses: hypotheses, references: references), weight: 1)
        add(Self.rougeL, score: Self.rougeLF(hypotheses: hypotheses, references: references), weight: 1)
    }

    /// The mean of every metric accumulated so far.
    public var results: [String: Double] {
        sums.reduce(into: [:]) { result, entry in
            let weight = weights[entry.key] ?? 0
            result[entry.key] = weight > 0 ? entry.value / weight : 0
        }
    }

    /// Ids up to and including the first EOS (1), with padding (0) removed.
    static func stripped<C: Collection>(_ row: C) -> [Int32] where C.Element == Int32 {
        var out: [Int32] = []
        for id in row where id != 0 {
            out.append(id)
            if id == 1 { break }
        }
        return out
    }

    /// Mean over sentences of the F1 of the *sets* of bigrams, `2PR / (P + R + 1e-8)`, as
    /// the reference's `rouge_n` (n = 2).
    public static func rouge2F(hypotheses: [[Int32]], references: [[Int32]]) -> Double {
        func bigrams(_ s: [Int32]) -> Set<[Int32]> {
            s.count < 2 ? [] : Set((0..<(s.count - 1)).map { [s[$0], s[$0 + 1]] })
        }
        let scores = zip(hypotheses, references).map { hypothesis, reference -> Double in
            let h = bigrams(hypothesis), r = bigrams(reference)
            let overlap = Double(h.intersection(r).count)
            let precision = h.isEmpty ? 0 : overlap / Double(h.count)
            let recall = r.isEmpty ? 0 : overlap / Double(r.count)
            return 2 * precision * recall / (precision + recall + 1e-8)
        }
        return scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
    }

    /// Mean over sentences of the LCS F-measure of the reference's `rouge_l_sentence_level`:
    /// β = P / (R + 1e-12), F = (1 + β²)RP / (R + β²P + 1e-12).
    public static func rougeLF(hypotheses: [[Int32]], references: [[Int32]]) -> Double {
        let scores = zip(hypotheses, references).map { hypothesis, reference -> Double in
            guard !hypothesis.isEmpty, !reference.isEmpty else { return 0 }
            let lcs = Double(longestCommonSubsequence(hypothesis, reference))
            let recall = lcs / Double(reference.count), precision = lcs / Double(hypothesis.count)
            let beta = precision / (recall + 1e-12)
            return (1 + beta * beta) * recall * precision / (recall + beta * beta * precision + 1e-12)
        }
        return scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
    }

    static func longestCommonSubsequence(_ a: [Int32], _ b: [Int32]) -> Int {
        var previous = [Int](repeating: 0, count: b.count + 1), current = previous
        for x in a {
            for (j, y) in b.enumerated() { current[j + 1] = x == y ? previous[j] + 1 : max(previous[j + 1], current[j]) }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
