import Foundation
import NMTData
import NMTSchedule
import NMTTransformer

/// A model ready to translate, loaded from either kind of directory swift-nmt reads:
/// one of its own (a model directory or checkpoint written by `nmt-train`, with the
/// vocabulary given separately) or a Hugging Face Marian directory (OPUS-MT), which
/// carries its vocabulary. ``load(_:vocabulary:greedy:warning:)`` tells them apart by
/// their files; only weights, configuration and vocabulary are read (an optimizer state
/// is not needed).
public struct TranslationModel: Sendable {
    /// Where a model came from.
    public enum Format: String, Sendable {
        /// A directory written by swift-nmt.
        case swiftNMT = "swift-nmt"
        /// A Hugging Face `MarianMTModel` directory.
        case marian = "Hugging Face Marian"
    }

    /// The directory's kind.
    public var format: Format
    /// The model.
    public var model: Transformer
    /// Its tokenizer.
    public var tokenizer: any Tokenizer
    /// The decoding the model is published with: the reference's beam search for
    /// swift-nmt's models, `generate()` as `generation_config.json` says for Marian's.
    public var decodingOptions: DecodingOptions
    /// The longest input the model takes, in tokens with EOS (Marian's position table
    /// ends at `max_position_embeddings`), or nil.
    public var maximumInputTokens: Int?

    /// Loads the model in `directory`.
    ///
    /// - Parameters:
    ///   - directory: a swift-nmt model directory or checkpoint, or a Marian directory.
    ///   - vocabulary: the vocabulary file for a swift-nmt model (required there, unless
    ///     the folder carries its own: an export, or a fine-tuned Marian model's
    ///     `tokenizer` folder; a Marian directory has its own and refuses one).
    ///   - greedy: for a Marian model, `generate()`'s greedy search instead of its beams.
    ///   - warning: told about each newer checkpoint skipped as unusable.
    /// - Throws: ``TranslationModelError`` when the vocabulary is missing or not wanted,
    ///   and the errors of ``MarianModelDirectory/load(_:greedy:)``, `Checkpoint.loadModel`
    ///   and `TokenizerFile.load`.
    public static func load(
        _ directory: URL, vocabulary: URL?, greedy: Bool = false, warning: (String) -> Void = { _ in }
    ) throws -> TranslationModel {
        if MarianModelDirectory.isMarian(directory) {
            if let vocabulary { throw TranslationModelError.vocabularyNotUsed(directory: directory.path, vocabulary: vocabulary.path) }
            let marian = try MarianModelDirectory.load(directory, greedy: greedy)
            return TranslationModel(
                format: .marian, model: marian.model, tokenizer: marian.tokenizer, decodingOptions: marian.decodingOptions,
                maximumInputTokens: marian.model.configuration.architecture.maximumPositions)
        }
        // An export (nmt-export --format swift-nmt) or a fine-tuned Marian model carries its vocabulary.
        let bundled = try ModelExport.bundledVocabulary(in: directory)
        if let bundled, let vocabulary, !Translator.sameFile(bundled, vocabulary) {
            throw TranslationModelError.vocabularyNotUsed(directory: directory.path, vocabulary: vocabulary.path)
        }
        guard let vocabulary = vocabulary ?? bundled else { throw TranslationModelError.vocabularyNeeded(directory: directory.path) }
        // The checkpoint records its vocabulary's hash: another vocabulary of the same size
        // would translate into nonsense.
        let model = try Checkpoint.loadModel(
            at: directory, vocabularyHash: try Checkpoint.vocabularyHash(of: vocabulary), warning: warning)
        let tokenizer = try TokenizerFile.load(vocabulary)
        return TranslationModel(
            format: .swiftNMT, model: model, tokenizer: tokenizer,
            decodingOptions: try decodingOptions(vocabulary: vocabulary, tokenizer: tokenizer, greedy: greedy),
            maximumInputTokens: model.configuration.architecture.maximumPositions)
    }

    /// How a swift-nmt model with this vocabulary is published to decode: a Marian model
    /// fine-tuned here (its vocabulary a Marian tokenizer directory) as its
    /// `generation_config.json` says, any other with the reference's beam search (greedy
    /// when asked).
    static func decodingOptions(vocabulary: URL, tokenizer: any Tokenizer, greedy: Bool) throws -> DecodingOptions {
        if let marian = tokenizer as? MarianTokenizer {
            return try MarianModelDirectory.decodingOptions(in: vocabulary, tokenizer: marian, greedy: greedy)
        }
        var options = DecodingOptions()
        if greedy { options.strategy = GreedyStrategy() }
        return options
    }

    /// The same model and settings with the weights quantized for int8 inference on the
    /// CPU (`Transformer.int8Quantized()`).
    ///
    /// - Throws: `Int8QuantizationError` when a weight is NaN or infinite.
    public func int8Quantized() throws -> TranslationModel {
        var copy = self
        copy.model = try model.int8Quantized()
        return copy
    }

    /// A translator for the model, decoding with ``decodingOptions`` and refusing inputs
    /// longer than ``maximumInputTokens``.
    ///
    /// - Throws: `TranslatorError` when the model and tokenizer disagree.
    public func translator() throws -> Translator {
        var translator = try Translator(model: model, tokenizer: tokenizer)
        translator.options = decodingOptions
        if let maximumInputTokens { translator.maximumInputTokens = min(translator.maximumInputTokens, maximumInputTokens) }
        return translator
    }
}

/// A model directory and vocabulary that do not go together.
public enum TranslationModelError: Error, Equatable, CustomStringConvertible {
    /// A swift-nmt model directory was given without its vocabulary.
    case vocabularyNeeded(directory: String)
    /// Another vocabulary was given for a directory that has its own.
    case vocabularyNotUsed(directory: String, vocabulary: String)

    /// A sentence saying what to do.
    public var description: String {
        switch self {
        case .vocabularyNeeded(let directory):
            return "\(directory) is not a Hugging Face Marian directory (no config.json with model_type \"marian\"); a swift-nmt model needs the vocabulary it was trained with (--vocab)"
        case .vocabularyNotUsed(let directory, let vocabulary):
            return "\(directory) carries its own vocabulary (a Hugging Face Marian model, or an export of ours); "
                + "leave out the vocabulary \(vocabulary)"
        }
    }
}
