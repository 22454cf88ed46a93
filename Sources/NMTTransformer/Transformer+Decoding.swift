import NMTLayers
import NMTTensor

/// What incremental decoding keeps between steps, one row per sentence (or per beam):
/// each decoder layer's self-attention keys and values, the encoder outputs and the
/// encoder-decoder bias. Encoder-decoder keys and values are recomputed every step, as in
/// the reference.
public struct DecoderCache: BeamSearchCache, Sendable {
    /// Self-attention cache of each decoder layer, [rows, i, H].
    public var layers: [AttentionCache]
    /// [rows, S, H].
    public var encoderOutputs: Tensor
    /// [rows, 1, 1, S].
    public var encoderDecoderBias: Tensor

    /// Creates a cache from its parts.
    public init(layers: [AttentionCache], encoderOutputs: Tensor, encoderDecoderBias: Tensor) {
        self.layers = layers
        self.encoderOutputs = encoderOutputs
        self.encoderDecoderBias = encoderDecoderBias
    }

    /// The cache with its rows picked by `rows` (beam reordering or tiling).
    public func selectingRows(_ rows: IndexTensor) -> DecoderCache {
        DecoderCache(
            layers: layers.map { AttentionCache(keys: $0.keys.selectingRows(rows), values: $0.values.selectingRows(rows)) },
            encoderOutputs: encoderOutputs.selectingRows(rows), encoderDecoderBias: encoderDecoderBias.selectingRows(rows))
    }
}

/// Translations of a batch: the best sequence of each sentence and its score.
public struct DecodedBatch: Sendable {
    /// Per sentence, the decoded ids without the start id, as the reference's `outputs`
    /// (they may contain EOS followed by padding; see ``trimmedAtEOS``).
    public var sequences: [[Int32]]
    /// Per sentence, the length-normalized score (or raw log probability when no beam
    /// finished).
    public var scores: [Float]

    /// Each sequence cut before its first EOS (id 1), as translate.py does.
    public var trimmedAtEOS: [[Int32]] {
        sequences.map { sequence in Array(sequence.prefix { $0 != 1 }) }
    }
}

extension Transformer {
    /// Encodes `inputs` and prepares an empty decoder cache with every row repeated
    /// `copies` times (the beam tiling of the reference).
    public func decoderCache(for inputs: IndexTensor, copies: Int, plan: ExecutionPlan = .dynamicShapes) -> DecoderCache {
        let (outputs, bias) = encode(inputs, context: .inference(plan: plan))
        let rows = inputs.shape[0]
        let empty = DecoderCache(
            layers: (0..<configuration.layerCount).map { _ in AttentionCache(batchSize: rows, hiddenSize: configuration.hiddenSize) },
            encoderOutputs: outputs, encoderDecoderBias: bias)
        return empty.selectingRows(IndexTensor((0..<rows * copies).map { Int32($0 / copies) }))
    }

    /// One incremental decoding step: logits [rows, V] for the next token after `lastIDs`
    /// [rows], which sit at position `step`; appends their keys and values to the cache.
    ///
    /// - Parameters:
    ///   - lastIDs: the previous token of each row [rows].
    ///   - step: their position.
    ///   - cache: the encoder outputs and the keys and values so far; extended in place.
    ///   - timingSignal: the positional encoding, with at least `step + 1` rows.
    ///   - plan: how the device computes (see `ExecutionPlan`).
    public func decodeStep(
        _ lastIDs: IndexTensor, step: Int, cache: inout DecoderCache, timingSignal: Tensor,
        plan: ExecutionPlan = .dynamicShapes
    ) -> Tensor {
        let rows = lastIDs.scalarCount
        let context = ForwardContext.inference(plan: plan)
        let embedded = embedding(lastIDs.reshaped(to: [rows, 1]), context: context)
        let x = embedded + timingSignal.slice(alongAxis: 0, step..<(step + 1))
        var caches: [AttentionCache]? = cache.layers
        let outputs = decoder(
            x, encoderOutputs: cache.encoderOutputs, selfAttentionBias: Tensor.zeros([1, 1, 1, step + 1]),
            encoderDecoderBias: cache.encoderDecoderBias, context: context, caches: &caches)
        cache.layers = caches!
        return embedding.linear(outputs).reshaped(to: [rows, configuration.vocabularySize])
    }

    /// Translates source ids [B, S] with the reference beam search.
    ///
    /// - Parameters:
    ///   - inputs: source ids [B, S], 0-padded, each sentence ending in EOS.
    ///   - beamSize: beams (default: the configuration's, 4).
    ///   - alpha: length-normalization exponent (default 0.6).
    ///   - extraDecodeLength: decoding stops after S + this many tokens (default 50; the
    ///     reference's translate.py uses 100).
    ///   - plan: how the device computes (see `ExecutionPlan`).
    public func translate(
        _ inputs: IndexTensor, beamSize: Int? = nil, alpha: Float? = nil, extraDecodeLength: Int? = nil,
        plan: ExecutionPlan = .dynamicShapes
    ) -> DecodedBatch {
        let beam = beamSize ?? configuration.beamSize
        let maximumLength = inputs.shape[1] + (extraDecodeLength ?? configuration.extraDecodeLength)
        let timing = ModelUtilities.positionalEncoding(length: maximumLength + 1, hiddenSize: configuration.hiddenSize)
        let search = BeamSearch(
            beamSize: beam, alpha: alpha ?? configuration.alpha, maximumLength: maximumLength,
            vocabularySize: configuration.vocabularySize)
        let result = search.search(
            initialIDs: [Int32](repeating: 0, count: inputs.shape[0]), cache: decoderCache(for: inputs, copies: beam, plan: plan)
        ) { ids, step, cache in
            decodeStep(ids, step: step, cache: &cache, timingSignal: timing, plan: plan)
        }
        return DecodedBatch(
            sequences: result.sequences.map { Array($0[0].dropFirst()) }, scores: result.scores.map { $0[0] })
    }

    /// Translates source ids [B, S] greedily: the most probable token at every step, until
    /// every sentence has produced EOS or S + `extraDecodeLength` tokens.
    ///
    /// - Returns: sequences (ids after the start id, up to and including EOS) and the sum
    ///   of their tokens' log probabilities.
    public func greedyDecode(
        _ inputs: IndexTensor, extraDecodeLength: Int? = nil, plan: ExecutionPlan = .dynamicShapes
    ) -> DecodedBatch {
        let batch = inputs.shape[0]
        let maximumLength = inputs.shape[1] + (extraDecodeLength ?? configuration.extraDecodeLength)
        let timing = ModelUtilities.positionalEncoding(length: maximumLength + 1, hiddenSize: configuration.hiddenSize)
        var cache = decoderCache(for: inputs, copies: 1, plan: plan)
        var sequences = [[Int32]](repeating: [], count: batch)
        var scores = [Float](repeating: 0, count: batch)
        var finished = [Bool](repeating: false, count: batch)
        var last = [Int32](repeating: 0, count: batch)
        for step in 0..<maximumLength where finished.contains(false) {
            let logProbs = decodeStep(IndexTensor(last), step: step, cache: &cache, timingSignal: timing, plan: plan)
                .logSoftmax()
            let (best, ids) = logProbs.topK(1)
            let values = best.scalars, chosen = ids.scalars
            for b in 0..<batch where !finished[b] {
                sequences[b].append(chosen[b])
                scores[b] += values[b]
                finished[b] = chosen[b] == 1
            }
            last = chosen
        }
        return DecodedBatch(sequences: sequences, scores: scores)
    }
}
