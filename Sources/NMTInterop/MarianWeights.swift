import NMTData
import NMTTensor
import NMTTransformer

/// The mapping between `MarianMTModel`'s state dict and swift-nmt's parameter names:
/// PyTorch's `nn.Linear` stores [out, in] (transposed here to the [in, out] kernels),
/// layer norms' `weight` is the scale, and vocabulary-sized tensors are permuted to
/// swift-nmt's ids.
enum MarianWeights {
    /// Names of one of swift-nmt's parameters in the state dict (tied weights may be
    /// stored under any of several names; the first present is used) and what is done to
    /// the tensor.
    struct Source {
        enum Transform { case none, transpose, permuteTarget, permuteSource, permuteTargetBias }
        var names: [String]
        var transform: Transform
    }

    /// Where each of swift-nmt's parameters comes from.
    static func source(of parameter: String, sharesEmbeddings: Bool) -> Source? {
        switch parameter {
        case "embedding.weights":
            return Source(
                names: sharesEmbeddings
                    ? ["model.shared.weight", "model.decoder.embed_tokens.weight", "model.encoder.embed_tokens.weight"]
                    : ["model.decoder.embed_tokens.weight"],
                transform: .permuteTarget)
        case "sourceEmbedding.weights": return Source(names: ["model.encoder.embed_tokens.weight"], transform: .permuteSource)
        case "outputProjection": return Source(names: ["lm_head.weight"], transform: .permuteTarget)
        case "outputBias": return Source(names: ["final_logits_bias"], transform: .permuteTargetBias)
        default: break
        }
        var parts = parameter.split(separator: ".").map(String.init)
        // stack.layers.i.module[.projection].leaf
        guard parts.count >= 5, parts[1] == "layers", ["encoder", "decoder"].contains(parts[0]) else { return nil }
        let leaf = parts.removeLast()
        let modules = [
            "selfAttention": "self_attn", "encoderDecoderAttention": "encoder_attn",
            "selfAttentionNorm": "self_attn_layer_norm", "encoderDecoderAttentionNorm": "encoder_attn_layer_norm",
            "feedForwardNorm": "final_layer_norm",
        ]
        let projections = ["query": "q_proj", "key": "k_proj", "value": "v_proj", "output": "out_proj"]
        let prefix = "model.\(parts[0]).layers.\(parts[2])."
        switch (parts[3], parts.count) {
        case ("feedForward", 5):
            guard let layer = ["filter": "fc1", "output": "fc2"][parts[4]] else { return nil }
            return linear(prefix + layer, leaf)
        case (let module, 5) where module.hasSuffix("Attention"):
            guard let name = modules[module], let projection = projections[parts[4]] else { return nil }
            return linear(prefix + name + "." + projection, leaf)
        case (let module, 4) where module.hasSuffix("Norm"):
            guard let name = modules[module] else { return nil }
            return Source(names: [prefix + name + (leaf == "scale" ? ".weight" : ".bias")], transform: .none)
        default: return nil
        }
    }

    /// Compares the configuration's sizes with tensors the file holds before a model of
    /// that configuration is built: a `config.json` claiming d_model 10⁶ must not make
    /// swift-nmt allocate terabytes before the first weight is found not to fit.
    private static func checkSizes(_ c: TransformerConfiguration, weights: [String: Tensor], path: String) throws {
        let last = (encoder: c.layerCount - 1, decoder: c.decoderLayers - 1)
        let expected: [(String, [Int])] = [
            ("model.decoder.embed_tokens.weight", [c.vocabularySize, c.hiddenSize]),
            ("model.encoder.layers.\(last.encoder).fc1.weight", [c.filterSize, c.hiddenSize]),
            ("model.decoder.layers.\(last.decoder).fc1.weight", [c.filterSize, c.hiddenSize]),
        ]
        for (name, shape) in expected {
            let stored = weights[name] ?? (name.hasSuffix("embed_tokens.weight") ? weights["model.shared.weight"] : nil)
            guard let stored else {
                throw MarianModelError.invalidWeights(path: path, reason: "\(name) is missing (the configuration's layer counts or layout do not fit the file)")
            }
            guard stored.shape == shape else {
                throw MarianModelError.invalidWeights(
                    path: path, reason: "\(name) has shape \(stored.shape), the configuration says \(shape)")
            }
        }
    }

    private static func linear(_ name: String, _ leaf: String) -> Source {
        leaf == "kernel" ? Source(names: [name + ".weight"], transform: .transpose) : Source(names: [name + ".bias"], transform: .none)
    }

    /// A model of `configuration` with the state dict's weights.
    ///
    /// - Throws: `MarianModelError.invalidWeights` naming the first tensor
    ///   missing, of another shape, or present but not part of a Marian model.
    static func model(
        configuration: TransformerConfiguration, weights: [String: Tensor], source: VocabularyPermutation,
        target: VocabularyPermutation, path: String
    ) throws -> Transformer {
        try checkSizes(configuration, weights: weights, path: path)
        var model = try Transformer(configuration: configuration, key: RandomKey(seed: 0))
        let shares = configuration.architecture.sourceVocabularySize == nil
        var used: Set<String> = []
        try model.visitParameters { name, parameter in
            guard let origin = Self.source(of: name, sharesEmbeddings: shares) else {
                throw MarianModelError.invalidWeights(path: path, reason: "swift-nmt's parameter \(name) has no Marian counterpart")
            }
            guard let stored = origin.names.first(where: { weights[$0] != nil }) else {
                if origin.transform == .permuteTargetBias { return }  // transformers zero-fills a missing final_logits_bias
                throw MarianModelError.invalidWeights(path: path, reason: "\(origin.names[0]) is missing")
            }
            used.formUnion(origin.names)
            var tensor = weights[stored]!
            switch origin.transform {
            case .none: break
            case .transpose: tensor = tensor.rank == 2 ? tensor.transposed() : tensor
            case .permuteTarget: tensor = tensor.shape.first == target.size ? target.permutingRows(of: tensor) : tensor
            case .permuteSource: tensor = tensor.shape.first == source.size ? source.permutingRows(of: tensor) : tensor
            case .permuteTargetBias:
                if tensor.shape == [1, target.size] {
                    tensor = target.permutingRows(of: tensor.reshaped(to: [target.size]))
                }
            }
            guard tensor.shape == parameter.shape else {
                throw MarianModelError.invalidWeights(
                    path: path, reason: "\(stored) has shape \(weights[stored]!.shape), the configuration needs \(parameter.shape) (after transposing [out, in])")
            }
            parameter = tensor
        }
        // The position tables are computed, not stored; lm_head may be saved although tied.
        let ignorable = ["model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight", "lm_head.weight",
                         "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"]
        if let unexpected = weights.keys.sorted().first(where: { !used.contains($0) && !ignorable.contains($0) }) {
            throw MarianModelError.invalidWeights(path: path, reason: "\(unexpected) is not part of a Marian model as swift-nmt builds it")
        }
        return model
    }
}
