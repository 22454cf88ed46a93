import NMTLayers
import NMTTensor

/// The decoder state of a static-shape beam search (the reference's `padded_decode`):
/// every tensor keeps one shape for the whole search. Self-attention keys and values are
/// preallocated for the maximum decode length and written in place, one position per
/// step; attention reads all positions, with the causal bias hiding those not yet written.
///
/// The cache is one object that the search updates in place, as an accelerator's decode
/// buffers are: ``selectingRows(_:)`` reorders its rows and returns the same object, and
/// every reference to it sees the change (it is a class so that no copy can seem to keep
/// an older state). Reordering copies only the positions written so far, between two
/// preallocated buffers per cache tensor (the current one and a spare that are swapped),
/// instead of whole [rows, M, H] tensors: what lies past the written positions is never
/// seen, since the causal bias gives those positions an attention weight of exactly 0.
public final class StaticDecoderCache: BeamSearchCache {
    /// Self-attention cache of each decoder layer, [rows, maximum decode length, H].
    public internal(set) var layers: [AttentionCache]
    /// [rows, S, H], the same for every beam of a sentence.
    public private(set) var encoderOutputs: Tensor
    /// [rows, 1, 1, S].
    public private(set) var encoderDecoderBias: Tensor
    /// Positions written so far.
    public internal(set) var writtenPositions = 0
    /// Rows per sentence (the beam): selections that keep every row within its sentence
    /// leave the encoder outputs as they are.
    let rowsPerSentence: Int
    /// The buffers the next reordering writes into (same shapes as `layers`).
    private var spare: [AttentionCache]

    /// Creates a cache of zeroed key/value buffers for `rows` rows, `rowsPerSentence` of
    /// them per sentence, and `maximumDecodeLength` positions.
    init(encoderOutputs: Tensor, encoderDecoderBias: Tensor, rowsPerSentence: Int, layerCount: Int, maximumDecodeLength: Int) {
        let shape = [encoderOutputs.shape[0], maximumDecodeLength, encoderOutputs.shape[2]]
        func zeros() -> [AttentionCache] {
            (0..<layerCount).map { _ in AttentionCache(keys: Tensor.zeros(shape), values: Tensor.zeros(shape)) }
        }
        layers = zeros()
        spare = zeros()
        self.encoderOutputs = encoderOutputs
        self.encoderDecoderBias = encoderDecoderBias
        self.rowsPerSentence = rowsPerSentence
    }

    /// Reorders the rows as `rows` picks them (beam reordering), in place; shapes never
    /// change.
    ///
    /// - Returns: this cache.
    public func selectingRows(_ rows: IndexTensor) -> StaticDecoderCache {
        let selected = rows.scalars
        precondition(selected.count == encoderOutputs.shape[0], "StaticDecoderCache: a static cache keeps its row count")
        // The written prefix of each selected row, from the current buffers into the spare
        // ones (package access to the buffers: both belong to this cache alone).
        let (length, width) = (layers.first?.keys.shape[1] ?? 0, encoderOutputs.shape[2])
        let block = writtenPositions * width
        for (current, target) in zip(layers, spare) {
            for (source, destination) in [(current.keys, target.keys), (current.values, target.values)] {
                let from = source.buffer.pointer(as: Float.self), to = destination.buffer.pointer(as: Float.self)
                for (row, origin) in selected.enumerated() {
                    (to + row * length * width).update(from: from + Int(origin) * length * width, count: block)
                }
            }
        }
        swap(&layers, &spare)
        let withinSentences = selected.enumerated().allSatisfy { $0.offset / rowsPerSentence == Int($0.element) / rowsPerSentence }
        if !withinSentences {
            encoderOutputs = encoderOutputs.selectingRows(rows)
            encoderDecoderBias = encoderDecoderBias.selectingRows(rows)
        }
        return self
    }
}

