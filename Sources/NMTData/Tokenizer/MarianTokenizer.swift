import Foundation

/// The tokenizer of a Marian / OPUS-MT model, as `transformers`' `MarianTokenizer` runs
/// it when `sacremoses` is not installed (no Moses punctuation normalization):
///
/// - encoding (the source side): a leading target-language token such as `>>deu<<` is
///   kept as one token, the rest is split into pieces by `source.spm` (through the
///   SentencePiece library), each piece becomes its id in `vocab.json` (`<unk>`'s when it
///   has none), and EOS is appended;
/// - decoding (the target side): ids become pieces through `target_vocab.json` (or
///   `vocab.json` when the vocabulary is shared), special tokens (`</s>`, `<pad>`,
///   `<unk>`) are dropped, as `decode(..., skip_special_tokens=True)` does, and the
///   pieces are joined by SentencePiece (`source.spm` for a shared vocabulary,
///   `target.spm` otherwise, as transformers 5 chooses).
///
/// Ids are swift-nmt's (see ``VocabularyPermutation``): ``encode(_:addEOS:)`` returns
/// the source vocabulary's ids permuted, ``decode(_:)`` takes target ids permuted.
/// ``vocabularySize`` is the target side's, the model's output size.
///
/// ``init(directory:)`` reads a Marian directory's tokenizer files (its weights are not
/// needed: a copy without them is a *Marian tokenizer directory*, which a fine-tuning run
/// keeps as its vocabulary and `TokenizerFile.load` accepts).
public struct MarianTokenizer: Tokenizer {
    /// The source side's SentencePiece model (`source.spm`).
    public let sourceModel: SentencePiece
    /// The SentencePiece model that joins output pieces.
    public let decodingModel: SentencePiece
    /// The target side's SentencePiece model (`target.spm`), which splits reference
    /// translations for training (``encodeTarget(_:addEOS:)``).
    public let targetModel: SentencePiece
    /// Source pieces to the vocabulary's own ids (`vocab.json`).
    let sourceIDs: [String: Int32]
    /// Target pieces to the vocabulary's own ids.
    let targetIDs: [String: Int32]
    /// The source pieces by the vocabulary's own id.
    public let sourcePiecesInOrder: [String]
    /// The target pieces by the vocabulary's own id.
    public let targetPieces: [String]
    /// Source and target permutations to swift-nmt's ids.
    public let sourcePermutation: VocabularyPermutation, targetPermutation: VocabularyPermutation
    /// The vocabulary's own ids of `<unk>` on the source and target sides.
    let unknownID: Int32, targetUnknownID: Int32
    /// Target pieces dropped when decoding (`</s>`, `<pad>`, `<unk>`).
    let specialPieces: Set<String>

    /// Ids of the output side.
    public var vocabularySize: Int { targetPermutation.size }
    /// 1, as every swift-nmt model.
    public var endOfSentenceID: Int32 { 1 }
    /// 0, as every swift-nmt model.
    public var paddingID: Int32? { 0 }
    /// Ids of the input side.
    public var sourceVocabularySize: Int { sourcePermutation.size }

