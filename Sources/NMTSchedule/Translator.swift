import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NMTAccelerator
import NMTData
import NMTTensor
import NMTTransformer

/// Translates text with a trained model, as the reference's `translate.py` (with its
/// output-order bug fixed): inputs sorted by length, decoded in batches with beam search,
/// output cut at the first EOS, lines returned in input order.
///
/// A translator holds values only; several threads may translate with one at once. For
/// int8 inference on the CPU, give it `model.int8Quantized()`.
public struct Translator: Sendable {
    /// The model.
    public let model: Transformer
    /// The vocabulary the model was trained with.
    public let tokenizer: any Tokenizer
    /// The search and its limits: translate.py's beam search (`DecodingOptions`'
    /// defaults) by default; greedy decoding, sampling, a per-sentence length limit
    /// and n-gram repeat blocking on request (they change the translations).
    public var options = DecodingOptions()
    /// Sentences decoded together (32, as translate.py).
    public var batchSize = 32
    /// Off by default (nil): batches of up to this many source tokens (sentences ×
    /// padded width) instead of ``batchSize`` sentences. Long sentences then share a batch
    /// with fewer others; since a batch's decode limit is its padded width + the extra
    /// length, it changes where runaway translations stop.
    public var batchTokens: Int?
    /// The longest input a sentence may encode to, in subtokens with EOS (512, twice the
    /// reference's training length): a longer line is refused before decoding starts,
    /// since one very long line makes its whole batch decode for minutes and gigabytes.
    public var maximumInputTokens = 512

    /// Decoding may run this many tokens past the batch's padded input width (100, as translate.py).
    public var extraDecodeLength: Int {
        get { options.extraDecodeLength }
        set { options.extraDecodeLength = newValue }
    }

