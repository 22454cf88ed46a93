import NMTLayers
import NMTTensor

/// One residual step: pre-norm, the reference's `PrePostProcessingWrapper`,
/// `x + dropout(sublayer(layerNorm(x)))`, or post-norm (Marian),
/// `layerNorm(x + dropout(sublayer(x)))`.
@inline(__always)
func residual(
    _ x: Tensor, norm: LayerNorm, dropout: Dropout, placement: TransformerArchitecture.Normalization,
    context: ForwardContext, _ sublayer: (Tensor) -> Tensor
) -> Tensor {
    switch placement {
    case .preNorm: return dropout.residualSum(x, sublayer(norm(x)), context: context)
    case .postNorm: return norm(dropout.residualSum(x, sublayer(x), context: context))
    }
}

extension TransformerConfiguration {
    /// A normalization layer of the architecture's epsilon.
    func layerNorm() -> LayerNorm { LayerNorm(size: hiddenSize, epsilon: architecture.layerNormEpsilon) }

    /// An attention layer of this configuration.
    func attention(site: UInt64, key: RandomKey) -> MultiHeadAttention {
        MultiHeadAttention(
            hiddenSize: hiddenSize, headCount: headCount, dropoutRate: attentionDropout, dropoutSite: site,
            biases: architecture.attentionBiases, key: key)
    }

    /// A feed-forward network of this configuration.
    func feedForward(site: UInt64, key: RandomKey) -> FeedForward {
        FeedForward(
            hiddenSize: hiddenSize, filterSize: filterSize, dropoutRate: reluDropout, dropoutSite: site,
            activation: architecture.activation, key: key)
    }
}

/// One encoder layer: self-attention, then the feed-forward network, each wrapped in a
/// residual step (pre-norm in the reference, post-norm in Marian).
public struct EncoderLayer: ParameterContainer, Sendable {
    /// Self-attention over the source.
    public var selfAttention: MultiHeadAttention
    /// Normalization before self-attention.
    public var selfAttentionNorm: LayerNorm
    /// The position-wise network.
    public var feedForward: FeedForward
    /// Normalization before the feed-forward network.
    public var feedForwardNorm: LayerNorm
    /// Dropout on each sublayer's output before the residual sum.
    public var selfAttentionDropout: Dropout, feedForwardDropout: Dropout
    /// Pre- or post-norm.
    let placement: TransformerArchitecture.Normalization

    /// Creates layer `index` of the encoder; dropout sites are numbered from `site`.
    init(_ c: TransformerConfiguration, site: UInt64, key: RandomKey) {
        selfAttention = c.attention(site: site, key: key.split(0))
        selfAttentionNorm = c.layerNorm()
        feedForward = c.feedForward(site: site + 1, key: key.split(1))
        feedForwardNorm = c.layerNorm()
        placement = c.architecture.normalization
        selfAttentionDropout = Dropout(rate: c.postprocessDropout, site: site + 2)
        feedForwardDropout = Dropout(rate: c.postprocessDropout, site: site + 3)
    }

    /// Visits the attention, feed-forward and normalization parameters.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        try Self.visit(&selfAttention, prefix: "selfAttention", body)
        try Self.visit(&selfAttentionNorm, prefix: "selfAttentionNorm", body)
        try Self.visit(&feedForward, prefix: "feedForward", body)
        try Self.visit(&feedForwardNorm, prefix: "feedForwardNorm", body)
    }

    /// Applies the layer to x [B, S, H].
    ///
    /// - Parameters:
    ///   - attentionBias: [B, 1, 1, S] padding bias.
    ///   - nonPaddingRows: when given, the feed-forward network runs on these rows only.
    func callAsFunction(
        _ x: Tensor, attentionBias: Tensor, nonPaddingRows: IndexTensor?, context: ForwardContext
    ) -> Tensor {
        let attended = residual(
            x, norm: selfAttentionNorm, dropout: selfAttentionDropout, placement: placement, context: context
        ) { y in
            selfAttention(AttentionInput(x: y, y: y, bias: attentionBias), context: context)
        }
        return residual(
            attended, norm: feedForwardNorm, dropout: feedForwardDropout, placement: placement, context: context
        ) { y in
            if let nonPaddingRows { return feedForward(y, nonPaddingRows: nonPaddingRows, context: context) }
            return feedForward(y, context: context)
        }
    }
}

/// The encoder: a stack of ``EncoderLayer``s and, for pre-norm layers, a final layer
/// normalization.
public struct EncoderStack: ParameterContainer, Sendable {
    /// The layers, bottom first.
    public var layers: [EncoderLayer]
    /// Normalization of the stack's output (nil for post-norm layers, which end normalized).
    public var outputNorm: LayerNorm?

    init(_ c: TransformerConfiguration, key: RandomKey) {
        layers = (0..<c.layerCount).map { EncoderLayer(c, site: 1000 + UInt64($0) * 10, key: key.split(UInt64($0))) }
        outputNorm = c.architecture.normalization == .preNorm ? c.layerNorm() : nil
    }

    /// Visits `layers.i.*` then `outputNorm.*` (when present).
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        for i in layers.indices { try Self.visit(&layers[i], prefix: "layers.\(i)", body) }
        if outputNorm != nil { try Self.visit(&outputNorm!, prefix: "outputNorm", body) }
    }

    /// Encodes x [B, S, H] (embedded, position-encoded inputs).
    func callAsFunction(
        _ x: Tensor, attentionBias: Tensor, nonPaddingRows: IndexTensor?, context: ForwardContext
    ) -> Tensor {
        var y = x
        for layer in layers {
            y = layer(y, attentionBias: attentionBias, nonPaddingRows: nonPaddingRows, context: context)
        }
        return outputNorm.map { $0(y) } ?? y
    }
}
