import Foundation
import NMTData
import NMTTensor
import NMTTransformer

/// Translates text with a trained model, as the reference's `translate.py` (with its
/// output-order bug fixed): inputs sorted by length, decoded in batches with beam search,
/// output cut at the first EOS, lines returned in input order.
///
/// A translator holds values only; several threads may translate with one at once.
public struct Translator: Sendable {
    /// The model.
    public let model: Transformer
    /// The vocabulary the model was trained with.
    public let tokenizer: Subtokenizer
    /// Beams (4).
    public var beamSize = 4
    /// Length normalization exponent (0.6).
    public var alpha: Float = 0.6
    /// Decoding may run this many tokens past the input length (100, as translate.py).
    public var extraDecodeLength = 100
    /// Sentences decoded together (32).
    public var batchSize = 32

    /// Creates a translator.
    ///
    /// - Throws: ``TranslatorError/vocabularyMismatch(model:vocabulary:)`` when the model
    ///   and the vocabulary disagree on the number of ids.
    public init(model: Transformer, tokenizer: Subtokenizer) throws(TranslatorError) {
        guard model.configuration.vocabularySize == tokenizer.vocabularySize else {
            throw .vocabularyMismatch(model: model.configuration.vocabularySize, vocabulary: tokenizer.vocabularySize)
        }
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Translations of `lines`, in the same order.
    ///
    /// - Parameter progress: called with (batches done, batches) after each batch.
    public func translate(_ lines: [String], progress: ((Int, Int) -> Void)? = nil) throws -> [String] {
        // Longest first by whitespace word count; ties keep input order (a stable sort).
        let order = lines.indices.sorted { a, b in
            let (wa, wb) = (lines[a].split(whereSeparator: \.isWhitespace).count, lines[b].split(whereSeparator: \.isWhitespace).count)
            return wa != wb ? wa > wb : a < b
        }
        var output = [String](repeating: "", count: lines.count)
        let batches = (lines.count + batchSize - 1) / batchSize
        for b in 0..<batches {
            let indices = Array(order[(b * batchSize)..<min(lines.count, (b + 1) * batchSize)])
            let encoded = try indices.map { try tokenizer.encode(lines[$0].trimmingCharacters(in: .whitespaces), addEOS: true) }
            let width = encoded.map(\.count).max() ?? 1
            var ids = [Int32](repeating: 0, count: indices.count * width)
            for (row, sentence) in encoded.enumerated() { for (i, id) in sentence.enumerated() { ids[row * width + i] = id } }
            let decoded = model.translate(
                IndexTensor(shape: [indices.count, width], scalars: ids), beamSize: beamSize, alpha: alpha,
                extraDecodeLength: extraDecodeLength)
            for (row, index) in indices.enumerated() { output[index] = tokenizer.decode(decoded.trimmedAtEOS[row]) }
            progress?(b + 1, batches)
        }
        return output
    }

    /// The translation of one sentence.
    public func translate(_ text: String) throws -> String { try translate([text])[0] }

    /// Translates every line of `input` and writes the translations, in input order, to
    /// `output`.
    public func translateFile(input: URL, output: URL, progress: ((Int, Int) -> Void)? = nil) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw TranslatorError.outputIsDirectory(output.path)
        }
        let lines = try CorpusPreparer.lines(of: input)
        let translations = try translate(lines, progress: progress)
        try Data(translations.map { $0 + "\n" }.joined().utf8).write(to: output, options: .atomic)
    }
}

/// A translation request that cannot be served.
public enum TranslatorError: Error, Equatable, CustomStringConvertible {
    /// Model and vocabulary sizes differ.
    case vocabularyMismatch(model: Int, vocabulary: Int)
    /// The output path is a directory.
    case outputIsDirectory(String)

    /// A sentence saying what is wrong.
    public var description: String {
        switch self {
        case .vocabularyMismatch(let model, let vocabulary):
            return "the model has \(model) ids but the vocabulary has \(vocabulary); use the vocabulary it was trained with"
        case .outputIsDirectory(let path): return "output \(path) is a directory; give a file path"
        }
    }
}
