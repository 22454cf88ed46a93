import Foundation
import NMTData
import NMTLayers
import NMTTensor
import NMTTransformer

/// A CTranslate2 model directory written from Swift (no Python at export time):
/// `model.bin` (CTranslate2's binary format 6, a `TransformerSpec` of revision 7, as
/// ctranslate2 4.x writes it), `config.json` and the vocabulary files, for both families.
///
/// How each part maps, for the reference's model: the attention projections' kernels
/// [in, out] become weights [out, in], self-attention's query, key and value fused into
/// one [3H, H] matrix and encoder-decoder attention's key and value into one [2H, H];
/// pre-norm with a final norm per stack, epsilon in `config.json` (CTranslate2 assumes
/// 1e-5 otherwise); the input embedding is the shared table with the padding row zeroed
/// (swift-nmt embeds id 0 as zero) while the output projection keeps it; positions are an
/// explicit table (CTranslate2's own sinusoid starts at position 1, ours at 0); decoding
/// starts from a zero embedding; there is no unknown token, so `unk_token` names
/// `<pad>` and CTranslate2 adds none. Marian's models map the same way with post-norm (no
/// final norms), biases on every projection, swish or gelu, their own embedding scale, the
/// start id's own embedding, separate source or output matrices where the model has them,
/// and the logit bias; their rows go back to the Marian vocabulary's own id order.
public enum CTranslate2Export {
    /// A variable of `model.bin`: name, shape, CTranslate2 type id (0 float32, 1 int8,
    /// 2 int16) and little-endian bytes.
    struct Variable {
        var name: String
        var shape: [Int]
        var type: UInt8
        var bytes: Data
    }

