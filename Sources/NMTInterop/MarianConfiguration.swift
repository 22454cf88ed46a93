import Foundation
import NMTData
import NMTTransformer

/// What a Marian directory's `config.json` and `generation_config.json` say, in
/// transformers' terms (the keys of `MarianConfig` and `GenerationConfig`, transformers
/// 5.25; absent keys take transformers' defaults).
struct MarianConfiguration {
    var vocabularySize: Int
    var decoderVocabularySize: Int
    var hiddenSize: Int
    var encoderLayers: Int, decoderLayers: Int
    var encoderHeads: Int, decoderHeads: Int
    var encoderFilterSize: Int, decoderFilterSize: Int
    var activation: String
    var scalesEmbedding: Bool
    var maximumPositions: Int
    var paddingID: Int, endOfSentenceID: Int, decoderStartID: Int
    var sharesEmbeddings: Bool, tiesOutput: Bool
    var dropout: Float, attentionDropout: Float, activationDropout: Float
    /// `generate()`'s settings (generation_config.json, else the generation keys of
    /// config.json, as transformers falls back).
    var beams: Int, lengthPenalty: Float, maximumLength: Int
    var forcedEOS: Int?, badWords: [[Int]], earlyStopping: GenerateStrategy.EarlyStopping

    /// Reads the directory's configuration files.
    ///
    /// - Throws: `MarianModelError` naming the file and key when a file is missing or
    ///   not JSON, the model is not a Marian model, or a value is of the wrong type or
    ///   one swift-nmt does not run (a decoder start id other than the padding id,
    ///   several EOS ids, encoder and decoder of different widths).
    init(directory: URL) throws(MarianModelError) {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try Self.object(at: configURL)
        let generationURL = directory.appendingPathComponent("generation_config.json")
        let hasGeneration = FileManager.default.fileExists(atPath: generationURL.path)
        let generation = hasGeneration ? try Self.object(at: generationURL) : config
        let generationFile = hasGeneration ? generationURL : configURL
        guard let type = config["model_type"] as? String, type == "marian" else {
            throw .unsupported(path: configURL.path, reason: "model_type is \(config["model_type"].map { "\($0)" } ?? "missing"), not \"marian\"")
        }
        let c = JSONFields(object: config, path: configURL.path)
        let g = JSONFields(object: generation, path: generationFile.path)
        vocabularySize = try c.int("vocab_size")
        decoderVocabularySize = try c.int("decoder_vocab_size", vocabularySize)
        hiddenSize = try c.int("d_model")
        encoderLayers = try c.int("encoder_layers")
        decoderLayers = try c.int("decoder_layers")
        encoderHeads = try c.int("encoder_attention_heads")
        decoderHeads = try c.int("decoder_attention_heads")
        encoderFilterSize = try c.int("encoder_ffn_dim")
        decoderFilterSize = try c.int("decoder_ffn_dim")
        activation = try c.string("activation_function", "gelu")
        scalesEmbedding = try c.bool("scale_embedding", false)
        maximumPositions = try c.int("max_position_embeddings", 1024)
        paddingID = try c.int("pad_token_id")
        decoderStartID = try c.int("decoder_start_token_id", paddingID)
        sharesEmbeddings = try c.bool("share_encoder_decoder_embeddings", true)
        tiesOutput = try c.bool("tie_word_embeddings", true)
        dropout = try c.float("dropout", 0.1)
        attentionDropout = try c.float("attention_dropout", 0)
        activationDropout = try c.float("activation_dropout", 0)
        if let list = config["eos_token_id"] as? [Int] {
            guard list.count == 1 else { throw .unsupported(path: configURL.path, reason: "eos_token_id lists \(list.count) ids; one is supported") }
            endOfSentenceID = list[0]
        } else {
            endOfSentenceID = try c.int("eos_token_id")
        }
        beams = try g.int("num_beams", 1)
        lengthPenalty = try g.float("length_penalty", 1)
        maximumLength = try g.int("max_length", 20)
        forcedEOS = try g.optionalInt("forced_eos_token_id")
        badWords = (generation["bad_words_ids"] as? [[Int]]) ?? []
        switch generation["early_stopping"] {
        case let flag as Bool: earlyStopping = flag ? .always : .heuristic
        case let text as String where text == "never": earlyStopping = .never
        case nil, is NSNull: earlyStopping = .heuristic
        case let other?: throw .unsupported(path: generationFile.path, reason: "early_stopping is \(other); true, false or \"never\" are")
        }
        guard decoderStartID == paddingID else {
            throw .unsupported(path: configURL.path, reason: "decoder_start_token_id \(decoderStartID) differs from pad_token_id \(paddingID); swift-nmt starts decoding from the padding id, as Marian does")
        }
        guard encoderHeads == decoderHeads, encoderFilterSize == decoderFilterSize else {
            throw .unsupported(path: configURL.path, reason: "the encoder and decoder differ in heads (\(encoderHeads), \(decoderHeads)) or ffn_dim (\(encoderFilterSize), \(decoderFilterSize)); swift-nmt builds both alike")
        }
        if let long = badWords.first(where: { $0.count != 1 }) {
            throw .unsupported(path: generationFile.path, reason: "bad_words_ids holds the sequence \(long); only single tokens are supported")
        }
    }

