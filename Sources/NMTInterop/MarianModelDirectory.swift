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
/// weights, the `MarianTokenizer`, and the decoding `generate()` would do. Ids are
/// permuted to swift-nmt's (padding 0, EOS 1; see `VocabularyPermutation`), which
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
    /// - Throws: `MarianModelError` for a missing file, a configuration swift-nmt cannot
    ///   run, a weight missing, unexpected or of the wrong shape; ``TorchCheckpointError``
    ///   for a `pytorch_model.bin` that cannot be read safely; `SafeTensorsError`;
    ///   `SentencePieceError` for an unreadable `.spm`.
    public static func load(_ directory: URL, greedy: Bool = false) throws -> MarianModelDirectory {
        let settings = try MarianConfiguration(directory: directory)
        let configuration = try settings.transformerConfiguration()
        let tokenizer = try MarianTokenizer(directory: directory, padding: settings.paddingID, endOfSentence: settings.endOfSentenceID)
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

    /// `generate()`'s decoding as the configuration files of `directory` (a Marian
    /// directory, or a tokenizer directory copied from one, which keeps `config.json` and
    /// `generation_config.json`) set it up, for a model with `tokenizer`'s ids.
    ///
    /// - Throws: `MarianModelError` as ``load(_:greedy:)`` for the configuration files.
    public static func decodingOptions(in directory: URL, tokenizer: MarianTokenizer, greedy: Bool = false) throws -> DecodingOptions {
        let settings = try MarianConfiguration(directory: directory)
        return DecodingOptions(strategy: settings.generateStrategy(target: tokenizer.targetPermutation, greedy: greedy))
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
