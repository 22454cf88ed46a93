import Foundation
import NMTAccelerator
import NMTData
import NMTTransformer

/// Evaluation of a model on TFRecord shards: the Estimator's `loss` and the reference's
/// metrics.
public enum Evaluation {
    /// Loss (the mean of per-batch label-smoothed losses, as the Estimator reports it) and
    /// every `metrics/...` value the device supports, over the files matching `filePattern`.
    ///
    /// - Throws: dataset errors, or ``NMTTransformer/BatchError`` when the data holds ids
    ///   outside the model's vocabulary.
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
            let logits = try device.run(model: model, batch: batch) { model, batch in
                model(inputs: batch.inputs, targets: batch.targets, context: .inference)
            }
            metrics.accumulate(logits: logits, labels: batch.targets)
            lossSum += Double(
                TransformerLoss.mean(logits: logits, labels: batch.targets, smoothing: configuration.labelSmoothing).scalar)
            batchCount += 1
        }
        var results = metrics.results
        results["loss"] = lossSum / Double(max(batchCount, 1))
        return results
    }
}
