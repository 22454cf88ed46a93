import NMTLayers
import NMTTensor

/// The Transformer of the reference (`model/transformer.py`): a shared embedding, an
/// encoder stack and a decoder stack, pre-norm residual layers, sinusoidal positions.
///
/// Parameter names (for checkpoints and optimizers) are dotted paths from this type:
/// `embedding.weights`, `encoder.layers.0.selfAttention.query.kernel`,
/// `decoder.layers.5.feedForwardNorm.scale`, `decoder.outputNorm.bias`; see
/// Documentation/Model.md for the table mapping them to the reference's TF names.
public struct Transformer: ParameterContainer, Sendable {
    /// The validated configuration.
    public private(set) var configuration: TransformerConfiguration
    /// Token embedding, shared with the output projection.
    public var embedding: EmbeddingSharedWeights
    /// The encoder.
    public var encoder: EncoderStack
    /// The decoder.
    public var decoder: DecoderStack
    /// Dropout on the embedded, position-encoded encoder and decoder inputs.
    let encoderInputDropout: Dropout, decoderInputDropout: Dropout

    /// Builds a model with the reference initialization drawn from `key`.
    ///
    /// - Throws: ``ConfigurationError`` when the configuration is invalid.
    public init(configuration: TransformerConfiguration, key: RandomKey) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        embedding = EmbeddingSharedWeights(
            vocabularySize: configuration.vocabularySize, hiddenSize: configuration.hiddenSize, key: key.split(0))
        encoder = EncoderStack(configuration, key: key.split(1))
        decoder = DecoderStack(configuration, key: key.split(2))
        encoderInputDropout = Dropout(rate: configuration.postprocessDropout, site: 1)
        decoderInputDropout = Dropout(rate: configuration.postprocessDropout, site: 2)
    }

    /// Visits `embedding.*`, `encoder.*` and `decoder.*`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        try Self.visit(&embedding, prefix: "embedding", body)
        try Self.visit(&encoder, prefix: "encoder", body)
        try Self.visit(&decoder, prefix: "decoder", body)
    }

    /// Encodes source ids [B, S].
    ///
    /// - Returns: encoder outputs [B, S, H] and the padding bias [B, 1, 1, S] that
    ///   encoder-decoder attention uses.
    public func encode(_ inputs: IndexTensor, context: ForwardContext) -> (outputs: Tensor, attentionBias: Tensor) {
        let length = inputs.shape[1]
        let attentionBias = ModelUtilities.paddingBias(inputs)
        var x = embedding(inputs, context: context) + ModelUtilities.positionalEncoding(length: length, hiddenSize: configuration.hiddenSize)
        x = encoderInputDropout(x, context: context)
        let rows = context.plan.removesPadding ? FeedForward.nonPaddingRows(of: inputs) : nil
        return (encoder(x, attentionBias: attentionBias, nonPaddingRows: rows, context: context), attentionBias)
    }

    /// Teacher-forced decoding: logits [B, T, V] for target ids [B, T], each position
    /// seeing the targets before it (shifted right on the embeddings, so position 0 sees
    /// a zero vector, the embedding of the start id 0).
    public func decode(
        _ targets: IndexTensor, encoderOutputs: Tensor, attentionBias: Tensor, context: ForwardContext
    ) -> Tensor {
        let (batch, length, hidden) = (targets.shape[0], targets.shape[1], configuration.hiddenSize)
        let embedded = embedding(targets, context: context)
        let shifted = Tensor.concatenate(
            [Tensor.zeros([batch, 1, hidden]), embedded.slice(alongAxis: 1, 0..<(length - 1))], alongAxis: 1)
        var x = shifted + ModelUtilities.positionalEncoding(length: length, hiddenSize: hidden)
        x = decoderInputDropout(x, context: context)
        var noCaches: [AttentionCache]? = nil
        let outputs = decoder(
            x, encoderOutputs: encoderOutputs,
            selfAttentionBias: ModelUtilities.decoderSelfAttentionBias(length: length),
            encoderDecoderBias: attentionBias, context: context, caches: &noCaches)
        return embedding.linear(outputs)
    }

    /// Logits [B, T, V] for source ids [B, S] and target ids [B, T].
    ///
    /// - Precondition: ids are below the vocabulary size and T ≥ 1 (``TransformerBatch``
    ///   checks user data with a thrown error first).
    public func callAsFunction(inputs: IndexTensor, targets: IndexTensor, context: ForwardContext) -> Tensor {
        let (outputs, bias) = encode(inputs, context: context)
        return decode(targets, encoderOutputs: outputs, attentionBias: bias, context: context)
    }

    /// The training loss of a batch (label-smoothed, per non-padding target token).
    public func loss(inputs: IndexTensor, targets: IndexTensor, context: ForwardContext) -> Tensor {
        TransformerLoss.mean(
            logits: self(inputs: inputs, targets: targets, context: context), labels: targets,
            smoothing: configuration.labelSmoothing)
    }
}
