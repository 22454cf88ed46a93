import CNMTSentencePiece
import Foundation

/// A SentencePiece model (`.model` file), run by the SentencePiece library itself
/// (Debian's `libsentencepiece`, the C++ library behind the Python package): encoding to
/// ids or pieces, decoding, subword-regularization sampling, and training a new model.
/// Nothing of the algorithm is reimplemented here, so ids and text are the library's.
///
/// Sendable: the model is immutable once loaded, and the library's encoding and decoding
/// are `const` methods that may run on several threads at once (sampling draws from the
/// library's random generator of the calling thread).
public final class SentencePiece: @unchecked Sendable {
    private let model: OpaquePointer
    /// Where the model was read from (for messages).
    public let source: String

    /// Loads a model file.
    ///
    /// - Throws: ``SentencePieceError/unreadable(path:reason:)`` when the file cannot be
    ///   read or is not a SentencePiece model.
    public convenience init(modelFile: URL) throws(SentencePieceError) {
        let bytes: Data
        do { bytes = try Data(contentsOf: modelFile) } catch {
            throw .unreadable(path: modelFile.path, reason: "\(error.localizedDescription)")
        }
        try self.init(serializedModel: bytes, source: modelFile.path)
    }

    /// Loads a model from the bytes of a `.model` file.
    ///
    /// - Parameters:
    ///   - serializedModel: the model's protocol buffer.
    ///   - source: what to call it in messages.
    /// - Throws: ``SentencePieceError/unreadable(path:reason:)`` when the bytes are not a model.
    public init(serializedModel: Data, source: String = "a serialized model") throws(SentencePieceError) {
        var loaded: OpaquePointer?
        var error: UnsafeMutablePointer<CChar>?
        let status = serializedModel.withUnsafeBytes { bytes in
            nmt_spm_load(bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, &loaded, &error)
        }
        guard status == 0, let loaded else { throw .unreadable(path: source, reason: Self.take(error)) }
        model = loaded
        self.source = source
    }

    deinit { nmt_spm_free(model) }

    /// Pieces in the vocabulary (ids are `0..<vocabularySize`).
    public var vocabularySize: Int { Int(nmt_spm_piece_count(model)) }
    /// The id of unknown text (`<unk>`).
    public var unknownID: Int32 { Int32(nmt_spm_unknown_id(model)) }
    /// The begin-of-sentence id, or nil when the model has none.
    public var beginID: Int32? { Self.optional(nmt_spm_begin_id(model)) }
    /// The end-of-sentence id, or nil when the model has none.
    public var endID: Int32? { Self.optional(nmt_spm_end_id(model)) }
    /// The padding id, or nil when the model has none.
    public var paddingID: Int32? { Self.optional(nmt_spm_padding_id(model)) }

    /// The ids of `text` (no begin or end id added).
    ///
    /// - Throws: ``SentencePieceError/failed(_:)`` when the library refuses the text.
    public func encode(_ text: String) throws(SentencePieceError) -> [Int32] {
        try encode(text, sample: false, nbest: 0, alpha: 0)
    }

    /// The ids of every line of UTF-8 `text` (lines end at a newline; a final newline starts
    /// no further line), in one call into the library: the fast path for a whole file,
    /// which reuses one buffer across lines where ``encode(_:)`` allocates per line.
    ///
    /// - Throws: ``SentencePieceError/failed(_:)`` when the library refuses a line.
    public func encodeLines(_ text: Data) throws(SentencePieceError) -> EncodedLines {
        var ids: UnsafeMutablePointer<Int32>?
        var ends: UnsafeMutablePointer<Int>?
        var idCount = 0, lineCount = 0
        var error: UnsafeMutablePointer<CChar>?
        let status = text.withUnsafeBytes { raw in
            nmt_spm_encode_lines(
                model, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, &ids, &idCount, &ends, &lineCount, &error)
        }
        guard status == 0, let ids, let ends else { throw .failed(Self.take(error)) }
        defer {
            nmt_spm_free_buffer(ids)
            nmt_spm_free_buffer(ends)
        }
        return EncodedLines(
            ids: Array(UnsafeBufferPointer(start: ids, count: idCount)),
            lineEnds: Array(UnsafeBufferPointer(start: ends, count: lineCount)))
    }

    /// One segmentation of `text` drawn at random (subword regularization, for training):
    /// from the `nbest` best (`-1`: from all, for unigram models) with smoothing `alpha`;
    /// for BPE models `alpha` is the BPE-dropout rate. ``seedRandomGenerator(_:)`` makes
    /// the draws of a new thread repeatable.
    ///
    /// - Throws: ``SentencePieceError/failed(_:)`` for settings the model cannot sample
    ///   with.
    public func sample(_ text: String, nbest: Int = -1, alpha: Float = 0.1) throws(SentencePieceError) -> [Int32] {
        try encode(text, sample: true, nbest: nbest, alpha: alpha)
    }

