import Foundation
import NMTLayers
import NMTTransformer

/// The checkpoint with the best dev BLEU so far, kept apart from the rolling checkpoints,
/// and the count behind early stopping.
///
/// It lives in `MODEL_DIR/checkpoint-best/`, a model directory of its own holding one
/// checkpoint (translate with `--model-dir MODEL_DIR/checkpoint-best`) and `best.json`:
/// the step and scores of the best evaluation and how many evaluations since have not
/// beaten it. A resumed run reads it back, so the best and the patience count carry over.
public struct BestCheckpoint: Codable, Equatable, Sendable {
    /// The folder name inside a model directory (not a step, so rolling deletion and
    /// "newest checkpoint" lookups never touch it).
    public static let directoryName = "checkpoint-best"
    static let recordName = "best.json"

    /// The step of the best evaluation.
    public var step: Int
    /// Its uncased BLEU (×100), what "best" compares.
    public var bleuUncased: Float
    /// Its cased BLEU (×100).
    public var bleuCased: Float
    /// Evaluations since the best that did not beat it.
    public var evaluationsWithoutImprovement: Int

    /// Creates a record.
    public init(step: Int, bleuUncased: Float, bleuCased: Float, evaluationsWithoutImprovement: Int) {
        self.step = step
        self.bleuUncased = bleuUncased
        self.bleuCased = bleuCased
        self.evaluationsWithoutImprovement = evaluationsWithoutImprovement
    }

    /// The folder of the best checkpoint of a model directory.
    public static func directory(in modelDirectory: URL) -> URL {
        modelDirectory.appendingPathComponent(directoryName)
    }

    /// The record of a model directory's best checkpoint, or nil when there is none yet.
    ///
    /// - Throws: ``CheckpointError/unreadable(path:reason:)`` for a record that exists but
    ///   cannot be read.
    public static func read(in modelDirectory: URL) throws -> BestCheckpoint? {
        let url = directory(in: modelDirectory).appendingPathComponent(recordName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(BestCheckpoint.self, from: Data(contentsOf: url))
        } catch {
            throw CheckpointError.unreadable(path: url.path, reason: "\(error)")
        }
    }

    /// Writes the record beside the best checkpoint (atomically).
    func write(in modelDirectory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let folder = Self.directory(in: modelDirectory)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try encoder.encode(self).write(to: folder.appendingPathComponent(Self.recordName), options: .atomic)
    }
}
