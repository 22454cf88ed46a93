import NMTLayers
import NMTTensor

/// One decoder layer: causal self-attention, encoder-decoder attention, then the
/// feed-forward network, each in a residual step (pre-norm in the reference, post-norm in
/// Marian).
public struct DecoderLayer: ParameterContainer, Sendable {
    /// Causal self-attention over the target prefix.
    public var selfAttention: MultiHeadAttention
    /// Normalization before self-attention.
    public var selfAttentionNorm: LayerNorm
    /// Attention from the target to the encoder outputs.
    public var encoderDecoderAttention: MultiHeadAttention
    /// Normalization before encoder-decoder attention.
    public var encoderDecoderAttentionNorm: LayerNorm
    /// The position-wise network (never with padding removal, as in the reference).
    public var feedForward: FeedForward
    /// Normalization before the feed-forward network.
    public var feedForwardNorm: LayerNorm
    /// Dropout on each sublayer's output before the residual sum.
    public var selfAttentionDropout: Dropout, encoderDecoderDropout: Dropout, feedForwardDropout: Dropout
    /// Pre- or post-norm.
    let placement: TransformerArchitecture.Normalization

    init(_ c: TransformerConfiguration, site: UInt64, key: RandomKey) {
        selfAttention = c.attention(site: site, key: key.split(0))
        selfAttentionNorm = c.layerNorm()
        encoderDecoderAttention = c.attention(site: site + 1, key: key.split(1))
        encoderDecoderAttentionNorm = c.layerNorm()
        feedForward = c.feedForward(site: site + 2, key: key.split(2))
        feedForwardNorm = c.layerNorm()
        placement = c.architecture.normalization
        selfAttentionDropout = Dropout(rate: c.postprocessDropout, site: site + 3)
        encoderDecoderDropout = Dropout(rate: c.postprocessDropout, site: site + 4)
        feedForwardDropout = Dropout(rate: c.postprocessDropout, site: site + 5)
    }

    /// Visits both attentions, the feed-forward network and the three normalizations.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        try Self.visit(&selfAttention, prefix: "selfAttention", body)
        try Self.visit(&selfAttentionNorm, prefix: "selfAttentionNorm", body)
        try Self.visit(&encoderDecoderAttention, prefix: "encoderDecoderAttention", body)
        try Self.visit(&encoderDecoderAttentionNorm, prefix: "encoderDecoderAttentionNorm", body)
        try Self.visit(&feedForward, prefix: "feedForward", body)
        try Self.visit(&feedForwardNorm, prefix: "feedForwardNorm", body)
    }

    /// Applies the layer to x [B, T, H] given encoder outputs [B, S, H].
    ///
    /// - Parameters:
    ///   - cache: a preallocated (static-shape) cache: x then holds only the new positions,
    ///     whose keys and values self-attention writes at `cachePosition`. (Dynamic
    ///     incremental decoding uses ``decodeStep(_:selfAttentionBias:history:origins:transposedEncoderKeys:encoderValues:encoderDecoderBias:context:)``.)
    ///   - cachePosition: where the new positions go; required with `cache`.
    func callAsFunction(
        _ x: Tensor, encoderOutputs: Tensor, selfAttentionBias: Tensor, encoderDecoderBias: Tensor,
        context: ForwardContext, cache: inout AttentionCache?, cachePosition: Int? = nil
    ) -> Tensor {
        var attended = x
        attended = residual(attended, norm: selfAttentionNorm, dropout: selfAttentionDropout, placement: placement, context: context) { y in
            let input = AttentionInput(x: y, y: y, bias: selfAttentionBias)
            guard cache != nil else { return selfAttention(input, context: context) }
            precondition(cachePosition != nil, "DecoderLayer: a preallocated cache needs the position to write")
            return selfAttention(input, context: context, fixedCache: &cache!, position: cachePosition!)
        }
        attended = residual(
            attended, norm: encoderDecoderAttentionNorm, dropout: encoderDecoderDropout, placement: placement, context: context
        ) {
            y in
            encoderDecoderAttention(AttentionInput(x: y, y: encoderOutputs, bias: encoderDecoderBias), context: context)
        }
        return residual(
            attended, norm: feedForwardNorm, dropout: feedForwardDropout, placement: placement, context: context
        ) { y in
            feedForward(y, context: context)
        }
    }
}

