import Foundation

/// Which vocabulary a data directory's shards were encoded with, kept beside them as
/// `shards-vocabulary.json` (written by `nmt-prepare corpus`).
///
/// Shards hold ids only: read with another vocabulary of at least as many subtokens, they
/// train a model on nonsense without any error (a run once went to its end that way). A
/// trainer compares this record's checksum with its vocabulary file's and refuses a
/// mismatch. The file name holds neither `train` nor `dev`, so the shard patterns never
/// pick it up.
public struct ShardVocabularyRecord: Codable, Equatable, Sendable {
    /// The record's file name inside the data directory.
    public static let fileName = "shards-vocabulary.json"
    /// The vocabulary's hex CRC-32C (`TokenizerFile.checksum(of:)`, what checkpoints record too).
    public var vocabularyCRC32C: String
    /// The vocabulary's subtoken count, for messages.
    public var vocabularySize: Int

    /// The record of the vocabulary at `url` (a file, or a Marian tokenizer directory).
    ///
    /// - Throws: a file error when it cannot be read, ``EncodingError`` when it is no vocabulary.
    public init(vocabularyFile url: URL) throws {
        vocabularyCRC32C = try TokenizerFile.checksum(of: url)
        vocabularySize = try TokenizerFile.load(url).vocabularySize
    }

    /// The record in `directory`, or nil when there is none (shards made before records were
    /// written, or by other tools).
    ///
    /// - Throws: ``CorpusError/unreadable(path:reason:)`` when the file exists but is not a record.
    public static func read(in directory: URL) throws(CorpusError) -> ShardVocabularyRecord? {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(ShardVocabularyRecord.self, from: Data(contentsOf: url))
        } catch {
            throw .unreadable(path: url.path, reason: "not a shard vocabulary record (\(error))")
        }
    }

    /// Writes the record into `directory` (atomically).
    public func write(in directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: directory.appendingPathComponent(Self.fileName), options: .atomic)
    }
}
