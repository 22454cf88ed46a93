import Foundation
import NMTData
import NMTLayers
import NMTTensor
import NMTTransformer

/// A checkpoint read back: the model, its manifest and the optimizer state (when the
/// checkpoint still has it: a model shipped for translation may leave it out).
public struct RestoredCheckpoint {
    /// The model's weights and configuration.
    public var model: Transformer
    /// What the checkpoint records besides the tensors.
    public var manifest: CheckpointManifest
    /// The optimizer's saved state (see `Optimizer.state`), or nil when its file was
    /// removed (the weights are enough to translate, not to resume training).
    public var optimizerState: [String: Tensor]?
    /// Where it was read from.
    public var directory: URL
    /// The moving average of the weights, when the run kept one (``CheckpointManifest/emaDecay``).
    public var movingAverage: ExponentialMovingAverage?

    /// Restores `optimizer` from the saved state.
    ///
    /// - Throws: ``CheckpointError/optimizerMismatch(path:saved:requested:)`` when the
    ///   checkpoint was trained with another optimizer,
    ///   ``CheckpointError/optimizerStateMissing(path:file:)`` when its state file was
    ///   removed, or `ParameterError` when the state lacks a scalar.
    public func restore<Update: Optimizer>(_ optimizer: inout Update) throws {
        guard optimizer.kind == manifest.optimizer else {
            throw CheckpointError.optimizerMismatch(
                path: directory.path, saved: manifest.optimizer.rawValue, requested: optimizer.kind.rawValue)
        }
        guard let optimizerState else { throw CheckpointError.optimizerStateMissing(path: directory.path, file: manifest.optimizerFile) }
        try optimizer.restore(optimizerState)
    }
}

/// Training checkpoints: one directory per checkpoint (`checkpoint-00001234`) holding the
/// weights (`model.safetensors`), the optimizer state (`optimizer.safetensors`) and a
/// JSON manifest. Written to a hidden temporary directory and renamed, so a crash never
/// leaves a half-written checkpoint that looks complete.
public enum Checkpoint {
    /// The optimizer state file name.
    public static let optimizerFileName = "optimizer.safetensors"
    /// The manifest file inside a checkpoint directory.
    public static let manifestFileName = "manifest.json"
    static let prefix = "checkpoint-"

    /// The hex CRC-32C of a vocabulary (`TokenizerFile.checksum(of:)`: a file's bytes, or a
    /// Marian tokenizer directory's files), which a checkpoint records to refuse another.
    public static func vocabularyHash(of url: URL) throws -> String { try TokenizerFile.checksum(of: url) }

    /// Saves a checkpoint under `modelDirectory` and removes all but the newest `keep`.
    ///
    /// - Parameters:
    ///   - model: the weights.
    ///   - optimizer: the optimizer whose state is saved.
    ///   - manifest: what the checkpoint records besides the tensors.
    ///   - modelDirectory: the run's model directory.
    ///   - keep: checkpoints kept.
    ///   - movingAverage: the run's moving average of the weights, saved beside them (the
    ///     manifest then records its decay).
    /// - Returns: the checkpoint directory.
    @discardableResult
    public static func save<Update: Optimizer>(
        model: Transformer, optimizer: Update, manifest: CheckpointManifest, in modelDirectory: URL, keep: Int = 5,
        movingAverage: ExponentialMovingAverage? = nil
    ) throws -> URL {
        precondition(manifest.optimizer == optimizer.kind, "Checkpoint.save: the manifest names another optimizer")
        var manifest = manifest
        manifest.emaDecay = movingAverage?.decay
        return try write(
            model: model, optimizerState: optimizer.state, manifest: manifest, in: modelDirectory, keep: keep,
            movingAverage: movingAverage?.weights)
    }