extension DecoderLayer {
    /// One incremental decoding step of new positions x [rows, 1, H]: self-attention adds
    /// their keys and values to `history` (the position `origins` added last) and reads the
    /// earlier ones where they were decoded, and encoder-decoder attention reads keys and
    /// values projected once per batch (keys transposed, [E, H, S]; values [E, S, H]; each
    /// entry shared by rows / E consecutive rows).
    func decodeStep(
        _ x: Tensor, selfAttentionBias: Tensor, history: inout AttentionHistory, origins: RowOrigins,
        transposedEncoderKeys: Tensor, encoderValues: Tensor, encoderDecoderBias: Tensor, context: ForwardContext
    ) -> Tensor {
        var attended = residual(x, norm: selfAttentionNorm, dropout: selfAttentionDropout, placement: placement, context: context) { y in
            selfAttention(AttentionInput(x: y, y: y, bias: selfAttentionBias), context: context, history: &history, origins: origins)
        }
        attended = residual(
            attended, norm: encoderDecoderAttentionNorm, dropout: encoderDecoderDropout, placement: placement, context: context
        ) {
            y in
            encoderDecoderAttention(
                y, transposedKeys: transposedEncoderKeys, projectedValues: encoderValues, bias: encoderDecoderBias, context: context)
        }
        return residual(
            attended, norm: feedForwardNorm, dropout: feedForwardDropout, placement: placement, context: context
        ) { y in
            feedForward(y, context: context)
        }
    }
}

/// The decoder: a stack of ``DecoderLayer``s and, for pre-norm layers, a final layer
/// normalization.
public struct DecoderStack: ParameterContainer, Sendable {
    /// The layers, bottom first.
    public var layers: [DecoderLayer]
    /// Normalization of the stack's output (nil for post-norm layers, which end normalized).
    public var outputNorm: LayerNorm?

    init(_ c: TransformerConfiguration, key: RandomKey) {
        layers = (0..<c.decoderLayers).map { DecoderLayer(c, site: 2000 + UInt64($0) * 10, key: key.split(UInt64($0))) }
        outputNorm = c.architecture.normalization == .preNorm ? c.layerNorm() : nil
    }

    /// The stack's output: x normalized by ``outputNorm``, or x itself without one.
    func normalizedOutput(_ x: Tensor) -> Tensor { outputNorm.map { $0(x) } ?? x }

    /// Stands in a cache array while its layer's cache is out being updated.
    private static let placeholderCache = AttentionCache(batchSize: 0, hiddenSize: 0)

    /// Visits `layers.i.*` then `outputNorm.*` (when present).
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        for i in layers.indices { try Self.visit(&layers[i], prefix: "layers.\(i)", body) }
        if outputNorm != nil { try Self.visit(&outputNorm!, prefix: "outputNorm", body) }
    }

    /// Decodes x [B, T, H]; with preallocated `caches` (one per layer), x holds only new
    /// positions, written at `cachePosition`.
    func callAsFunction(
        _ x: Tensor, encoderOutputs: Tensor, selfAttentionBias: Tensor, encoderDecoderBias: Tensor,
        context: ForwardContext, caches: inout [AttentionCache]?, cachePosition: Int? = nil
    ) -> Tensor {
        var y = x
        for (i, layer) in layers.enumerated() {
            var cache = caches?[i]
            // Unshare the array's copy so that an in-place write does not copy the cache.
            caches?[i] = Self.placeholderCache
            y = layer(
                y, encoderOutputs: encoderOutputs, selfAttentionBias: selfAttentionBias,
                encoderDecoderBias: encoderDecoderBias, context: context, cache: &cache, cachePosition: cachePosition)
            if let cache { caches![i] = cache }
        }
        return normalizedOutput(y)
    }
}
