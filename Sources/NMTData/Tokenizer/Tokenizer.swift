import Foundation

/// Text to ids and back, for the translator, the trainer and the tools: the reference's
/// subword tokenizer (``Subtokenizer``) or a SentencePiece model (``SentencePiece``).
///
/// swift-nmt's models pad with id 0 and end sentences with id 1 (the reference's
/// convention); a tokenizer that feeds them must use the same ids (``usesReferenceIDs``).
public protocol Tokenizer: Sendable {
    /// Ids the tokenizer produces: `0..<vocabularySize`.
    var vocabularySize: Int { get }
    /// The end-of-sentence id ``encode(_:addEOS:)`` appends.
    var endOfSentenceID: Int32 { get }
    /// The padding id, or nil when the tokenizer has none.
    var paddingID: Int32? { get }

    /// The ids of `text`, with the end-of-sentence id appended when asked.
    ///
    /// - Throws: the tokenizer's error when the text cannot be encoded.
    func encode(_ text: String, addEOS: Bool) throws -> [Int32]

    /// The text of `ids`.
    ///
    /// - Throws: the tokenizer's error for ids it cannot decode.
    func decode(_ ids: [Int32]) throws -> String
}

extension Tokenizer {
    /// The ids of `text`, without an end-of-sentence id.
    ///
    /// - Throws: the tokenizer's error when the text cannot be encoded.
    public func encode(_ text: String) throws -> [Int32] { try encode(text, addEOS: false) }

    /// Whether padding is id 0 and the end of a sentence id 1, as swift-nmt's models and
    /// batches expect.
    public var usesReferenceIDs: Bool { paddingID == 0 && endOfSentenceID == 1 }

    /// Checks that the tokenizer can feed swift-nmt's models (``usesReferenceIDs``).
    ///
    /// - Throws: ``TokenizerError/incompatibleIDs(padding:endOfSentence:)`` otherwise.
    public func requireReferenceIDs() throws(TokenizerError) {
        guard usesReferenceIDs else { throw .incompatibleIDs(padding: paddingID, endOfSentence: endOfSentenceID) }
    }
}

/// A tokenizer that cannot feed swift-nmt's models.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// It pads or ends sentences with other ids than the models' 0 and 1.
    case incompatibleIDs(padding: Int32?, endOfSentence: Int32)

    /// A sentence naming the ids and how to train a usable SentencePiece model.
    public var description: String {
        switch self {
        case .incompatibleIDs(let padding, let endOfSentence):
            "the tokenizer pads with \(padding.map(String.init) ?? "no id") and ends sentences with \(endOfSentence); "
                + "the model needs 0 and 1 (train SentencePiece with --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1)"
        }
    }
}

extension Subtokenizer: Tokenizer {
    /// 1, `<EOS>`.
    public var endOfSentenceID: Int32 { Self.endOfSentenceID }
    /// 0, `<pad>`.
    public var paddingID: Int32? { Self.paddingID }
}

extension SentencePiece: Tokenizer {
    /// The model's end-of-sentence id, or -1 when it has none (then ``encode(_:addEOS:)``
    /// refuses to append one).
    public var endOfSentenceID: Int32 { endID ?? -1 }

    /// The ids of `text`, with the model's end-of-sentence id appended when asked.
    ///
    /// - Throws: ``SentencePieceError/failed(_:)`` when the library refuses the text, or
    ///   when asked for an end-of-sentence id the model does not have.
    public func encode(_ text: String, addEOS: Bool) throws(SentencePieceError) -> [Int32] {
        try appendingEndOfSentence(to: encode(text), if: addEOS)
    }

    /// `ids`, with the model's end-of-sentence id appended when `addEOS` is true (for
    /// ``encode(_:addEOS:)`` and ``SampledSentencePiece``).
    ///
    /// - Throws: ``SentencePieceError/failed(_:)`` when the model has no such id.
    func appendingEndOfSentence(to ids: [Int32], if addEOS: Bool) throws(SentencePieceError) -> [Int32] {
        guard addEOS else { return ids }
        guard let endID else { throw .failed("\(source) has no end-of-sentence id; train it with --eos_id") }
        return ids + [endID]
    }
}

/// Loading the tokenizer a vocabulary file holds.
public enum TokenizerFile {
    /// The tokenizer in `url`: a ``MarianTokenizer`` for a Marian tokenizer directory (a
    /// Hugging Face Marian directory, or the copy of one a fine-tuning run keeps), a
    /// SentencePiece model for a `.model` file, the reference's subword vocabulary
    /// otherwise.
    ///
    /// - Throws: the tokenizer's error when the file cannot be read or parsed.
    public static func load(_ url: URL) throws -> any Tokenizer {
        if MarianTokenizer.isTokenizerDirectory(url) { return try MarianTokenizer(directory: url) }
        return url.pathExtension == "model" ? try SentencePiece(modelFile: url) : try Subtokenizer(vocabularyFile: url)
    }

    /// The hex CRC-32C that identifies the vocabulary at `url`, which checkpoints and shard
    /// records keep: of the file's bytes, or for a Marian tokenizer directory
    /// ``MarianTokenizer/checksum(ofDirectory:)``.
    ///
    /// - Throws: the file error when it cannot be read, the tokenizer's for a directory.
    public static func checksum(of url: URL) throws -> String {
        if MarianTokenizer.isTokenizerDirectory(url) { return try MarianTokenizer.checksum(ofDirectory: url) }
        return try CRC32C.hexChecksum(ofFile: url)
    }

    /// The flags that make `SentencePiece.train` give swift-nmt's ids: padding 0, end of
    /// sentence 1, unknown 2, no begin-of-sentence id.
    public static let sentencePieceReferenceIDs = ["pad_id": "0", "eos_id": "1", "unk_id": "2", "bos_id": "-1"]
}
