import Foundation
import NMTAccelerator
import NMTData
import NMTTransformer

/// Evaluation of a model on TFRecord shards: the Estimator's `loss` and the reference's
/// metrics.
public enum Evaluation {
    /// Loss (the mean of per-batch label-smoothed losses, as the Estimator reports it) and
    /// every `metrics/...` value the device supports, over the files matching `filePattern`;
    /// a device with several replicas evaluates their parts of each batch concurrently.
    ///
    /// Batches without a target token (only padding) have no loss and are left out of the
    /// mean (the reference would report NaN).
    ///
    /// - Throws: dataset errors, `BatchError` when the data holds ids outside the model's
    ///   vocabulary, or ``EvaluationError/noTargetTokens(pattern:)`` when no batch has a
    ///   target token.
    public static func run(
        model: Transformer, filePattern: String, batchTokens: Int, maxLength: Int, staticBatches: Bool = false,
        device: Device
    ) throws -> [String: Double] {
        let dataset = try TranslationDataset(
            filePattern: filePattern,
            options: DatasetOptions(batchTokens: batchTokens, maxLength: maxLength, staticBatches: staticBatches))
        let configuration = model.configuration
        var metrics = EvaluationMetrics(includesHostMetrics: device.capabilities.hostMetrics)
        var lossSum = 0.0, batchCount = 0
        let iterator = try dataset.makeIterator()
        while let tokens = try iterator.next() {
            let batch = try TransformerBatch(tokens, vocabularySize: configuration.vocabularySize)
            // Each replica computes the logits and loss sums of its sentences; the batch's
            // loss is the sum over replicas divided by the total weight (the batch mean).
            let parts = try device.runSharded(model: model, batch: batch) { model, part, context in
                let logits = model(inputs: part.inputs, targets: part.targets, context: context)
                let (losses, weights) = TransformerLoss.paddedCrossEntropy(
                    logits: logits, labels: part.targets, smoothing: configuration.labelSmoothing)
                return (logits: logits, labels: part.targets, loss: losses.sum().scalar, weight: weights.sum().scalar)
            }
            for part in parts { metrics.accumulate(logits: part.logits, labels: part.labels) }
            let weight = parts.reduce(0) { $0 + $1.weight }
            guard weight > 0 else { continue }
            lossSum += Double(parts.reduce(0) { $0 + $1.loss } / weight)
            batchCount += 1
        }
        guard batchCount > 0 else { throw EvaluationError.noTargetTokens(pattern: filePattern) }
        var results = metrics.results
        results["loss"] = lossSum / Double(batchCount)
        return results
    }
}

/// Evaluation data that cannot give a loss.
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    /// The files hold no example with a target token (empty, or only padding).
    case noTargetTokens(pattern: String)

    /// A sentence saying what is wrong.
    public var description: String {
        switch self {
        case .noTargetTokens(let pattern):
            return "the evaluation files \(pattern) hold no example with a target token; check the dev shards"
        }
    }
}