    /// Writes a checkpoint (see ``save(model:optimizer:manifest:in:keep:)``) from an
    /// optimizer's saved state.
    static func write(
        model: Transformer, optimizerState: [String: Tensor]?, manifest: CheckpointManifest, in modelDirectory: URL, keep: Int,
        movingAverage: [String: Tensor]? = nil
    ) throws -> URL {
        precondition((manifest.emaDecay == nil) == (movingAverage == nil), "Checkpoint.write: the manifest and the average disagree")
        for (name, tensor) in model.namedParameters where !tensor.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) {
            throw CheckpointError.nonFiniteWeights(parameter: name, step: manifest.step)
        }
        precondition(manifest.step >= 0, "Checkpoint.save: step \(manifest.step) is negative")
        let manager = FileManager.default
        try manager.createDirectory(at: modelDirectory, withIntermediateDirectories: true)
        removeStaleTemporaries(in: modelDirectory)
        let name = directoryName(ofStep: manifest.step)
        let final = modelDirectory.appendingPathComponent(name)
        let temporary = modelDirectory.appendingPathComponent(".\(name).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        try? manager.removeItem(at: temporary)
        do {
            try model.save(to: temporary)
            if let optimizerState { try SafeTensors.write(optimizerState, to: temporary.appendingPathComponent(optimizerFileName)) }
            if let movingAverage {
                try SafeTensors.write(movingAverage, to: temporary.appendingPathComponent(ExponentialMovingAverage.fileName))
            }
            var manifest = manifest
            manifest.fileChecksums = try fileChecksums(in: temporary)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(manifest).write(to: temporary.appendingPathComponent(manifestFileName))
            if manager.fileExists(atPath: final.path) {
                // Replaced by renames only, each atomic: a kill in between leaves the step
                // missing (resume takes the one before) and a stale temporary, never a
                // half-deleted checkpoint under the real name.
                let replaced = modelDirectory.appendingPathComponent(
                    ".\(name).replaced.tmp-\(ProcessInfo.processInfo.processIdentifier)")
                try? manager.removeItem(at: replaced)
                try manager.moveItem(at: final, to: replaced)
                try manager.moveItem(at: temporary, to: final)
                try? manager.removeItem(at: replaced)
            } else {
                try manager.moveItem(at: temporary, to: final)
            }
        } catch {
            // A failed save (a full disk) leaves no partial copy behind to fill it further.
            try? manager.removeItem(at: temporary)
            throw CheckpointError.writeFailed(path: final.path, reason: (error as NSError).localizedDescription)
        }
        let all = try checkpoints(in: modelDirectory)
        for old in all.dropLast(max(keep, 1)) { try? manager.removeItem(at: old) }
        return final
    }

