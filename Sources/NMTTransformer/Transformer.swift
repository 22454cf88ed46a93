import NMTLayers
import NMTTensor

/// The Transformer of the reference (`model/transformer.py`): a shared embedding, an
/// encoder stack and a decoder stack, pre-norm residual layers, sinusoidal positions;
/// or, with ``TransformerConfiguration/architecture`` set so, Marian's (post-norm,
/// biased projections, its own position table, optionally separate source and output
/// matrices and a logit bias).
///
/// Parameter names (for checkpoints and optimizers) are dotted paths from this type:
/// `embedding.weights`, `encoder.layers.0.selfAttention.query.kernel`,
/// `decoder.layers.5.feedForwardNorm.scale`, `decoder.outputNorm.bias`; see
/// Documentation/Model.md for the table mapping them to the reference's TF names.
public struct Transformer: ParameterContainer, Sendable {
    /// The validated configuration.
    public private(set) var configuration: TransformerConfiguration
    /// Token embedding of the target (and of the source unless ``sourceEmbedding`` is
    /// set), shared with the output projection unless ``outputProjection`` is set.
    public var embedding: EmbeddingSharedWeights
    /// The source's own embedding (`architecture.sourceVocabularySize` rows), or nil.
    public var sourceEmbedding: EmbeddingSharedWeights?
    /// An output projection of its own, [V, H], or nil when it is ``embedding``'s weights.
    public var outputProjection: Tensor?
    /// Added to the logits, [V] (Marian's `final_logits_bias`), or nil.
    public var outputBias: Tensor?
    /// The encoder.
    public var encoder: EncoderStack
    /// The decoder.
    public var decoder: DecoderStack
    /// The logits projection quantized for int8 inference (see ``int8Quantized()``), or nil.
    public internal(set) var int8Logits: Int8Matrix?
    /// Dropout on the embedded, position-encoded encoder and decoder inputs.
    let encoderInputDropout: Dropout, decoderInputDropout: Dropout
    /// Word dropout on the source and the (shifted) target token embeddings, before the
    /// positions are added (``TransformerConfiguration/wordDropout``).
    let sourceWordDropout: Dropout, targetWordDropout: Dropout

