import Foundation
import NMTTransformer

extension Trainer {
    /// Saves a checkpoint; every process calls it at the same steps. With several
    /// processes it first checks that their weights are identical.
    ///
    /// - Throws: `ProcessGroupError` when a process's weights differ.
    func saveCheckpoint() throws {
        try coordinator.requireSameWeights(model, step: step)
        try writeCheckpoint()
    }

    /// Writes a checkpoint of the current state from process 0 (the others write nothing).
    func writeCheckpoint() throws {
        // The same step holds the same state: a second save (the final one after a
        // periodic one) would only rewrite identical files.
        guard coordinator.isPrimary, step != lastSavedStep else { return }
        try Checkpoint.save(
            model: model, optimizer: optimizer, manifest: manifest, in: options.modelDirectory, keep: options.keepCheckpoints,
            movingAverage: movingAverage)
        lastSavedStep = step
    }

    /// The manifest of the current state.
    var manifest: CheckpointManifest {
        CheckpointManifest(
            configuration: configuration, vocabularyHash: vocabularyHash, step: step, seed: options.seed,
            datasetPosition: datasetPosition, optimizer: optimizer.kind)
    }
}