    /// Creates a translator.
    ///
    /// - Parameters:
    ///   - model: the model.
    ///   - tokenizer: the reference's subword tokenizer or a SentencePiece model (see
    ///     `TokenizerFile.load`) with the model's ids.
    /// - Throws: ``TranslatorError/vocabularyMismatch(model:vocabulary:)`` when the model
    ///   and the vocabulary disagree on the number of ids, and
    ///   ``TranslatorError/tokenizer(_:)`` when the tokenizer pads or ends sentences with
    ///   other ids than 0 and 1.
    public init(model: Transformer, tokenizer: any Tokenizer) throws(TranslatorError) {
        guard model.configuration.vocabularySize == tokenizer.vocabularySize else {
            throw .vocabularyMismatch(model: model.configuration.vocabularySize, vocabulary: tokenizer.vocabularySize)
        }
        do { try tokenizer.requireReferenceIDs() } catch { throw .tokenizer(error) }
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Translations of `lines`, in the same order; a blank line (empty or whitespace only)
    /// gives an empty translation.
    ///
    /// - Parameters:
    ///   - lines: sentences, one per element.
    ///   - progress: called with (batches done, batches) after each batch.
    public func translate(_ lines: [String], progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> [String] {
        try translate(encoded: encode(lines), device: nil, progress: progress)
    }

    /// Translations of `lines`, in the same order, decoded on `device`.
    ///
    /// A static-shape device gets batches of exactly its shape [sentences, tokens] (the
    /// last one filled up with empty sentences) and the static-shape beam search, with a
    /// maximum decode length of its token count + ``extraDecodeLength``; a device with
    /// several replicas decodes their parts of each batch concurrently. The model runs
    /// with the device's execution plan, which changes no result.
    ///
    /// - Parameters:
    ///   - lines: sentences, one per element.
    ///   - device: the device that decodes.
    ///   - progress: called with (batches done, batches) after each batch.
    /// - Throws: ``TranslatorError/sentenceTooLong(line:tokens:limit:)`` when a line does
    ///   not fit the static shape, and `DeviceError`.
    public func translate(_ lines: [String], on device: Device, progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> [String] {
        try translate(encoded: encode(lines), device: device, progress: progress)
    }

    /// `lines` as the translator reads them: each trimmed and encoded to subtoken ids with
    /// EOS, with its whitespace word count; a blank line (empty or whitespace only) has no
    /// ids and translates to an empty line without decoding (the model would make words of
    /// EOS alone). Encode once and hand the result to ``translate(encoded:on:progress:)``
    /// when the lengths must be checked first (the server does).
    ///
    /// - Throws: the tokenizer's errors.
    public func encode(_ lines: [String]) throws -> [EncodedSentence] {
        try lines.map { line in
            if line.allSatisfy(\.isWhitespace) { return EncodedSentence(ids: [], wordCount: 0) }
            return EncodedSentence(
                ids: try tokenizer.encode(line.trimmingCharacters(in: .whitespaces), addEOS: true),
                wordCount: line.split(whereSeparator: \.isWhitespace).count)
        }
    }

    /// Translations of sentences from ``encode(_:)``, in the same order, decoded on
    /// `device` (nil: on the calling threads, as ``translate(_:progress:)``); otherwise as
    /// ``translate(_:on:progress:)``.
    ///
    /// - Throws: ``TranslatorError/sentenceTooLong(line:tokens:limit:)`` when a sentence is
    ///   longer than ``maximumInputTokens`` or the static shape, and `DeviceError`.
    public func translate(
        encoded sentences: [EncodedSentence], on device: Device? = nil, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> [String] {
        try translate(encoded: sentences, device: device, progress: progress)
    }

    private func translate(encoded sentences: [EncodedSentence], device: Device?, progress: (@Sendable (Int, Int) -> Void)?) throws -> [String] {
        let capabilities = device?.capabilities
        let staticShape = capabilities?.requiresStaticShapes == true ? capabilities?.staticBatchShape : nil
        try validateSettings(staticShapes: staticShape != nil)
        // Longest first by whitespace word count; ties keep input order (a stable sort).
        let order = sentences.indices.filter { !sentences[$0].isBlank }.sorted { a, b in
            let (wa, wb) = (sentences[a].wordCount, sentences[b].wordCount)
            return wa != wb ? wa > wb : a < b
        }
        var output = [String](repeating: "", count: sentences.count)
        // Every sentence is checked before the first batch is decoded.
        let encodedLines = sentences.map(\.ids)
        let limit = min(maximumInputTokens, staticShape?[1] ?? Int.max)
        if let long = encodedLines.indices.first(where: { encodedLines[$0].count > limit }) {
            throw TranslatorError.sentenceTooLong(line: long + 1, tokens: encodedLines[long].count, limit: limit)
        }
        let batchIndices = staticShape != nil || batchTokens == nil
            ? stride(from: 0, to: order.count, by: staticShape?[0] ?? batchSize).map {
                Array(order[$0..<min(order.count, $0 + (staticShape?[0] ?? batchSize))])
            }
            : Self.batches(of: order, lengths: encodedLines.map(\.count), tokens: batchTokens!)
        let batches = batchIndices.count
        // Workers share the device only where it accepts concurrent inference (below).
        let sharedDevice = UnsafeSendable(device)
        @Sendable func decodeBatch(_ b: Int) throws -> [[Int32]] {
            let indices = batchIndices[b]
            let encoded = indices.map { encodedLines[$0] }
            // A static batch is filled up with empty sentences (EOS alone).
            let rows = staticShape?[0] ?? indices.count
            let width = staticShape?[1] ?? (encoded.map(\.count).max() ?? 1)
            var ids = [Int32](repeating: 0, count: rows * width)
            for row in encoded.count..<rows { ids[row * width] = 1 }
            for (row, sentence) in encoded.enumerated() { for (i, id) in sentence.enumerated() { ids[row * width + i] = id } }
            let sources = IndexTensor(shape: [rows, width], scalars: ids)
            guard let device = sharedDevice.value else {
                return model.translate(sources, options: options, sentenceIndices: indices, plan: .dynamicShapes).trimmedAtEOS
            }
            // Sampling seeds follow the input positions only when one replica gets the whole batch.
            let parts = capabilities?.shardCount ?? 1
            let decoded = try device.runSharded(model: model, batch: SourceBatch(inputs: sources)) { model, batch, context in
                if staticShape != nil, let search = options.strategy as? BeamSearchStrategy {
                    return model.translateStatic(
                        batch.inputs, maximumDecodeLength: width + extraDecodeLength, search: search, plan: context.plan)
                }
                return model.translate(
                    batch.inputs, options: options, sentenceIndices: parts == 1 ? indices : nil, plan: context.plan)
            }
            return decoded.flatMap(\.trimmedAtEOS)
        }
        let concurrent = device?.acceptsConcurrentInference ?? true
        let results = try BatchQueue(count: batches, workers: concurrent ? Self.concurrentBatches : 1).run(
            decodeBatch, progress: progress)
        for (b, indices) in batchIndices.enumerated() {
            for (row, index) in indices.enumerated() { output[index] = try tokenizer.decode(results[b][row]) }
        }
        return output
    }

    /// Batches decoded at once without a device or on one that accepts concurrent calls
    /// (the CPU device): one per core, each on its own thread: a
    /// beam-search step's products are small (rows = sentences × beams), and one batch per
    /// core wastes less than every product split across the cores, and keeps a core busy
    /// while another batch decodes its last, longest sentence alone. The translations are
    /// the same (batches are independent). With BLAS's own threads on, one at a time.
    static var concurrentBatches: Int { BLAS.cachedThreadCount == 1 ? Parallel.coreCount : 1 }

    /// Checks the settings a caller may have set to values the search cannot use.
    private func validateSettings(staticShapes: Bool) throws(TranslatorError) {
        if let problem = options.problem { throw .invalidSetting(problem) }
        if maximumInputTokens < 1 { throw .invalidSetting("maximumInputTokens is \(maximumInputTokens); must be at least 1") }
        if batchSize < 1 { throw .invalidSetting("batchSize is \(batchSize); must be at least 1") }
        if let batchTokens, batchTokens < 1 { throw .invalidSetting("batchTokens is \(batchTokens); must be at least 1") }
        if staticShapes && model.isInt8 {
            throw .invalidSetting("an int8 model decodes on the CPU device only; a static-shape device runs float32 models")
        }
        guard !staticShapes || options.runsOnStaticShapes else {
            throw .invalidSetting(
                "a static-shape device decodes with the reference's plain beam search only (no sampling, greedy or generate() decoding, length limit or n-gram blocking)")
        }
    }

    /// Batches of sentences in `order` (longest first) holding up to `tokens` source tokens
    /// each, counted as sentences × the longest sentence's length; a sentence longer than
    /// `tokens` gets a batch of its own.
    static func batches(of order: [Int], lengths: [Int], tokens: Int) -> [[Int]] {
        var result: [[Int]] = [], current: [Int] = [], width = 0
        for index in order {
            let newWidth = max(width, lengths[index])
            if !current.isEmpty && (current.count + 1) * newWidth > tokens {
                result.append(current)
                current = []
                width = 0
            }
            current.append(index)
            width = max(width, lengths[index])
        }
        if !current.isEmpty { result.append(current) }
        return result
    }

    /// Whether two paths name one file (the same path, a hard link or a symbolic link to it):
    /// device and inode after following links.
    public static func sameFile(_ a: URL, _ b: URL) -> Bool {
        var first = stat(), second = stat()
        guard stat(a.path, &first) == 0, stat(b.path, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    /// The translation of one sentence.
    public func translate(_ text: String) throws -> String { try translate([text])[0] }

    /// Translates every line of `input` and writes the translations, in input order, to
    /// `output`, on `device` when one is given (see ``translate(_:on:progress:)``).
    ///
    /// - Returns: the number of lines translated.
    @discardableResult
    public func translateFile(
        input: URL, output: URL, on device: Device? = nil, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> Int {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw TranslatorError.outputIsDirectory(output.path)
        }
        if Self.sameFile(input, output) { throw TranslatorError.outputIsInput(output.path) }
        // Checked before decoding, which can take minutes, rather than when writing.
        let folder = output.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TranslatorError.outputFolderMissing(folder.path)
        }
        let lines = try CorpusPreparer.lines(of: input)
        let translations = try translate(encoded: encode(lines), device: device, progress: progress)
        try Data(translations.map { $0 + "\n" }.joined().utf8).write(to: output, options: .atomic)
        return lines.count
    }
}

/// A sentence ready to translate (``Translator/encode(_:)``): its subtoken ids with EOS,
/// and its whitespace word count, which orders the batches as translate.py does.
public struct EncodedSentence: Sendable, Equatable {
    /// Subtoken ids ending in EOS; empty for a blank line.
    public var ids: [Int32]
    /// Words separated by whitespace.
    public var wordCount: Int

    /// Creates a sentence.
    public init(ids: [Int32], wordCount: Int) {
        self.ids = ids
        self.wordCount = wordCount
    }

    /// Whether it is a blank line (it translates to an empty line without decoding).
    public var isBlank: Bool { ids.isEmpty }
}

/// A translation request that cannot be served.
public enum TranslatorError: Error, Equatable, CustomStringConvertible {
    /// Model and vocabulary sizes differ.
    case vocabularyMismatch(model: Int, vocabulary: Int)
    /// The output path is a directory.
    case outputIsDirectory(String)
    /// The output path is the input file (itself, a hard link or a symbolic link): writing
    /// it would destroy the text being translated.
    case outputIsInput(String)
    /// The folder the output would go in does not exist.
    case outputFolderMissing(String)
    /// A setting (beam, batch, lengths) has a value the search cannot use.
    case invalidSetting(String)
    /// A line (1-based) encodes to more tokens than a static-shape device's batches hold.
    case sentenceTooLong(line: Int, tokens: Int, limit: Int)
    /// The tokenizer pads or ends sentences with other ids than the model's 0 and 1.
    case tokenizer(TokenizerError)

    /// A sentence saying what is wrong.
    public var description: String {
        switch self {
        case .vocabularyMismatch(let model, let vocabulary):
            return "the model has \(model) ids but the vocabulary has \(vocabulary); use the vocabulary it was trained with"
        case .outputIsDirectory(let path): return "output \(path) is a directory; give a file path"
        case .outputIsInput(let path): return "output \(path) is the input file; writing it would destroy the input, give another path"
        case .outputFolderMissing(let path): return "output folder \(path) does not exist; create it first"
        case .invalidSetting(let reason): return "invalid translator setting: \(reason)"
        case .tokenizer(let error): return "\(error)"
        case .sentenceTooLong(let line, let tokens, let limit):
            return "line \(line) encodes to \(tokens) tokens (EOS included), more than the limit of \(limit) "
                + "(the static device's length, or the translator's maximum input; raise it or split the line)"
        }
    }
}