    /// `checkpoint-` and the step, zero-padded to 8 digits (more when the step needs them).
    static func directoryName(ofStep step: Int) -> String {
        let digits = String(step)
        return prefix + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// The step a checkpoint directory's name says, or nil for any other name.
    static func step(ofDirectoryNamed name: String) -> Int? {
        guard name.hasPrefix(prefix) else { return nil }
        let digits = name.dropFirst(prefix.count)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }

    /// Checkpoint directories in a model directory (named `checkpoint-STEP`), by step,
    /// oldest first. Whether each is complete is checked by ``newestUsable(in:)``.
    public static func checkpoints(in modelDirectory: URL) throws -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: modelDirectory.path)) ?? []
        return names.compactMap { name in step(ofDirectoryNamed: name).map { ($0, name) } }
            .filter { isDirectory(modelDirectory.appendingPathComponent($0.1)) }
            .sorted { $0.0 < $1.0 }
            .map { modelDirectory.appendingPathComponent($0.1) }
    }

    /// The newest checkpoint that can be used: its manifest reads, names the step of its
    /// folder, and its weight files exist. Newer checkpoints that fail these checks (an
    /// interrupted copy, an empty folder) come back in `skipped` with the reason, for a
    /// warning. The optimizer state is not required: a checkpoint shipped without it
    /// translates, and resuming from it fails with
    /// ``CheckpointError/optimizerStateMissing(path:file:)`` rather than silently
    /// resuming from an older checkpoint.
    public static func newestUsable(in modelDirectory: URL) throws -> (checkpoint: URL?, skipped: [(URL, String)]) {
        var skipped: [(URL, String)] = []
        for candidate in try checkpoints(in: modelDirectory).reversed() {
            do {
                let manifest = try readManifest(in: candidate)
                let files = [Transformer.weightsFileName, Transformer.configurationFileName]
                    + (manifest.emaDecay == nil ? [] : [ExponentialMovingAverage.fileName])
                for file in files
                where !FileManager.default.fileExists(atPath: candidate.appendingPathComponent(file).path) {
                    throw CheckpointError.unreadable(path: candidate.appendingPathComponent(file).path, reason: "missing")
                }
                return (candidate, skipped)
            } catch {
                skipped.append((candidate, "\(error)"))
            }
        }
        return (nil, skipped)
    }

    /// The newest usable checkpoint, if any (see ``newestUsable(in:)``).
    public static func latest(in modelDirectory: URL) throws -> URL? { try newestUsable(in: modelDirectory).checkpoint }

    /// The model saved at `path`: a directory written by `Transformer.save(to:)` or a
    /// checkpoint, or else the newest usable checkpoint of a model directory.
    ///
    /// - Parameters:
    ///   - path: a saved model, a checkpoint, or a model directory.
    ///   - vocabularyHash: the hash of the vocabulary it will be used with; a checkpoint
    ///     trained with another vocabulary is refused (a model saved without a manifest
    ///     records none).
    ///   - averagedWeights: hand out the moving average of the weights when the checkpoint
    ///     keeps one (what evaluation and translation should use), else the weights.
    ///   - warning: told about each newer checkpoint skipped as unusable, and why.
    /// - Throws: ``CheckpointError/noModel(path:)`` when there is neither,
    ///   ``CheckpointError/noUsableCheckpoint(path:reasons:)`` when every checkpoint is
    ///   broken, and ``CheckpointError/vocabularyMismatch(path:saved:current:)``.
    public static func loadModel(
        at path: URL, vocabularyHash: String? = nil, averagedWeights: Bool = true, warning: (String) -> Void = { _ in }
    ) throws -> Transformer {
        var directory = path
        if !FileManager.default.fileExists(atPath: path.appendingPathComponent(Transformer.weightsFileName).path) {
            let (newest, skipped) = try newestUsable(in: path)
            for (checkpoint, reason) in skipped { warning("skipping \(checkpoint.lastPathComponent): \(reason)") }
            guard let newest else {
                if skipped.isEmpty { throw CheckpointError.noModel(path: path.path) }
                throw CheckpointError.noUsableCheckpoint(path: path.path, reasons: skipped.map { "\($0.0.lastPathComponent): \($0.1)" })
            }
            directory = newest
        }
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(manifestFileName).path) else {
            return try Transformer.load(from: directory)
        }
        let restored = try load(from: directory, vocabularyHash: vocabularyHash)
        guard averagedWeights, let average = restored.movingAverage else { return restored.model }
        do {
            return try average.applied(to: restored.model)
        } catch {
            throw CheckpointError.inconsistent(
                path: directory.path, reason: "\(ExponentialMovingAverage.fileName) does not fit the model: \(error)")
        }
    }

    /// Removes checkpoint temporaries (`.checkpoint-STEP.tmp-PID`) left by processes that
    /// no longer run (killed while saving, or out of disk space).
    ///
    /// - Returns: the folders removed.
    @discardableResult
    public static func removeStaleTemporaries(in modelDirectory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: modelDirectory.path)) ?? []
        var removed: [URL] = []
        for name in names where name.hasPrefix("." + prefix) {
            guard let marker = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[marker.upperBound...]) else {
                continue
            }
            // kill(pid, 0) probes without signalling: ESRCH means no such process.
            guard pid != ProcessInfo.processInfo.processIdentifier, kill(pid, 0) != 0, errno == ESRCH else { continue }
            let url = modelDirectory.appendingPathComponent(name)
            if (try? FileManager.default.removeItem(at: url)) != nil { removed.append(url) }
        }
        return removed
    }

    private static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The manifest of a checkpoint directory, checked against the directory's name.
    static func readManifest(in directory: URL) throws -> CheckpointManifest {
        let manifestURL = directory.appendingPathComponent(manifestFileName)
        guard FileManager.default.fileExists(atPath: manifestURL.path) else {
            throw CheckpointError.unreadable(path: manifestURL.path, reason: "missing (an interrupted copy or an empty folder?)")
        }
        let manifest: CheckpointManifest
        do { manifest = try JSONDecoder().decode(CheckpointManifest.self, from: Data(contentsOf: manifestURL)) } catch let
            error as CheckpointError
        {
            throw error
        } catch {
            throw CheckpointError.unreadable(path: manifestURL.path, reason: "\(error)")
        }
        guard manifest.step >= 0 else { throw CheckpointError.inconsistent(path: directory.path, reason: "step \(manifest.step) is negative") }
        if let named = step(ofDirectoryNamed: directory.lastPathComponent), named != manifest.step {
            throw CheckpointError.inconsistent(
                path: directory.path, reason: "the folder name says step \(named), the manifest \(manifest.step)")
        }
        return manifest
    }

    /// The CRC-32C of every file in a checkpoint folder but the manifest, by name.
    static func fileChecksums(in directory: URL) throws -> [String: String] {
        var checksums: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name != manifestFileName {
            checksums[name] = try CRC32C.hexChecksum(ofFile: directory.appendingPathComponent(name))
        }
        return checksums
    }

    /// Refuses a checkpoint whose files do not match the checksums its manifest recorded.
    static func verifyChecksums(in directory: URL, manifest: CheckpointManifest) throws {
        guard let expected = manifest.fileChecksums else { return }
        for (name, checksum) in expected.sorted(by: { $0.key < $1.key }) {
            let url = directory.appendingPathComponent(name)
            // The optimizer state may be removed to ship a model (see RestoredCheckpoint).
            if name == manifest.optimizerFile && !FileManager.default.fileExists(atPath: url.path) { continue }
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw CheckpointError.inconsistent(path: directory.path, reason: "\(name) is missing")
            }
            let actual = try CRC32C.hexChecksum(ofFile: url)
            if actual != checksum {
                throw CheckpointError.inconsistent(
                    path: directory.path, reason: "\(name) is damaged (CRC-32C \(actual), the manifest recorded \(checksum))")
            }
        }
    }

    /// The fields in which two configurations differ, as `name: saved X, now Y`.
    static func differences(saved: TransformerConfiguration, current: TransformerConfiguration) -> String {
        // Nested objects (the architecture) flatten to dotted keys, so a difference names
        // the field rather than printing two dictionaries in hash order.
        func flatten(_ object: [String: Any], prefix: String, into result: inout [String: String]) {
            for (key, value) in object {
                if let nested = value as? [String: Any] {
                    flatten(nested, prefix: prefix + key + ".", into: &result)
                } else {
                    result[prefix + key] = "\(value)"
                }
            }
        }
        func fields(_ configuration: TransformerConfiguration) -> [String: String] {
            let object = (try? JSONEncoder().encode(configuration)).flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any] ?? [:]
            var result: [String: String] = [:]
            flatten(object, prefix: "", into: &result)
            return result
        }
        let (before, now) = (fields(saved), fields(current))
        return Set(before.keys).union(now.keys).sorted().filter { before[$0] != now[$0] }
            .map { "\($0): saved \(before[$0] ?? "none"), now \(now[$0] ?? "none")" }.joined(separator: "; ")
    }

    /// Loads a checkpoint, refusing one made for another configuration or vocabulary.
    ///
    /// - Parameters:
    ///   - directory: the checkpoint directory.
    ///   - expectedConfiguration: the configuration of this run (nil accepts the saved one).
    ///   - vocabularyHash: this run's vocabulary hash (nil skips the check).
    /// - Throws: ``CheckpointError`` naming what differs.
    public static func load(
        from directory: URL, expectedConfiguration: TransformerConfiguration? = nil, vocabularyHash: String? = nil
    ) throws -> RestoredCheckpoint {
        let manifest = try readManifest(in: directory)
        // The vocabulary first: another vocabulary also changes the configuration's size,
        // and the vocabulary is what the user has to change.
        if let vocabularyHash, vocabularyHash != manifest.vocabularyHash {
            throw CheckpointError.vocabularyMismatch(path: directory.path, saved: manifest.vocabularyHash, current: vocabularyHash)
        }
        if let expectedConfiguration, expectedConfiguration != manifest.configuration {
            throw CheckpointError.configurationMismatch(
                path: directory.path, differences: Self.differences(saved: manifest.configuration, current: expectedConfiguration))
        }
        try verifyChecksums(in: directory, manifest: manifest)
        // Compared before the weights are read, so the error names the contradiction
        // rather than the first weight whose shape follows from it.
        guard try Transformer.loadConfiguration(from: directory) == manifest.configuration else {
            throw CheckpointError.inconsistent(path: directory.path, reason: "configuration.json and the manifest describe different models")
        }
        let model = try Transformer.load(from: directory)
        let stateURL = directory.appendingPathComponent(manifest.optimizerFile)
        let state = FileManager.default.fileExists(atPath: stateURL.path) ? try SafeTensors.read(from: stateURL).tensors : nil
        var restored = RestoredCheckpoint(model: model, manifest: manifest, optimizerState: state, directory: directory)
        if let decay = manifest.emaDecay {
            guard decay > 0 && decay < 1 else {
                throw CheckpointError.inconsistent(path: directory.path, reason: "the manifest's emaDecay \(decay) is not in (0, 1)")
            }
            let (weights, _) = try SafeTensors.read(from: directory.appendingPathComponent(ExponentialMovingAverage.fileName))
            restored.movingAverage = ExponentialMovingAverage(decay: decay, weights: weights)
        }
        return restored
    }
}