    /// Creates the tokenizer from the parts of a model directory.
    ///
    /// - Parameters:
    ///   - sourceModel: `source.spm`.
    ///   - decodingModel: the SentencePiece model that joins output pieces.
    ///   - targetModel: `target.spm`.
    ///   - sourceVocabulary: `vocab.json`, piece → id.
    ///   - targetVocabulary: `target_vocab.json`, or `vocab.json` again when shared.
    ///   - padding: the configuration's padding id (shared by both sides).
    ///   - endOfSentence: the configuration's EOS id (shared by both sides).
    ///   - path: the directory, named in errors.
    /// - Throws: ``MarianModelError/invalidVocabulary(path:reason:)`` when a vocabulary
    ///   lacks `<unk>`, has ids outside `0..<size` or twice, or does not hold the padding
    ///   and EOS ids.
    public init(
        sourceModel: SentencePiece, decodingModel: SentencePiece, targetModel: SentencePiece, sourceVocabulary: [String: Int],
        targetVocabulary: [String: Int], padding: Int, endOfSentence: Int, path: String
    ) throws(MarianModelError) {
        func pieces(of vocabulary: [String: Int], _ name: String) throws(MarianModelError) -> [String] {
            var table = [String?](repeating: nil, count: vocabulary.count)
            for (piece, id) in vocabulary {
                guard (0..<vocabulary.count).contains(id), table[id] == nil else {
                    throw .invalidVocabulary(path: path, reason: "\(name) gives id \(id) to '\(piece)'; ids must be 0..<\(vocabulary.count), each once")
                }
                table[id] = piece
            }
            guard (0..<vocabulary.count).contains(padding), (0..<vocabulary.count).contains(endOfSentence), padding != endOfSentence else {
                throw .invalidVocabulary(path: path, reason: "\(name) has \(vocabulary.count) ids; the padding id \(padding) and EOS id \(endOfSentence) must be two of them")
            }
            return table.map { $0! }
        }
        sourcePiecesInOrder = try pieces(of: sourceVocabulary, "vocab.json")
        targetPieces = try pieces(of: targetVocabulary, "the target vocabulary")
        guard let unknown = sourceVocabulary["<unk>"], let targetUnknown = targetVocabulary["<unk>"] else {
            throw .invalidVocabulary(path: path, reason: "a vocabulary has no <unk> token")
        }
        self.sourceModel = sourceModel
        self.decodingModel = decodingModel
        self.targetModel = targetModel
        sourceIDs = sourceVocabulary.mapValues(Int32.init)
        targetIDs = targetVocabulary.mapValues(Int32.init)
        unknownID = Int32(unknown)
        targetUnknownID = Int32(targetUnknown)
        sourcePermutation = VocabularyPermutation(size: sourceVocabulary.count, padding: padding, endOfSentence: endOfSentence)
        targetPermutation = VocabularyPermutation(size: targetVocabulary.count, padding: padding, endOfSentence: endOfSentence)
        // transformers' special tokens by their strings: with separate vocabularies the
        // configured padding id names an ordinary target piece, which is not dropped.
        specialPieces = Set(["<unk>", "<pad>", "</s>", targetPieces[endOfSentence]])
    }

    /// The files of a Marian directory the tokenizer is made of (besides `config.json`,
    /// which gives the padding and EOS ids); `target_vocab.json` is there only when
    /// `tokenizer_config.json` says `separate_vocabs`.
    public static let fileNames = ["source.spm", "target.spm", "vocab.json", "target_vocab.json", "tokenizer_config.json"]

    /// Whether `url` is a folder holding a Marian tokenizer (`source.spm` and `vocab.json`).
    public static func isTokenizerDirectory(_ url: URL) -> Bool {
        var isFolder: ObjCBool = false
        let manager = FileManager.default
        return manager.fileExists(atPath: url.path, isDirectory: &isFolder) && isFolder.boolValue
            && manager.fileExists(atPath: url.appendingPathComponent("source.spm").path)
            && manager.fileExists(atPath: url.appendingPathComponent("vocab.json").path)
    }

    /// Loads the tokenizer of a Marian directory (or a copy of it without weights), with
    /// the padding and EOS ids its `config.json` gives (`pad_token_id`, `eos_token_id`).
    ///
    /// - Throws: ``MarianModelError`` when `config.json` or a tokenizer file is missing or
    ///   invalid; `SentencePieceError` for an unreadable `.spm` file.
    public init(directory: URL) throws {
        let ids = try Self.configuredIDs(in: directory)
        try self.init(directory: directory, padding: ids.padding, endOfSentence: ids.endOfSentence)
    }

