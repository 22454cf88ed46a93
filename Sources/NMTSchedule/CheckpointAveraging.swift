import Foundation
import NMTLayers
import NMTTensor
import NMTTransformer

extension Checkpoint {
    /// Writes the average of several checkpoints of one training run as a checkpoint of its
    /// own (what T2T's `avg_checkpoints`, fairseq's `average_checkpoints.py` and Marian's
    /// averaging scripts do): every weight is the element-wise mean of the inputs' (summed
    /// in double precision, in step order, then rounded once).
    ///
    /// The result is a complete checkpoint in `modelDirectory`, loadable by everything that
    /// reads checkpoints: it takes the newest input's step, manifest, optimizer state and
    /// dataset position, and its manifest lists the steps averaged
    /// (``CheckpointManifest/averagedSteps``); the inputs' moving averages of the weights
    /// (``ExponentialMovingAverage``) are not carried over. Translate or evaluate with it; resuming
    /// training from it continues from the newest input's optimizer state.
    ///
    /// - Parameters:
    ///   - checkpoints: checkpoint directories (any order; at least one).
    ///   - modelDirectory: where to write the average (created if missing); it should not
    ///     be the training run's own directory, whose rolling checkpoints would replace it.
    ///   - keep: checkpoints kept in `modelDirectory` after writing.
    /// - Returns: the checkpoint written.
    /// - Throws: ``CheckpointError/cannotAverage(reason:)`` when there are no checkpoints,
    ///   a step repeats, or the inputs differ in configuration or vocabulary; the errors of
    ///   ``load(from:expectedConfiguration:vocabularyHash:)`` for a broken input.
    @discardableResult
    public static func average(_ checkpoints: [URL], into modelDirectory: URL, keep: Int = 5) throws -> URL {
        guard !checkpoints.isEmpty else { throw CheckpointError.cannotAverage(reason: "no checkpoints given") }
        let manifests = try checkpoints.map { (url: $0, manifest: try readManifest(in: $0)) }.sorted { $0.manifest.step < $1.manifest.step }
        let newest = manifests.last!
        for (previous, next) in zip(manifests, manifests.dropFirst()) where previous.manifest.step == next.manifest.step {
            throw CheckpointError.cannotAverage(reason: "\(previous.url.path) and \(next.url.path) are both step \(next.manifest.step)")
        }
        for input in manifests {
            if input.manifest.configuration != newest.manifest.configuration {
                throw CheckpointError.cannotAverage(
                    reason: "\(input.url.path) has another model configuration than \(newest.url.path)")
            }
            if input.manifest.vocabularyHash != newest.manifest.vocabularyHash {
                throw CheckpointError.cannotAverage(
                    reason: "\(input.url.path) was trained with vocabulary \(input.manifest.vocabularyHash), "
                        + "\(newest.url.path) with \(newest.manifest.vocabularyHash)")
            }
        }
        var sums: [String: [Double]] = [:]
        var restoredNewest: RestoredCheckpoint?
        for input in manifests {
            let restored = try load(from: input.url)
            for (name, tensor) in restored.model.namedParameters {
                tensor.withUnsafeBufferPointer { values in
                    sums[name, default: [Double](repeating: 0, count: values.count)].withUnsafeMutableBufferPointer { sum in
                        for i in values.indices { sum[i] += Double(values[i]) }
                    }
                }
            }
            if input.url == newest.url { restoredNewest = restored }
        }
        guard var average = restoredNewest else { preconditionFailure("Checkpoint.average: the newest input was not read") }
        let count = Double(manifests.count)
        average.model.visitParameters { name, tensor in
            tensor = Tensor(shape: tensor.shape, scalars: sums[name]!.map { Float($0 / count) })
        }
        var manifest = average.manifest
        manifest.averagedSteps = manifests.map(\.manifest.step)
        // The inputs' moving averages are not carried over: the result is an average itself.
        manifest.emaDecay = nil
        return try write(
            model: average.model, optimizerState: average.optimizerState, manifest: manifest, in: modelDirectory, keep: keep)
    }

    /// The newest `count` usable checkpoints of a model directory, oldest first (the
    /// inputs of ``average(_:into:keep:)`` for "the last N").
    ///
    /// - Throws: ``CheckpointError/cannotAverage(reason:)`` when it holds fewer.
    public static func newest(_ count: Int, in modelDirectory: URL) throws -> [URL] {
        let usable = try checkpoints(in: modelDirectory).filter { (try? readManifest(in: $0)) != nil }
        guard count >= 1, usable.count >= count else {
            throw CheckpointError.cannotAverage(
                reason: "\(modelDirectory.path) holds \(usable.count) usable checkpoints; \(count) were asked for")
        }
        return Array(usable.suffix(count))
    }
}
