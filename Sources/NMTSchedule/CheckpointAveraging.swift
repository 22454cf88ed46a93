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
    ///   - modelDirectory: where to write the average: a new or empty directory (created if
    ///     missing, removed again if writing fails). One that holds checkpoints, is a
    ///     checkpoint, or is or lies inside an input is refused (also through symbolic
    ///     links): nothing already there is replaced or rotated away.
    /// - Returns: the checkpoint written.
    /// - Throws: ``CheckpointError/cannotAverage(reason:)`` when there are no checkpoints,
    ///   a step repeats, the inputs differ in configuration or vocabulary, or the output is
    ///   refused; the errors of ``load(from:expectedConfiguration:vocabularyHash:)`` for a
    ///   broken input; file errors when writing fails.
    @discardableResult
    public static func average(_ checkpoints: [URL], into modelDirectory: URL) throws -> URL {
        guard !checkpoints.isEmpty else { throw CheckpointError.cannotAverage(reason: "no checkpoints given") }
        try checkAverageOutput(modelDirectory, inputs: checkpoints)
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
        let created = !FileManager.default.fileExists(atPath: modelDirectory.path)
        do {
            return try write(
                model: average.model, optimizerState: average.optimizerState, manifest: manifest, in: modelDirectory, keep: 1)
        } catch {
            // A full disk or a permission error leaves nothing behind: no empty output folder
            // and no half-written checkpoint.
            if created { try? FileManager.default.removeItem(at: modelDirectory) } else { _ = removeStaleTemporaries(in: modelDirectory) }
            throw error
        }
    }

    /// Refuses an averaging output that would replace, nest in or rotate away checkpoints.
    private static func checkAverageOutput(_ output: URL, inputs: [URL]) throws {
        func resolved(_ url: URL) -> String { url.resolvingSymlinksInPath().standardizedFileURL.path }
        func refuse(_ reason: String) -> CheckpointError { .cannotAverage(reason: "the output \(output.path) \(reason)") }
        let target = resolved(output)
        for input in inputs.map(resolved) {
            if target == input || target.hasPrefix(input + "/") { throw refuse("is or lies inside the input \(input)") }
            if input.hasPrefix(target + "/") && FileManager.default.fileExists(atPath: target) {
                throw refuse("holds the input \(input); write the average to a new directory")
            }
        }
        guard FileManager.default.fileExists(atPath: target) else { return }
        if FileManager.default.fileExists(atPath: output.appendingPathComponent(manifestFileName).path) {
            throw refuse("is a checkpoint; give a model directory to write the average into")
        }
        let held = (try? FileManager.default.contentsOfDirectory(atPath: target))?.filter { $0.hasPrefix(prefix) }.sorted() ?? []
        if !held.isEmpty {
            throw refuse("already holds checkpoints (\(held.prefix(3).joined(separator: ", "))\(held.count > 3 ? ", …" : "")); write the average to a new or empty directory")
        }
    }

    /// The newest `count` usable checkpoints of a model directory, oldest first (the
    /// inputs of ``average(_:into:)`` for "the last N").
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