    /// The padding and EOS ids of the directory's `config.json` (`pad_token_id`,
    /// `eos_token_id`, the latter possibly a one-element list).
    static func configuredIDs(in directory: URL) throws(MarianModelError) -> (padding: Int, endOfSentence: Int) {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else { throw .missingFile(configURL.path) }
        guard let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw .unsupported(path: configURL.path, reason: "is not a JSON object")
        }
        func id(_ key: String) throws(MarianModelError) -> Int {
            let value = (config[key] as? [Any]).flatMap { $0.count == 1 ? $0[0] : nil } ?? config[key]
            guard let number = value as? NSNumber, Double(number.intValue) == number.doubleValue else {
                throw .unsupported(path: configURL.path, reason: "\(key) is \(value.map { "\($0)" } ?? "missing"), not one integer id")
            }
            return number.intValue
        }
        return (try id("pad_token_id"), try id("eos_token_id"))
    }

    /// Loads the tokenizer files of a Marian directory (``fileNames``) with the given
    /// padding and EOS ids (the model configuration's).
    ///
    /// - Throws: ``MarianModelError`` for a missing file or an invalid vocabulary;
    ///   `SentencePieceError` for an unreadable `.spm` file.
    public init(directory: URL, padding: Int, endOfSentence: Int) throws {
        func file(_ name: String) throws(MarianModelError) -> URL {
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { throw .missingFile(url.path) }
            return url
        }
        func vocabulary(_ name: String) throws(MarianModelError) -> [String: Int] {
            let url = try file(name)
            guard let data = FileManager.default.contents(atPath: url.path),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { throw .invalidVocabulary(path: url.path, reason: "is not a JSON object") }
            var result: [String: Int] = [:]
            for (piece, id) in object {
                guard let number = id as? NSNumber, Double(number.intValue) == number.doubleValue else {
                    throw .invalidVocabulary(path: url.path, reason: "maps '\(piece)' to \(id), not an integer id")
                }
                result[piece] = number.intValue
            }
            return result
        }
        let separate = Self.separateVocabularies(in: directory)
        let source = try SentencePiece(modelFile: try file("source.spm"))
        let sourceVocabulary = try vocabulary("vocab.json")
        let targetVocabulary = separate ? try vocabulary("target_vocab.json") : sourceVocabulary
        let target = try SentencePiece(modelFile: try file("target.spm"))
        // transformers 5 joins output pieces with the source model unless the vocabularies are separate.
        try self.init(
            sourceModel: source, decodingModel: separate ? target : source, targetModel: target, sourceVocabulary: sourceVocabulary,
            targetVocabulary: targetVocabulary, padding: padding, endOfSentence: endOfSentence, path: directory.path)
    }

    /// `separate_vocabs` of the directory's `tokenizer_config.json` (false without one).
    static func separateVocabularies(in directory: URL) -> Bool {
        let url = directory.appendingPathComponent("tokenizer_config.json")
        let object = FileManager.default.contents(atPath: url.path).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        return object?["separate_vocabs"] as? Bool ?? false
    }

    /// The hex CRC-32C that identifies the tokenizer of a Marian tokenizer directory, as
    /// checkpoints and shard records keep it: over the bytes of its `.spm` and vocabulary
    /// files in a fixed order, then its padding and EOS ids. Files transformers rewrites
    /// on every save (`tokenizer_config.json`, `config.json`) are left out, so the model
    /// directory a run started from and the run's copy give the same checksum.
    ///
    /// - Throws: ``MarianModelError`` for a missing or invalid `config.json`, a file error
    ///   for an unreadable tokenizer file.
    public static func checksum(ofDirectory directory: URL) throws -> String {
        let (padding, endOfSentence) = try configuredIDs(in: directory)
        let separate = separateVocabularies(in: directory)
        var crc: UInt32 = 0
        for name in ["source.spm", "target.spm", "vocab.json"] + (separate ? ["target_vocab.json"] : []) {
            let bytes = try Data(contentsOf: directory.appendingPathComponent(name))
            crc = bytes.withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
        }
        let ids = Data("separate=\(separate) padding=\(padding) eos=\(endOfSentence)".utf8)
        crc = ids.withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
        return String(format: "%08x", crc)
    }

    /// The source ids of `text` (swift-nmt's), with EOS when asked.
    ///
    /// - Throws: `SentencePieceError` when the library refuses the text.
    public func encode(_ text: String, addEOS: Bool) throws -> [Int32] {
        try Self.encode(text, addEOS: addEOS, model: sourceModel, ids: sourceIDs, unknown: unknownID, permutation: sourcePermutation)
    }

    /// The target ids of a reference translation (swift-nmt's), with EOS when asked: what
    /// transformers' `tokenizer(text_target=...)` gives, split by `target.spm` and looked up
    /// in the target vocabulary; the labels of training.
    ///
    /// - Throws: `SentencePieceError` when the library refuses the text.
    public func encodeTarget(_ text: String, addEOS: Bool) throws -> [Int32] {
        try Self.encode(
            text, addEOS: addEOS, model: targetModel, ids: targetIDs, unknown: targetUnknownID, permutation: targetPermutation)
    }

    /// One side's encoding: a leading `>>xx<<` token kept whole (transformers'
    /// `remove_language_code`, up to the first `<<`), the rest split into pieces, pieces
    /// looked up (unknown ones as `<unk>`), EOS appended when asked, ids permuted.
    private static func encode(
        _ text: String, addEOS: Bool, model: SentencePiece, ids table: [String: Int32], unknown: Int32,
        permutation: VocabularyPermutation
    ) throws -> [Int32] {
        var rest = Substring(text), tokens: [String] = []
        if rest.hasPrefix(">>"), let end = rest.range(of: "<<") {
            tokens.append(String(rest[..<end.upperBound]))
            rest = rest[end.upperBound...]
        }
        tokens += try model.pieces(String(rest))
        var ids = tokens.map { permutation.internalIDs[Int(table[$0] ?? unknown)] }
        if addEOS { ids.append(1) }
        return ids
    }

    /// The text of target ids (swift-nmt's), special tokens dropped.
    ///
    /// - Throws: ``MarianModelError/idOutOfRange(_:size:)`` for an id outside the target
    ///   vocabulary, `SentencePieceError` when the library refuses the pieces.
    public func decode(_ ids: [Int32]) throws -> String {
        var pieces: [String] = []
        for id in ids {
            guard id >= 0, Int(id) < targetPermutation.size else { throw MarianModelError.idOutOfRange(id, size: targetPermutation.size) }
            let piece = targetPieces[Int(targetPermutation.originalIDs[Int(id)])]
            if !specialPieces.contains(piece) { pieces.append(piece) }
        }
        let text = try decodingModel.decode(pieces: pieces).replacingOccurrences(of: "\u{2581}", with: " ")
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension MarianTokenizer {
    /// The target side as a tokenizer of its own: `encode` is ``encodeTarget(_:addEOS:)``,
    /// `decode` the same as the pair's. Hand it to `CorpusPreparer.writeShards` as the
    /// target tokenizer to prepare training data for a Marian model.
    public var targetSide: MarianTargetTokenizer { MarianTargetTokenizer(pair: self) }
}

/// A Marian model's target side (``MarianTokenizer/targetSide``).
public struct MarianTargetTokenizer: Tokenizer {
    /// The pair it belongs to.
    public let pair: MarianTokenizer

    /// Ids of the target side.
    public var vocabularySize: Int { pair.vocabularySize }
    /// 1, as every swift-nmt model.
    public var endOfSentenceID: Int32 { 1 }
    /// 0, as every swift-nmt model.
    public var paddingID: Int32? { 0 }

    /// The target ids of `text` (see ``MarianTokenizer/encodeTarget(_:addEOS:)``).
    public func encode(_ text: String, addEOS: Bool) throws -> [Int32] { try pair.encodeTarget(text, addEOS: addEOS) }

    /// The text of target ids (see ``MarianTokenizer/decode(_:)``).
    public func decode(_ ids: [Int32]) throws -> String { try pair.decode(ids) }
}
