import Foundation
import NMTData
import NMTTensor
import NMTTransformer

/// A Hugging Face Marian model directory (an OPUS-MT model as `save_pretrained` writes it):
/// `config.json`, `generation_config.json`, `model.safetensors` or `pytorch_model.bin`,
/// `source.spm`, `target.spm`, `vocab.json` (and `target_vocab.json` for separate
/// vocabularies), `tokenizer_config.json`.
///
/// ``load(_:greedy:)`` builds a `Transformer` of the Marian architecture with the
/// weights, the ``MarianTokenizer``, and the decoding `generate()` would do. Ids are
/// permuted to swift-nmt's (padding 0, EOS 1; see ``VocabularyPermutation``), which
/// changes no logit.
public struct MarianModelDirectory: Sendable {
    /// The model, with swift-nmt's ids.
    public var model: Transformer
    /// Its tokenizer.
    public var tokenizer: MarianTokenizer
    /// `generate()`'s decoding as `generation_config.json` sets it up.
    public var decodingOptions: DecodingOptions

    /// Whether `directory` holds a Marian model (a `config.json` whose `model_type` is
    /// `marian`).
    public static func isMarian(_ directory: URL) -> Bool {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("config.json").path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return false }
        return object["model_type"] as? String == "marian"
    }

    /// Loads the model directory.
    ///
    /// - Parameters:
    ///   - directory: the folder.
    ///   - greedy: decode greedily (`num_beams=1`) instead of with the configured beams.
    /// - Throws: ``MarianModelError`` for a missing file, a configuration swift-nmt cannot
    ///   run, a weight missing, unexpected or of the wrong shape; ``TorchCheckpointError``
    ///   for a `pytorch_model.bin` that cannot be read safely; `SafeTensorsError`;
    ///   `SentencePieceError` for an unreadable `.spm`.
    public static func load(_ directory: URL, greedy: Bool = false) throws -> MarianModelDirectory {
        let settings = try MarianConfiguration(directory: directory)
        let configuration = try settings.transformerConfiguration()
        let tokenizer = try loadTokenizer(directory, settings: settings)
        guard tokenizer.sourceVocabularySize == settings.vocabularySize,
            tokenizer.vocabularySize == (settings.sharesEmbeddings ? settings.vocabularySize : settings.decoderVocabularySize)
        else {
            throw MarianModelError.invalidVocabulary(
                path: directory.path,
                reason: "the vocabularies have \(tokenizer.sourceVocabularySize) source and \(tokenizer.vocabularySize) target ids; config.json says vocab_size \(settings.vocabularySize), decoder_vocab_size \(settings.decoderVocabularySize)")
        }
        let weights = try readWeights(directory)
        let model = try MarianWeights.model(
            configuration: configuration, weights: weights, source: tokenizer.sourcePermutation,
            target: tokenizer.targetPermutation, path: directory.path)
        // The strategy's max_length replaces the extra decode length (see GenerateStrategy).
        let options = DecodingOptions(strategy: settings.generateStrategy(target: tokenizer.targetPermutation, greedy: greedy))
        return MarianModelDirectory(model: model, tokenizer: tokenizer, decodingOptions: options)
    }

    private static func loadTokenizer(_ directory: URL, settings: MarianConfiguration) throws -> MarianTokenizer {
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
        let tokenizerConfig = directory.appendingPathComponent("tokenizer_config.json")
        let separate =
            (FileManager.default.contents(atPath: tokenizerConfig.path)
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }?["separate_vocabs"] as? Bool) ?? false
        let source = try SentencePiece(modelFile: try file("source.spm"))
        let sourceVocabulary = try vocabulary("vocab.json")
        let targetVocabulary = separate ? try vocabulary("target_vocab.json") : sourceVocabulary
        let target = try SentencePiece(modelFile: try file("target.spm"))
        // transformers 5 joins output pieces with the source model unless the vocabularies are separate.
        return try MarianTokenizer(
            sourceModel: source, decodingModel: separate ? target : source, targetModel: target, sourceVocabulary: sourceVocabulary,
            targetVocabulary: targetVocabulary, padding: settings.paddingID, endOfSentence: settings.endOfSentenceID,
            path: directory.path)
    }

    /// The weights: `model.safetensors` when present, else `pytorch_model.bin`.
    private static func readWeights(_ directory: URL) throws -> [String: Tensor] {
        let safetensors = directory.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: safetensors.path) { return try SafeTensors.read(from: safetensors).tensors }
        let pickle = directory.appendingPathComponent("pytorch_model.bin")
        if FileManager.default.fileExists(atPath: pickle.path) { return try TorchCheckpoint.read(from: pickle) }
        throw MarianModelError.missingFile(directory.appendingPathComponent("model.safetensors or pytorch_model.bin").path)
    }
}

/// A Marian directory swift-nmt cannot load.
public enum MarianModelError: Error, Equatable, CustomStringConvertible {
    /// A file the directory needs is not there.
    case missingFile(String)
    /// A configuration value swift-nmt does not run, or a file that is not what it should be.
    case unsupported(path: String, reason: String)
    /// A vocabulary file that does not fit the model.
    case invalidVocabulary(path: String, reason: String)
    /// A weight is missing, unexpected, or of the wrong shape.
    case invalidWeights(path: String, reason: String)
    /// An id outside the vocabulary was given to decode.
    case idOutOfRange(Int32, size: Int)

    /// A sentence naming the file and the problem.
    public var description: String {
        switch self {
        case .missingFile(let path): return "Marian model: \(path) is missing"
        case .unsupported(let path, let reason): return "Marian model: \(path) \(reason)"
        case .invalidVocabulary(let path, let reason): return "Marian vocabulary: \(path) \(reason)"
        case .invalidWeights(let path, let reason): return "Marian weights in \(path): \(reason)"
        case .idOutOfRange(let id, let size): return "id \(id) is outside the target vocabulary of \(size) ids"
        }
    }
}
