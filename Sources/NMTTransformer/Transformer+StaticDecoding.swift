import NMTLayers
import NMTTensor

/// The decoder state of a static-shape beam search (the reference's `padded_decode`):
/// every tensor keeps one shape for the whole search. Self-attention keys and values are
/// preallocated for the maximum decode length and written in place, one position per
/// step; attention reads all positions, with the causal bias hiding those not yet written.
public struct StaticDecoderCache: BeamSearchCache, Sendable {
    /// Self-attention cache of each decoder layer, [rows, maximum decode length, H].
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

    /// The cache with its rows picked by `rows` (beam reordering or tiling); shapes other
    /// than the row count never change.
    public func selectingRows(_ rows: IndexTensor) -> StaticDecoderCache {
        func pick(_ t: Tensor) -> Tensor {
            let rest = Array(t.shape.dropFirst())
            return t.reshaped(to: [t.shape[0], rest.reduce(1, *)]).gathering(rows: rows).reshaped(to: [rows.scalarCount] + rest)
        }
        return StaticDecoderCache(
            layers: layers.map { AttentionCache(keys: pick($0.keys), values: pick($0.values)) },
            encoderOutputs: pick(encoderOutputs), encoderDecoderBias: pick(encoderDecoderBias))
    }
}

extension Transformer {
    /// Encodes `inputs` and preallocates zeroed key/value caches of `maximumDecodeLength`
    /// positions, every row repeated `copies` times (the beam tiling).
    public func staticDecoderCache(for inputs: IndexTensor, copies: Int, maximumDecodeLength: Int) -> StaticDecoderCache {
        let (outputs, bias) = encode(inputs, context: .inference)
        let rows = inputs.shape[0] * copies
        let tiled = IndexTensor((0..<rows).map { Int32($0 / copies) })
        let shape = [rows, maximumDecodeLength, configuration.hiddenSize]
        var cache = StaticDecoderCache(layers: [], encoderOutputs: outputs, encoderDecoderBias: bias).selectingRows(tiled)
        cache.layers = (0..<configuration.layerCount).map { _ in AttentionCache(keys: Tensor.zeros(shape), values: Tensor.zeros(shape)) }
        return cache
    }

    /// One static-shape decoding step: logits [rows, V] for the token after `lastIDs`
    /// [rows] at position `step`, whose keys and values are written into the cache in place.
    ///
    /// - Parameters:
    ///   - timingSignal: the positional encoding, with at least `step + 1` rows.
    ///   - causalBias: the decoder self-attention bias [1, 1, M, M] for the cache's M
    ///     positions (``ModelUtilities/decoderSelfAttentionBias(length:)``).
    public func staticDecodeStep(
        _ lastIDs: IndexTensor, step: Int, cache: inout StaticDecoderCache, timingSignal: Tensor, causalBias: Tensor
    ) -> Tensor {
        let rows = lastIDs.scalarCount
        let x = embedding(lastIDs.reshaped(to: [rows, 1])) + timingSignal.slice(alongAxis: 0, step..<(step + 1))
        // Moved out of the cache so the layers' caches are uniquely held and written in place.
        var caches: [AttentionCache]? = cache.layers
        cache.layers = []
        let outputs = decoder(
            x, encoderOutputs: cache.encoderOutputs, selfAttentionBias: causalBias.slice(alongAxis: 2, step..<(step + 1)),
            encoderDecoderBias: cache.encoderDecoderBias, context: .inference, caches: &caches, cachePosition: step)
        cache.layers = caches!
        return embedding.linear(outputs).reshaped(to: [rows, configuration.vocabularySize])
    }

    /// Translates source ids [B, S] with a static-shape beam search: the reference's search
    /// with `padded_decode`, preallocated key/value caches of `maximumDecodeLength`
    /// positions and no shape change during the loop, as an XLA device needs. It returns
    /// the translations of ``translate(_:beamSize:alpha:extraDecodeLength:)`` with
    /// `extraDecodeLength = maximumDecodeLength - S` (scores equal up to float rounding:
    /// attention sums over more, masked, positions).
    public func translateStatic(
        _ inputs: IndexTensor, maximumDecodeLength: Int, beamSize: Int? = nil, alpha: Float? = nil
    ) -> DecodedBatch {
        let beam = beamSize ?? configuration.beamSize
        let timing = ModelUtilities.positionalEncoding(length: maximumDecodeLength + 1, hiddenSize: configuration.hiddenSize)
        let causalBias = ModelUtilities.decoderSelfAttentionBias(length: maximumDecodeLength)
        var search = BeamSearch(
            beamSize: beam, alpha: alpha ?? configuration.alpha, maximumLength: maximumDecodeLength,
            vocabularySize: configuration.vocabularySize)
        search.paddedDecode = true
        let cache = staticDecoderCache(for: inputs, copies: beam, maximumDecodeLength: maximumDecodeLength)
        let result = search.search(initialIDs: [Int32](repeating: 0, count: inputs.shape[0]), cache: cache) { ids, step, cache in
            staticDecodeStep(ids, step: step, cache: &cache, timingSignal: timing, causalBias: causalBias)
        }
        return DecodedBatch(
            sequences: result.sequences.map { Array($0[0].dropFirst()) }, scores: result.scores.map { $0[0] })
    }
}