/// A checkpoint that cannot be used.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    /// A file of the checkpoint cannot be read.
    case unreadable(path: String, reason: String)
    /// The checkpoint's model configuration differs from this run's, in the fields listed
    /// (`"vocabularySize: saved 508, now 286"`, ...).
    case configurationMismatch(path: String, differences: String)
    /// The checkpoint was trained with another vocabulary.
    case vocabularyMismatch(path: String, saved: String, current: String)
    /// A fresh run was asked for in a model directory that holds checkpoints.
    case existingCheckpoints(path: String)
    /// The directory holds neither a saved model nor checkpoints.
    case noModel(path: String)
    /// Every checkpoint in the directory is broken; `reasons` says why, one per checkpoint.
    case noUsableCheckpoint(path: String, reasons: [String])
    /// The checkpoint was trained with another optimizer than the one asked for.
    case optimizerMismatch(path: String, saved: String, requested: String)
    /// Training cannot resume: the checkpoint's optimizer state file was removed (it still
    /// translates).
    case optimizerStateMissing(path: String, file: String)
    /// Writing the checkpoint failed (for example, the disk is full); nothing of it is left.
    case writeFailed(path: String, reason: String)
    /// The checkpoint's files contradict each other or its name.
    case inconsistent(path: String, reason: String)
    /// Checkpoints to average do not fit together (or there are none).
    case cannotAverage(reason: String)
    /// The model holds a NaN or infinite weight: saving it would replace good checkpoints.
    case nonFiniteWeights(parameter: String, step: Int)
    /// The manifest was written by a newer library in a format this one does not know.
    case unsupportedFormat(version: Int, supported: Int)

    /// A sentence naming the checkpoint and what differs.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "checkpoint file \(path) cannot be read: \(reason)"
        case .configurationMismatch(let path, let differences):
            return "checkpoint \(path) was saved with a different model configuration (\(differences)); use the same configuration or another model directory"
        case .vocabularyMismatch(let path, let saved, let current):
            return "checkpoint \(path) was trained with vocabulary \(saved), not \(current); use the same vocabulary or another model directory"
        case .noModel(let path): return "\(path) holds no model or checkpoint"
        case .noUsableCheckpoint(let path, let reasons):
            return "\(path) holds no usable checkpoint: " + reasons.joined(separator: "; ")
        case .optimizerStateMissing(let path, let file):
            return "checkpoint \(path) has no optimizer state (\(file) was removed): it translates, but training cannot resume "
                + "from it; train in a new model directory"
        case .optimizerMismatch(let path, let saved, let requested):
            return "checkpoint \(path) was trained with optimizer \(saved), not \(requested); resume with --optimizer \(saved) or use another model directory"
        case .writeFailed(let path, let reason):
            return "could not write checkpoint \(path): \(reason); the earlier checkpoints are kept"
        case .inconsistent(let path, let reason): return "checkpoint \(path) is inconsistent: \(reason)"
        case .cannotAverage(let reason): return "cannot average the checkpoints: \(reason)"
        case .nonFiniteWeights(let parameter, let step):
            return "not saving step \(step): parameter \(parameter) holds NaN or infinite values; the earlier checkpoints are kept"
        case .unsupportedFormat(let version, let supported):
            return "checkpoint manifest format \(version) is newer than this library reads (up to \(supported)); update swift-nmt"
        case .existingCheckpoints(let path):
            return "model directory \(path) already holds checkpoints; resume from them or use another directory"
        }
    }
}