    /// Typed reads of one JSON object's keys, naming the file and key in errors.
    private struct JSONFields {
        let object: [String: Any]
        let path: String

        private func raw(_ key: String) -> Any? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            return value
        }

        private func wrongType(_ key: String, _ value: Any, _ type: String) -> MarianModelError {
            .unsupported(path: path, reason: "\(key) is \(value), not \(type)")
        }

        private func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

        func optionalInt(_ key: String) throws(MarianModelError) -> Int? {
            guard let value = raw(key) else { return nil }
            guard let number = value as? NSNumber, !isBool(number), Double(number.intValue) == number.doubleValue else {
                throw wrongType(key, value, "an integer")
            }
            return number.intValue
        }

        func int(_ key: String, _ fallback: Int? = nil) throws(MarianModelError) -> Int {
            guard let value = try optionalInt(key) ?? fallback else { throw .unsupported(path: path, reason: "has no \(key)") }
            return value
        }

        func float(_ key: String, _ fallback: Float) throws(MarianModelError) -> Float {
            guard let value = raw(key) else { return fallback }
            guard let number = value as? NSNumber, !isBool(number) else { throw wrongType(key, value, "a number") }
            return number.floatValue
        }

        func bool(_ key: String, _ fallback: Bool) throws(MarianModelError) -> Bool {
            guard let value = raw(key) else { return fallback }
            guard let number = value as? NSNumber, isBool(number) else { throw wrongType(key, value, "true or false") }
            return number.boolValue
        }

        func string(_ key: String, _ fallback: String) throws(MarianModelError) -> String {
            guard let value = raw(key) else { return fallback }
            guard let text = value as? String else { throw wrongType(key, value, "a string") }
            return text
        }
    }

    private static func object(at url: URL) throws(MarianModelError) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw .missingFile(url.path) }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw .unsupported(path: url.path, reason: "is not a JSON object")
        }
        return object
    }

    /// The swift-nmt configuration of the model (ids permuted: V is the target side's).
    func transformerConfiguration() throws(MarianModelError) -> TransformerConfiguration {
        guard let activation = TransformerArchitecture.Activation(rawValue: activation == "silu" ? "swish" : activation) else {
            throw .unsupported(path: "config.json", reason: "activation_function is \(activation); relu, swish (silu) and gelu are supported")
        }
        var configuration = TransformerConfiguration(
            vocabularySize: sharesEmbeddings ? vocabularySize : decoderVocabularySize, hiddenSize: hiddenSize,
            layerCount: encoderLayers, headCount: encoderHeads, filterSize: encoderFilterSize, postprocessDropout: dropout,
            // MarianMTModel's own loss is plain cross entropy: no label smoothing.
            attentionDropout: attentionDropout, reluDropout: activationDropout, labelSmoothing: 0)
        configuration.decoderLayerCount = decoderLayers == encoderLayers ? nil : decoderLayers
        configuration.architecture = TransformerArchitecture(
            family: .marian, normalization: .postNorm, activation: activation, layerNormEpsilon: 1e-5, attentionBiases: true,
            scalesEmbedding: scalesEmbedding, zeroesPaddingEmbedding: false, positionTable: .marian,
            maximumPositions: maximumPositions, sourceVocabularySize: sharesEmbeddings ? nil : vocabularySize,
            tiesOutputProjection: tiesOutput, outputBias: true)
        do { try configuration.validate() } catch { throw .unsupported(path: "config.json", reason: "\(error)") }
        return configuration
    }

    /// `generate()`'s default decoding for this model, with ids permuted to swift-nmt's.
    func generateStrategy(target: VocabularyPermutation, greedy: Bool) -> GenerateStrategy {
        let banned = badWords.compactMap(\.first).filter { (0..<target.size).contains($0) }.map { target.internalIDs[$0] }
        return GenerateStrategy(
            beamSize: greedy ? 1 : beams, lengthPenalty: lengthPenalty, maximumLength: maximumLength,
            forcesEOSAtMaximumLength: forcedEOS == endOfSentenceID, bannedIDs: banned, earlyStopping: earlyStopping)
    }
}