    private func encode(_ text: String, sample: Bool, nbest: Int, alpha: Float) throws(SentencePieceError) -> [Int32] {
        var ids: UnsafeMutablePointer<Int32>?
        var count = 0
        var error: UnsafeMutablePointer<CChar>?
        let status = Self.withUTF8(text) { bytes, length in
            nmt_spm_encode(model, bytes, length, sample ? 1 : 0, Int32(clamping: nbest), alpha, &ids, &count, &error)
        }
        guard status == 0, let ids else { throw .failed(Self.take(error)) }
        defer { nmt_spm_free_buffer(ids) }
        return Array(UnsafeBufferPointer(start: ids, count: count))
    }

    /// `body` with `text`'s UTF-8 bytes, without a copy where the string is contiguous.
    private static func withUTF8<Result>(_ text: String, _ body: (UnsafePointer<CChar>?, Int) -> Result) -> Result {
        var text = text
        return text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { body($0.baseAddress, $0.count) }
        }
    }

    /// The pieces of `text`, as the model writes them (`▁` marks a word's start).
    ///
    /// - Throws: ``SentencePieceError/failed(_:)`` when the library refuses the text.
    public func pieces(_ text: String) throws(SentencePieceError) -> [String] {
        var buffer: UnsafeMutablePointer<CChar>?
        var bytes = 0, count = 0
        var error: UnsafeMutablePointer<CChar>?
        let status = Self.withUTF8(text) { input, length in
            nmt_spm_encode_pieces(model, input, length, &buffer, &bytes, &count, &error)
        }
        guard status == 0, let buffer else { throw .failed(Self.take(error)) }
        defer { nmt_spm_free_buffer(buffer) }
        let all = UnsafeRawBufferPointer(start: buffer, count: bytes)
        return all.split(separator: 0, omittingEmptySubsequences: false).prefix(count).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The text of `ids`.
    ///
    /// - Throws: ``SentencePieceError/idOutOfRange(_:)`` for an id outside the vocabulary.
    public func decode(_ ids: [Int32]) throws(SentencePieceError) -> String {
        var text: UnsafeMutablePointer<CChar>?
        var length = 0
        var error: UnsafeMutablePointer<CChar>?
        let status = ids.withUnsafeBufferPointer { nmt_spm_decode(model, $0.baseAddress, $0.count, &text, &length, &error) }
        guard status == 0, let text else { throw .idOutOfRange(Self.take(error)) }
        defer { nmt_spm_free_buffer(text) }
        return String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
    }

    /// The text of `pieces` (the library's DecodePieces: pieces joined, `▁` made a space,
    /// the leading one dropped; a piece outside the vocabulary is kept as it is).
    ///
    /// - Throws: ``SentencePieceError/failed(_:)`` when the library refuses them.
    public func decode(pieces: [String]) throws(SentencePieceError) -> String {
        var packed = [CChar]()
        for piece in pieces {
            packed.append(contentsOf: piece.utf8CString.dropLast().map { $0 })
            packed.append(0)
        }
        var text: UnsafeMutablePointer<CChar>?
        var length = 0
        var error: UnsafeMutablePointer<CChar>?
        let status = packed.withUnsafeBufferPointer {
            nmt_spm_decode_pieces(model, $0.baseAddress, $0.count, pieces.count, &text, &length, &error)
        }
        guard status == 0, let text else { throw .failed(Self.take(error)) }
        defer { nmt_spm_free_buffer(text) }
        return String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
    }

    /// The piece of `id`.
    ///
    /// - Throws: ``SentencePieceError/idOutOfRange(_:)`` for an id outside the vocabulary.
    public func piece(of id: Int32) throws(SentencePieceError) -> String {
        var piece: UnsafeMutablePointer<CChar>?
        var error: UnsafeMutablePointer<CChar>?
        guard nmt_spm_id_to_piece(model, id, &piece, &error) == 0, let piece else { throw .idOutOfRange(Self.take(error)) }
        defer { nmt_spm_free_buffer(piece) }
        return String(cString: piece)
    }

    /// The id of `piece` (``unknownID`` when the vocabulary lacks it).
    public func id(of piece: String) -> Int32 {
        Self.withUTF8(piece) { bytes, length in Int32(nmt_spm_piece_to_id(model, bytes, length)) }
    }

    /// Seeds the library's random generators, so that ``sample(_:nbest:alpha:)`` draws
    /// the same segmentations again. The library keeps one generator per thread, seeded
    /// when the thread first samples: the seed applies to threads that have not sampled
    /// yet (a data loader seeds, then starts its worker threads).
    public static func seedRandomGenerator(_ seed: UInt32) { nmt_spm_set_random_seed(seed) }

    /// Trains a model with the library's trainer and writes `PREFIX.model` and
    /// `PREFIX.vocab`.
    ///
    /// - Parameters:
    ///   - inputs: text files, one sentence per line.
    ///   - modelPrefix: where the files go (a path without extension).
    ///   - vocabularySize: pieces in the model.
    ///   - modelType: `unigram` (the default) or `bpe` (also `char`, `word`).
    ///   - options: further trainer flags by name (`character_coverage`, `num_threads`, …).
    /// - Returns: the trained model.
    /// - Throws: ``SentencePieceError/trainingFailed(_:)`` with the library's reason, or
    ///   ``SentencePieceError/invalidOption(_:)`` for a value that would break the
    ///   trainer's command line.
    @discardableResult
    public static func train(
        inputs: [URL], modelPrefix: URL, vocabularySize: Int, modelType: String = "unigram", options: [String: String] = [:]
    ) throws(SentencePieceError) -> SentencePiece {
        var flags = [
            "input": inputs.map(\.path).joined(separator: ","), "model_prefix": modelPrefix.path,
            "vocab_size": String(vocabularySize), "model_type": modelType,
        ]
        flags.merge(options) { _, given in given }
        // The trainer parses one command line: a space or a newline would split a flag.
        if let bad = flags.first(where: { $0.key.contains(where: \.isWhitespace) || $0.value.contains(where: \.isNewline) }) {
            throw .invalidOption("\(bad.key)=\(bad.value)")
        }
        if let spaced = flags.first(where: { $0.value.contains(" ") }) {
            throw .invalidOption("\(spaced.key)=\(spaced.value) contains a space, which the trainer's command line cannot carry")
        }
        let arguments = flags.keys.sorted().map { "--\($0)=\(flags[$0]!)" }.joined(separator: " ")
        var error: UnsafeMutablePointer<CChar>?
        guard nmt_spm_train(arguments, &error) == 0 else { throw .trainingFailed(take(error)) }
        return try SentencePiece(modelFile: modelPrefix.appendingPathExtension("model"))
    }

    private static func optional(_ id: Int32) -> Int32? { id < 0 ? nil : id }

    /// The message of a C error, freed.
    private static func take(_ error: UnsafeMutablePointer<CChar>?) -> String {
        guard let error else { return "unknown error" }
        defer { nmt_spm_free_buffer(error) }
        return String(cString: error)
    }
}