extension Transformer {
    /// Encodes `inputs` and preallocates zeroed key/value caches of `maximumDecodeLength`
    /// positions, every row repeated `copies` times (the beam tiling).
    public func staticDecoderCache(
        for inputs: IndexTensor, copies: Int, maximumDecodeLength: Int, plan: ExecutionPlan
    ) -> StaticDecoderCache {
        let (outputs, bias) = encode(inputs, context: .inference(plan: plan))
        let tiled = IndexTensor((0..<(inputs.shape[0] * copies)).map { Int32($0 / copies) })
        return StaticDecoderCache(
            encoderOutputs: outputs.selectingRows(tiled), encoderDecoderBias: bias.selectingRows(tiled), rowsPerSentence: copies,
            layerCount: configuration.decoderLayers, maximumDecodeLength: maximumDecodeLength)
    }

    /// One static-shape decoding step: logits [rows, V] for the token after `lastIDs`
    /// [rows] at position `step`, whose keys and values are written into the cache in place.
    ///
    /// - Parameters:
    ///   - lastIDs: the previous token of each row [rows].
    ///   - step: their position.
    ///   - cache: the preallocated cache; position `step` is written in place.
    ///   - timingSignal: the positional encoding, with at least `step + 1` rows.
    ///   - causalBias: the decoder self-attention bias [1, 1, M, M] for the cache's M
    ///     positions (``ModelUtilities/decoderSelfAttentionBias(length:)``).
    ///   - plan: how the device computes (see `ExecutionPlan`).
    public func staticDecodeStep(
        _ lastIDs: IndexTensor, step: Int, cache: inout StaticDecoderCache, timingSignal: Tensor, causalBias: Tensor,
        plan: ExecutionPlan
    ) -> Tensor {
        let rows = lastIDs.scalarCount
        let context = ForwardContext.inference(plan: plan)
        let x = embedding(lastIDs.reshaped(to: [rows, 1]), context: context) + timingSignal.slice(alongAxis: 0, step..<(step + 1))
        // Moved out of the cache so the layers' caches are uniquely held and written in place.
        var caches: [AttentionCache]? = cache.layers
        cache.layers = []
        let outputs = decoder(
            x, encoderOutputs: cache.encoderOutputs, selfAttentionBias: causalBias.slice(alongAxis: 2, step..<(step + 1)),
            encoderDecoderBias: cache.encoderDecoderBias, context: context, caches: &caches, cachePosition: step)
        cache.layers = caches!
        cache.writtenPositions = step + 1
        return logits(outputs).reshaped(to: [rows, configuration.vocabularySize])
    }

    /// Translates source ids [B, S] with a static-shape beam search: the reference's search
    /// with `padded_decode`, preallocated key/value caches of `maximumDecodeLength`
    /// positions and no shape change during the loop, as an XLA device needs. It returns
    /// the translations of ``translate(_:options:sentenceIndices:plan:)`` with `search`
    /// and `extraDecodeLength = maximumDecodeLength - S` (scores equal up to float
    /// rounding: attention sums over more, masked, positions).
    ///
    /// - Parameters:
    ///   - inputs: source ids [B, S], 0-padded, each sentence ending in EOS.
    ///   - maximumDecodeLength: the decoding steps, and the caches' positions.
    ///   - search: the beams and α.
    ///   - plan: how the device computes (see `ExecutionPlan`; a device hands its own).
    public func translateStatic(
        _ inputs: IndexTensor, maximumDecodeLength: Int, search: BeamSearchStrategy, plan: ExecutionPlan
    ) -> DecodedBatch {
        let beam = search.beamSize
        let timing = positionTable(length: maximumDecodeLength + 1)
        let causalBias = ModelUtilities.decoderSelfAttentionBias(length: maximumDecodeLength)
        var beamSearch = BeamSearch(
            beamSize: beam, alpha: search.alpha, maximumLength: maximumDecodeLength,
            vocabularySize: configuration.vocabularySize)
        beamSearch.paddedDecode = true
        let cache = staticDecoderCache(for: inputs, copies: beam, maximumDecodeLength: maximumDecodeLength, plan: plan)
        let result = beamSearch.search(initialIDs: [Int32](repeating: 0, count: inputs.shape[0]), cache: cache) { ids, step, cache in
            staticDecodeStep(ids, step: step, cache: &cache, timingSignal: timing, causalBias: causalBias, plan: plan)
        }
        return DecodedBatch(
            sequences: result.sequences.map { Array($0[0].dropFirst()) }, scores: result.scores.map { $0[0] })
    }
}