    /// Builds a model with the reference initialization drawn from `key`.
    ///
    /// - Throws: ``ConfigurationError`` when the configuration is invalid.
    public init(configuration: TransformerConfiguration, key: RandomKey) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        let architecture = configuration.architecture
        func table(_ rows: Int, _ key: RandomKey) -> EmbeddingSharedWeights {
            EmbeddingSharedWeights(
                vocabularySize: rows, hiddenSize: configuration.hiddenSize,
                scalesBySquareRootOfHidden: architecture.scalesEmbedding,
                zeroesPadding: architecture.zeroesPaddingEmbedding, key: key)
        }
        embedding = table(configuration.vocabularySize, key.split(0))
        sourceEmbedding = architecture.sourceVocabularySize.map { table($0, key.split(3)) }
        outputProjection = architecture.tiesOutputProjection ? nil : table(configuration.vocabularySize, key.split(4)).weights
        outputBias = architecture.outputBias ? Tensor.zeros([configuration.vocabularySize]) : nil
        encoder = EncoderStack(configuration, key: key.split(1))
        decoder = DecoderStack(configuration, key: key.split(2))
        encoderInputDropout = Dropout(rate: configuration.postprocessDropout, site: 1)
        decoderInputDropout = Dropout(rate: configuration.postprocessDropout, site: 2)
        sourceWordDropout = Dropout(rate: configuration.wordDropout, site: 3)
        targetWordDropout = Dropout(rate: configuration.wordDropout, site: 4)
    }

    /// Visits `embedding.*`, `encoder.*` and `decoder.*`, then, where the architecture
    /// has them, `sourceEmbedding.weights`, `outputProjection` and `outputBias`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        // A visitor may change the weights the quantized copies stand for.
        int8Logits = nil
        try Self.visit(&embedding, prefix: "embedding", body)
        try Self.visit(&encoder, prefix: "encoder", body)
        try Self.visit(&decoder, prefix: "decoder", body)
        if sourceEmbedding != nil { try Self.visit(&sourceEmbedding!, prefix: "sourceEmbedding", body) }
        if outputProjection != nil { try body("outputProjection", &outputProjection!) }
        if outputBias != nil { try body("outputBias", &outputBias!) }
    }

    /// The position table added to the embeddings, [length, H], of the architecture's kind.
    public func positionTable(length: Int) -> Tensor {
        switch configuration.architecture.positionTable {
        case .reference: return ModelUtilities.positionalEncoding(length: length, hiddenSize: configuration.hiddenSize)
        case .marian: return ModelUtilities.marianPositionTable(length: length, hiddenSize: configuration.hiddenSize)
        }
    }

    /// Logits [..., V] of decoder outputs [..., H] (after the stack's final norm): the
    /// output projection (the embedding's weights when tied), plus the output bias, added
    /// inside the product (`Tensor.matmul(_:_:transposeB:addingRow:)`).
    public func logits(_ outputs: Tensor) -> Tensor {
        if let int8Logits { return Tensor.matmul(outputs, int8: int8Logits, addingRow: outputBias) }
        guard let outputBias else {
            return outputProjection.map { Tensor.matmul(outputs, $0, transposeB: true) } ?? embedding.linear(outputs)
        }
        let weights = outputProjection ?? embedding.weights
        let rows = outputs.shape.dropLast().reduce(1, *)
        return Tensor.matmul(
            outputs.reshaped(to: [rows, configuration.hiddenSize]), weights, transposeB: true, addingRow: outputBias
        ).reshaped(to: outputs.shape.dropLast() + [configuration.vocabularySize])
    }

    /// Encodes source ids [B, S].
    ///
    /// - Returns: encoder outputs [B, S, H] and the padding bias [B, 1, 1, S] that
    ///   encoder-decoder attention uses.
    public func encode(_ inputs: IndexTensor, context: ForwardContext) -> (outputs: Tensor, attentionBias: Tensor) {
        let length = inputs.shape[1]
        let attentionBias = ModelUtilities.paddingBias(inputs)
        let embedded = sourceWordDropout.wholeVectors((sourceEmbedding ?? embedding)(inputs, context: context), context: context)
        let x = encoderInputDropout(embedded + positionTable(length: length), context: context)
        let rows = context.plan.removesPadding ? FeedForward.nonPaddingRows(of: inputs) : nil
        return (encoder(x, attentionBias: attentionBias, nonPaddingRows: rows, context: context), attentionBias)
    }

    /// Teacher-forced decoding: logits [B, T, V] for target ids [B, T], each position
    /// seeing the targets before it (shifted right on the embeddings, so position 0 sees
    /// the embedding of the start id 0: a zero vector in the reference, padding's row in
    /// Marian).
    public func decode(
        _ targets: IndexTensor, encoderOutputs: Tensor, attentionBias: Tensor, context: ForwardContext
    ) -> Tensor {
        logits(decoderOutputs(targets, encoderOutputs: encoderOutputs, attentionBias: attentionBias, context: context))
    }

    /// Teacher-forced decoder outputs [B, T, H] before the output projection (see
    /// ``decode(_:encoderOutputs:attentionBias:context:)``).
    func decoderOutputs(
        _ targets: IndexTensor, encoderOutputs: Tensor, attentionBias: Tensor, context: ForwardContext
    ) -> Tensor {
        let (batch, length, hidden) = (targets.shape[0], targets.shape[1], configuration.hiddenSize)
        let embedded = embedding(targets, context: context)
        let start =
            configuration.architecture.zeroesPaddingEmbedding
            ? Tensor.zeros([batch, 1, hidden])
            : embedding(IndexTensor(shape: [batch, 1], scalars: [Int32](repeating: 0, count: batch)), context: context)
        let shifted = Tensor.concatenate([start, embedded.slice(alongAxis: 1, 0..<(length - 1))], alongAxis: 1)
        let x = decoderInputDropout(
            targetWordDropout.wholeVectors(shifted, context: context) + positionTable(length: length), context: context)
        var noCaches: [AttentionCache]? = nil
        return decoder(
            x, encoderOutputs: encoderOutputs,
            selfAttentionBias: ModelUtilities.decoderSelfAttentionBias(length: length),
            encoderDecoderBias: attentionBias, context: context, caches: &noCaches)
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
    ///
    /// Without an output bias (every model of this package; Marian's has one) the output
    /// layer and the loss run as one op that never writes the logits' gradient
    /// (``TransformerLoss/mean(hidden:outputWeights:labels:smoothing:)``).
    public func loss(inputs: IndexTensor, targets: IndexTensor, context: ForwardContext) -> Tensor {
        guard outputBias == nil, int8Logits == nil else {
            return TransformerLoss.mean(
                logits: self(inputs: inputs, targets: targets, context: context), labels: targets,
                smoothing: configuration.labelSmoothing)
        }
        let (outputs, bias) = encode(inputs, context: context)
        return TransformerLoss.mean(
            hidden: decoderOutputs(targets, encoderOutputs: outputs, attentionBias: bias, context: context),
            outputWeights: outputProjection ?? embedding.weights, labels: targets, smoothing: configuration.labelSmoothing)
    }
}
