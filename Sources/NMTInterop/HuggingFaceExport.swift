import Foundation
import NMTData
import NMTTensor
import NMTTransformer

/// A Hugging Face `MarianMTModel` directory written from a Marian-family model: what
/// `transformers` loads with `MarianMTModel.from_pretrained` and `MarianTokenizer`.
///
/// `model.safetensors` holds the weights under transformers' names (the inverse of
/// loading: kernels transposed back to [out, in], vocabulary rows back in the
/// vocabulary's own order, the logit bias as [1, V]; tied tables once, under the name
/// transformers ties the others to); `config.json` and `generation_config.json` are
/// written from the model's configuration and decoding; the tokenizer's files
/// (`source.spm`, `target.spm`, `vocab.json`, `target_vocab.json`,
/// `tokenizer_config.json`) are copied from the directory the model came from.
public enum HuggingFaceExport {
    /// Writes `model` (loaded from the Marian directory `assets`, whose tokenizer files are
    /// copied) with `generation` as its default decoding.
    ///
    /// - Parameters:
    ///   - model: a model of the Marian family.
    ///   - tokenizer: its tokenizer (for the id permutations).
    ///   - generation: the decoding `generation_config.json` should set up.
    ///   - assets: the Marian directory holding the tokenizer's files.
    ///   - output: the folder to write (new or empty).
    /// - Throws: ``ModelExportError`` for a model of the reference family or a non-empty
    ///   output, and file-system errors.
    public static func write(
        _ model: Transformer, tokenizer: MarianTokenizer, generation: GenerateStrategy, assets: URL, to output: URL
    ) throws {
        let c = model.configuration, architecture = c.architecture
        guard architecture.family == .marian else {
            throw ModelExportError.invalidRecord(output.path, reason: "only Marian-family models have a Hugging Face layout (MarianMTModel)")
        }
        let manager = FileManager.default
        if let contents = try? manager.contentsOfDirectory(atPath: output.path), !contents.isEmpty {
            throw ModelExportError.outputNotEmpty(output.path)
        }
        let (source, target) = (tokenizer.sourcePermutation, tokenizer.targetPermutation)
        let shares = architecture.sourceVocabularySize == nil
        var tensors: [String: Tensor] = [:]
        var copy = model
        try copy.visitParameters { name, parameter in
            guard let origin = MarianWeights.source(of: name, sharesEmbeddings: shares) else {
                throw ModelExportError.invalidRecord(output.path, reason: "parameter \(name) has no MarianMTModel counterpart")
            }
            var tensor = parameter
            switch origin.transform {
            case .none: break
            case .transpose: tensor = tensor.transposed()
            case .permuteTarget: tensor = target.restoringOriginalOrder(of: tensor)
            case .permuteSource: tensor = source.restoringOriginalOrder(of: tensor)
            case .permuteTargetBias: tensor = target.restoringOriginalOrder(of: tensor).reshaped(to: [1, target.size])
            }
            tensors[origin.names[0]] = tensor
        }
        try manager.createDirectory(at: output, withIntermediateDirectories: true)
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: output.appendingPathComponent("model.safetensors"))

        let (padding, endOfSentence) = (Int(target.originalIDs[0]), Int(target.originalIDs[1]))
        var config: [String: Any] = [
            "architectures": ["MarianMTModel"], "model_type": "marian", "is_encoder_decoder": true,
            "vocab_size": source.size, "decoder_vocab_size": target.size, "d_model": c.hiddenSize,
            "encoder_layers": c.layerCount, "decoder_layers": c.decoderLayers,
            "encoder_attention_heads": c.headCount, "decoder_attention_heads": c.headCount,
            "encoder_ffn_dim": c.filterSize, "decoder_ffn_dim": c.filterSize,
            "activation_function": architecture.activation.rawValue, "scale_embedding": architecture.scalesEmbedding,
            "max_position_embeddings": architecture.maximumPositions ?? 512,
            "pad_token_id": padding, "decoder_start_token_id": padding, "eos_token_id": endOfSentence,
            "forced_eos_token_id": endOfSentence, "share_encoder_decoder_embeddings": shares,
            "tie_word_embeddings": architecture.tiesOutputProjection, "dropout": Double(c.postprocessDropout),
            "attention_dropout": Double(c.attentionDropout), "activation_dropout": Double(c.reluDropout),
        ]
        if shares { config["vocab_size"] = target.size }
        var generationConfig: [String: Any] = [
            "decoder_start_token_id": padding, "eos_token_id": endOfSentence, "pad_token_id": padding,
            "num_beams": generation.beamSize, "length_penalty": Double(generation.lengthPenalty),
            "max_length": generation.maximumLength,
            "bad_words_ids": generation.bannedIDs.map { [Int(target.originalIDs[Int($0)])] },
        ]
        if generation.forcesEOSAtMaximumLength { generationConfig["forced_eos_token_id"] = endOfSentence }
        switch generation.earlyStopping {
        case .heuristic: break
        case .always: generationConfig["early_stopping"] = true
        case .never: generationConfig["early_stopping"] = "never"
        }
        for (object, name) in [(config, "config.json"), (generationConfig, "generation_config.json")] {
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                .write(to: output.appendingPathComponent(name))
        }
        for name in ["source.spm", "target.spm", "vocab.json", "target_vocab.json", "tokenizer_config.json"] {
            let from = assets.appendingPathComponent(name)
            if manager.fileExists(atPath: from.path) { try manager.copyItem(at: from, to: output.appendingPathComponent(name)) }
        }
    }
}
