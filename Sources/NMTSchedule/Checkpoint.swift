import Foundation
import NMTData
import NMTLayers
import NMTTensor
import NMTTransformer

/// What a checkpoint records besides the tensors (`manifest.json`).
public struct CheckpointManifest: Codable, Equatable, Sendable {
    /// The model's configuration.
    public var configuration: TransformerConfiguration
    /// CRC-32C (hex) of the vocabulary file the model was trained with.
    public var vocabularyHash: String
    /// Updates applied so far (the next update's global step).
    public var step: Int
    /// The run's random seed (dropout of step s uses its key split by s).
    public var seed: UInt64
    /// Where the training data iterator stands.
    public var datasetPosition: DatasetPosition
    /// The file holding the optimizer moments, relative to the checkpoint.
    public var optimizerFile: String

    /// Creates a manifest.
    public init(
        configuration: TransformerConfiguration, vocabularyHash: String, step: Int, seed: UInt64,
        datasetPosition: DatasetPosition, optimizerFile: String = Checkpoint.optimizerFileName
    ) {
        self.configuration = configuration
        self.vocabularyHash = vocabularyHash
        self.step = step
        self.seed = seed
        self.datasetPosition = datasetPosition
        self.optimizerFile = optimizerFile
    }
}

/// Training checkpoints: one directory per checkpoint (`checkpoint-00001234`) holding the
/// weights (`model.safetensors`), the optimizer state (`optimizer.safetensors`) and a
/// JSON manifest. Written to a hidden temporary directory and renamed, so a crash never
/// leaves a half-written checkpoint that looks complete.
public enum Checkpoint {
    /// The optimizer state file name.
    public static let optimizerFileName = "optimizer.safetensors"
    static let manifestFileName = "manifest.json"
    static let prefix = "checkpoint-"

    /// The hex CRC-32C of a vocabulary file (what a checkpoint records to refuse another
    /// vocabulary).
    public static func vocabularyHash(of url: URL) throws -> String {
        let data = try Data(contentsOf: url)
        return String(format: "%08x", data.withUnsafeBytes { CRC32C.checksum($0) })
    }

    /// Saves a checkpoint under `modelDirectory` and removes all but the newest `keep`.
    ///
    /// - Returns: the checkpoint directory.
    @discardableResult
    public static func save(
        model: Transformer, optimizer: Adam, manifest: CheckpointManifest, in modelDirectory: URL, keep: Int = 5
    ) throws -> URL {
        let manager = FileManager.default
        try manager.createDirectory(at: modelDirectory, withIntermediateDirectories: true)
        let name = prefix + String(format: "%08d", manifest.step)
        let final = modelDirectory.appendingPathComponent(name)
        let temporary = modelDirectory.appendingPathComponent(".\(name).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        try? manager.removeItem(at: temporary)
        try model.save(to: temporary)
        try SafeTensors.write(optimizer.state, to: temporary.appendingPathComponent(optimizerFileName))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(manifest).write(to: temporary.appendingPathComponent(manifestFileName))
        try? manager.removeItem(at: final)
        try manager.moveItem(at: temporary, to: final)
        let all = try checkpoints(in: modelDirectory)
        for old in all.dropLast(max(keep, 1)) { try? manager.removeItem(at: old) }
        return final
    }

    /// Complete checkpoints in a model directory, oldest first.
    public static func checkpoints(in modelDirectory: URL) throws -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: modelDirectory.path)) ?? []
        return names.filter { $0.hasPrefix(prefix) }.sorted().map { modelDirectory.appendingPathComponent($0) }
    }

    /// The newest checkpoint, if any.
    public static func latest(in modelDirectory: URL) throws -> URL? { try checkpoints(in: modelDirectory).last }

    /// The model saved at `path`: a directory written by `Transformer.save(to:)` or a
    /// checkpoint, or else the newest checkpoint of a model directory.
    ///
    /// - Throws: ``CheckpointError/noModel(path:)`` when there is neither.
    public static func loadModel(at path: URL) throws -> Transformer {
        if FileManager.default.fileExists(atPath: path.appendingPathComponent(Transformer.weightsFileName).path) {
            return try Transformer.load(from: path)
        }
        guard let newest = try latest(in: path) else { throw CheckpointError.noModel(path: path.path) }
        return try Transformer.load(from: newest)
    }

    /// Loads a checkpoint, refusing one made for another configuration or vocabulary.
    ///
    /// - Parameters:
    ///   - expectedConfiguration: the configuration of this run (nil accepts the saved one).
    ///   - vocabularyHash: this run's vocabulary hash (nil skips the check).
    /// - Throws: ``CheckpointError`` naming what differs.
    public static func load(
        from directory: URL, expectedConfiguration: TransformerConfiguration? = nil, vocabularyHash: String? = nil
    ) throws -> (model: Transformer, optimizer: Adam, manifest: CheckpointManifest) {
        let manifestURL = directory.appendingPathComponent(manifestFileName)
        let manifest: CheckpointManifest
        do { manifest = try JSONDecoder().decode(CheckpointManifest.self, from: Data(contentsOf: manifestURL)) } catch {
            throw CheckpointError.unreadable(path: manifestURL.path, reason: "\(error)")
        }
        // The embedding method and padding removal depend on the device, not the model: a
        // run may resume on another device.
        var saved = manifest.configuration
        if let expectedConfiguration {
            saved.embeddingMethod = expectedConfiguration.embeddingMethod
            saved.allowsPaddingRemoval = expectedConfiguration.allowsPaddingRemoval
            if expectedConfiguration != saved { throw CheckpointError.configurationMismatch(path: directory.path) }
        }
        if let vocabularyHash, vocabularyHash != manifest.vocabularyHash {
            throw CheckpointError.vocabularyMismatch(path: directory.path, saved: manifest.vocabularyHash, current: vocabularyHash)
        }
        let model = try Transformer.load(from: directory)
            .configured(embeddingMethod: saved.embeddingMethod, allowsPaddingRemoval: saved.allowsPaddingRemoval)
        var optimizer = Adam()
        let (state, _) = try SafeTensors.read(from: directory.appendingPathComponent(manifest.optimizerFile))
        try optimizer.restore(state)
        return (model, optimizer, manifest)
    }
}

/// A checkpoint that cannot be used.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    /// A file of the checkpoint cannot be read.
    case unreadable(path: String, reason: String)
    /// The checkpoint's model configuration differs from this run's.
    case configurationMismatch(path: String)
    /// The checkpoint was trained with another vocabulary.
    case vocabularyMismatch(path: String, saved: String, current: String)
    /// A fresh run was asked for in a model directory that holds checkpoints.
    case existingCheckpoints(path: String)
    /// The directory holds neither a saved model nor checkpoints.
    case noModel(path: String)

    /// A sentence naming the checkpoint and what differs.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "checkpoint file \(path) cannot be read: \(reason)"
        case .configurationMismatch(let path):
            return "checkpoint \(path) was saved with a different model configuration; use another model directory"
        case .vocabularyMismatch(let path, let saved, let current):
            return "checkpoint \(path) was trained with vocabulary \(saved), not \(current); use the same vocabulary or another model directory"
        case .noModel(let path): return "\(path) holds no model or checkpoint"
        case .existingCheckpoints(let path):
            return "model directory \(path) already holds checkpoints; resume from them or use another directory"
        }
    }
}