/// The ids of a file's lines (``SentencePiece/encodeLines(_:)``): one flat array and
/// where each line ends in it.
public struct EncodedLines: Sendable, Equatable {
    /// Every line's ids, one after another.
    public var ids: [Int32]
    /// For each line, the offset in ``ids`` just past its last id.
    public var lineEnds: [Int]

    /// Creates the result from ids and line ends (each end at least the one before it).
    public init(ids: [Int32], lineEnds: [Int]) {
        precondition(
            zip([0] + lineEnds, lineEnds).allSatisfy { $0 <= $1 } && (lineEnds.last ?? 0) <= ids.count,
            "EncodedLines: line ends \(lineEnds.prefix(4))… do not fit \(ids.count) ids")
        self.ids = ids
        self.lineEnds = lineEnds
    }

    /// Lines.
    public var count: Int { lineEnds.count }

    /// The ids of line `index`.
    public subscript(index: Int) -> ArraySlice<Int32> {
        ids[(index == 0 ? 0 : lineEnds[index - 1])..<lineEnds[index]]
    }
}

/// What goes wrong with a SentencePiece model.
public enum SentencePieceError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be read or is not a model.
    case unreadable(path: String, reason: String)
    /// The library refused an encoding.
    case failed(String)
    /// An id outside the vocabulary.
    case idOutOfRange(String)
    /// The trainer stopped.
    case trainingFailed(String)
    /// A trainer option that cannot be passed.
    case invalidOption(String)

    /// A sentence naming what is wrong.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot load the SentencePiece model \(path): \(reason)"
        case .failed(let reason): "SentencePiece: \(reason)"
        case .idOutOfRange(let reason): "SentencePiece: \(reason)"
        case .trainingFailed(let reason): "SentencePiece training failed: \(reason)"
        case .invalidOption(let option): "SentencePiece training option \(option) cannot be passed to the trainer"
        }
    }
}