    /// Writes `model` (and its vocabularies, token strings in id order) as a CTranslate2
    /// model directory in `output`.
    ///
    /// - Parameters:
    ///   - model: the model, with swift-nmt's ids.
    ///   - sourceTokens: the source vocabulary's token strings, by CTranslate2 id.
    ///   - targetTokens: the target's (the same array when the vocabulary is shared).
    ///   - permutations: for a Marian model, its source and target id permutations, so
    ///     that rows go back to the vocabulary's own order (CTranslate2's ids); nil when the
    ///     ids are the same (our models).
    ///   - special: the token strings of padding (also the decoder's start), EOS and the
    ///     unknown token (padding's again when the vocabulary has none).
    ///   - positions: rows of the position table written (the longest input and output
    ///     CTranslate2 can then handle).
    ///   - output: the folder to write (created).
    /// - Throws: ``ModelExportError`` for duplicate token strings, and file-system errors.
    public static func write(
        _ model: Transformer, sourceTokens: [String], targetTokens: [String],
        permutations: (source: VocabularyPermutation, target: VocabularyPermutation)?, special: (padding: String, endOfSentence: String, unknown: String),
        positions: Int, to output: URL
    ) throws {
        let c = model.configuration, architecture = c.architecture
        for (tokens, side) in [(sourceTokens, "source"), (targetTokens, "target")] where Set(tokens).count != tokens.count {
            throw ModelExportError.invalidRecord(output.path, reason: "the \(side) vocabulary repeats a token string; CTranslate2 needs each once")
        }
        var variables: [Variable] = []
        var aliases: [(String, String)] = []
        func add(_ name: String, _ tensor: Tensor) {
            variables.append(Variable(name: name, shape: tensor.shape, type: 0, bytes: tensor.scalars.withUnsafeBytes { Data($0) }))
        }
        func flag(_ name: String, _ value: Bool) { variables.append(Variable(name: name, shape: [], type: 1, bytes: Data([value ? 1 : 0]))) }
        func int8(_ name: String, _ value: Int8) { variables.append(Variable(name: name, shape: [], type: 1, bytes: Data([UInt8(bitPattern: value)]))) }
        func int16(_ name: String, _ value: Int16) {
            variables.append(Variable(name: name, shape: [], type: 2, bytes: withUnsafeBytes(of: value.littleEndian) { Data($0) }))
        }
        /// Rows in CTranslate2's id order (the vocabulary's own).
        func original(_ table: Tensor, _ permutation: VocabularyPermutation?) -> Tensor {
            permutation?.restoringOriginalOrder(of: table) ?? table
        }
        let (source, target) = (permutations?.source, permutations?.target)

        // Embeddings, positions, output projection.
        var input = model.embedding.weights
        if architecture.zeroesPaddingEmbedding { input = Self.zeroingRow(0, of: input) }
        add("decoder/embeddings/weight", original(input, target))
        if let own = model.sourceEmbedding {
            add("encoder/embeddings_0/weight", original(own.weights, source))
        } else {
            aliases.append(("encoder/embeddings_0/weight", "decoder/embeddings/weight"))
        }
        add("decoder/position_encodings/encodings", model.positionTable(length: positions))
        aliases.append(("encoder/position_encodings/encodings", "decoder/position_encodings/encodings"))
        add("decoder/projection/weight", original(model.outputProjection ?? model.embedding.weights, target))
        if let bias = model.outputBias { add("decoder/projection/bias", original(bias, target)) }

        // Layers.
        func norm(_ prefix: String, _ layer: LayerNorm) {
            add(prefix + "/gamma", layer.scale)
            add(prefix + "/beta", layer.bias)
        }
        for (i, layer) in model.encoder.layers.enumerated() {
            let p = "encoder/layer_\(i)"
            Self.selfAttention(p + "/self_attention", layer.selfAttention, add)
            norm(p + "/self_attention/layer_norm", layer.selfAttentionNorm)
            Self.feedForward(p + "/ffn", layer.feedForward, add)
            norm(p + "/ffn/layer_norm", layer.feedForwardNorm)
        }
        for (i, layer) in model.decoder.layers.enumerated() {
            let p = "decoder/layer_\(i)"
            Self.selfAttention(p + "/self_attention", layer.selfAttention, add)
            norm(p + "/self_attention/layer_norm", layer.selfAttentionNorm)
            Self.crossAttention(p + "/attention", layer.encoderDecoderAttention, add)
            norm(p + "/attention/layer_norm", layer.encoderDecoderAttentionNorm)
            Self.feedForward(p + "/ffn", layer.feedForward, add)
            norm(p + "/ffn/layer_norm", layer.feedForwardNorm)
        }
        if let final = model.encoder.outputNorm { norm("encoder/layer_norm", final) }
        if let final = model.decoder.outputNorm { norm("decoder/layer_norm", final) }

        // The spec's settings, as TransformerSpec records them.
        let activation: Int8 = switch architecture.activation {
        case .relu: 0
        case .swish: 2
        case .gelu: 3
        }
        let preNorm = architecture.normalization == .preNorm
        for stack in ["encoder", "decoder"] {
            int8("\(stack)/activation", activation)
            int16("\(stack)/num_heads", Int16(c.headCount))
            flag("\(stack)/pre_norm", preNorm)
            // True: CTranslate2 scales by √H; a float scales by that factor (1: none).
            if architecture.scalesEmbedding {
                flag("\(stack)/scale_embeddings", true)
            } else {
                add("\(stack)/scale_embeddings", Tensor(1))
            }
        }
        flag("encoder/embeddings_merge", false)
        flag("encoder/multi_query_attention", false)
        flag("decoder/alibi", false)
        flag("decoder/alibi_use_positive_positions", false)
        flag("decoder/scale_alibi", false)
        int16("decoder/alignment_heads", 1)
        int16("decoder/alignment_layer", -1)
        flag("decoder/start_from_zero_embedding", architecture.zeroesPaddingEmbedding)

        let manager = FileManager.default
        if let contents = try? manager.contentsOfDirectory(atPath: output.path), !contents.isEmpty {
            throw ModelExportError.outputNotEmpty(output.path)
        }
        try manager.createDirectory(at: output, withIntermediateDirectories: true)
        try Self.serialize(variables, aliases: aliases).write(to: output.appendingPathComponent("model.bin"))
        let config: [String: Any] = [
            "add_source_bos": false, "add_source_eos": false, "bos_token": special.padding,
            "decoder_start_token": special.padding, "eos_token": special.endOfSentence,
            "layer_norm_epsilon": Double(architecture.layerNormEpsilon), "multi_query_attention": false,
            "unk_token": special.unknown,
        ]
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .write(to: output.appendingPathComponent("config.json"))
        let encoder = JSONEncoder()
        if sourceTokens == targetTokens {
            try encoder.encode(sourceTokens).write(to: output.appendingPathComponent("shared_vocabulary.json"))
        } else {
            try encoder.encode(sourceTokens).write(to: output.appendingPathComponent("source_vocabulary.json"))
            try encoder.encode(targetTokens).write(to: output.appendingPathComponent("target_vocabulary.json"))
        }
    }

    /// `kernel` [in, out] as CTranslate2's [out, in] weight.
    static func weight(_ linear: Linear) -> Tensor { linear.kernel.transposed() }

    /// Projections fused along the output axis (rows), with their biases where present.
    private static func fused(_ prefix: String, _ parts: [Linear], _ add: (String, Tensor) -> Void) {
        add(prefix + "/weight", Tensor.concatenate(parts.map(weight), alongAxis: 0))
        let biases = parts.compactMap(\.bias)
        if biases.count == parts.count { add(prefix + "/bias", Tensor.concatenate(biases, alongAxis: 0)) }
    }

    private static func selfAttention(_ prefix: String, _ attention: MultiHeadAttention, _ add: (String, Tensor) -> Void) {
        fused(prefix + "/linear_0", [attention.query, attention.key, attention.value], add)
        fused(prefix + "/linear_1", [attention.output], add)
    }

    private static func crossAttention(_ prefix: String, _ attention: MultiHeadAttention, _ add: (String, Tensor) -> Void) {
        fused(prefix + "/linear_0", [attention.query], add)
        fused(prefix + "/linear_1", [attention.key, attention.value], add)
        fused(prefix + "/linear_2", [attention.output], add)
    }

    private static func feedForward(_ prefix: String, _ network: FeedForward, _ add: (String, Tensor) -> Void) {
        fused(prefix + "/linear_0", [network.filter], add)
        fused(prefix + "/linear_1", [network.output], add)
    }

    /// `table` with row `row` set to zeros.
    static func zeroingRow(_ row: Int, of table: Tensor) -> Tensor {
        var scalars = table.scalars
        let width = table.shape[1]
        for j in 0..<width { scalars[row * width + j] = 0 }
        return Tensor(shape: table.shape, scalars: scalars)
    }

    /// `model.bin`: binary version 6, the spec's name and revision, the variables sorted by
    /// name (as ctranslate2 writes them), then the aliases.
    static func serialize(_ variables: [Variable], aliases: [(String, String)]) -> Data {
        var data = Data()
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { data.append(contentsOf: $0) } }
        func string(_ s: String) {
            let bytes = Array(s.utf8)
            withUnsafeBytes(of: UInt16(bytes.count + 1).littleEndian) { data.append(contentsOf: $0) }
            data.append(contentsOf: bytes)
            data.append(0)
        }
        u32(6)
        string("TransformerSpec")
        u32(7)
        u32(variables.count)
        for variable in variables.sorted(by: { $0.name < $1.name }) {
            string(variable.name)
            data.append(UInt8(variable.shape.count))
            for dimension in variable.shape { u32(dimension) }
            data.append(variable.type)
            u32(variable.bytes.count)
            data.append(variable.bytes)
        }
        u32(aliases.count)
        for (alias, name) in aliases {
            string(alias)
            string(name)
        }
        return data
    }
}
