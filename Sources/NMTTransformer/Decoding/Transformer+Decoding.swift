import NMTLayers
import NMTTensor

/// What incremental decoding keeps between steps, one row per beam of each sentence:
/// each decoder layer's self-attention keys and values, and its encoder-decoder keys and
/// values, projected once per batch and kept once per sentence (the reference projects
/// them from tiled encoder outputs at every step; the floats are the same).
///
/// Reordering the beams (``selectingRows(_:)``) copies no keys or values: each position's
/// self-attention keys and values stay where they were decoded (`AttentionHistory`), and
/// the selection is composed into ``origins``, which says where each row's are. (A cache
/// of [rows, positions, H] copied all of it at every step: about 7 % of a beam search of the
/// main job's model.) Encoder-side tensors are shared by the beams of a sentence and
/// follow only when whole sentences leave or are reordered.
public struct DecoderCache: BeamSearchCache, Sendable {
    /// Self-attention keys and values of each decoder layer, one [rows, H] tensor per
    /// position as it was decoded.
    public private(set) var selfAttention: [AttentionHistory]
    /// Which row of each position's keys and values every row reads, as of the last step
    /// (``pendingRows`` not yet applied).
    public private(set) var origins: RowOrigins
    /// Encoder-decoder attention keys of each decoder layer, transposed once per batch:
    /// [sentences, H, S] (every step's scores then read them along whole rows).
    public private(set) var transposedEncoderKeys: [Tensor]
    /// Encoder-decoder attention values of each decoder layer, [sentences, S, H].
    public private(set) var encoderValues: [Tensor]
    /// [sentences, 1, 1, S].
    public private(set) var encoderDecoderBias: Tensor
    /// Consecutive rows that share a sentence (the beam; 1 once a selection mixed sentences).
    public private(set) var rowsPerSentence: Int
    /// The row selection made since the last step: row r is row `pendingRows[r]` of
    /// ``origins``. Nil when the rows are as they were.
    public private(set) var pendingRows: [Int32]?
    /// The model's logits projection packed once for the batch's steps, or nil when the
    /// steps use BLAS (see ``Transformer/packedOutputWeights()``).
    public let outputWeights: PackedMatrix?

    /// A cache with empty self-attention keys and values for `rowsPerSentence` rows per
    /// sentence of the encoder-side tensors (keys and values [sentences, S, H]; the keys
    /// are kept transposed), and the packed logits projection, if any.
    public init(
        encoderKeys: [Tensor], encoderValues: [Tensor], encoderDecoderBias: Tensor, rowsPerSentence: Int,
        outputWeights: PackedMatrix? = nil
    ) {
        precondition(
            encoderKeys.count == encoderValues.count && rowsPerSentence > 0 && encoderKeys.allSatisfy { $0.rank == 3 },
            "DecoderCache: one [sentences, S, H] key and value tensor per layer and a positive beam are needed")
        selfAttention = encoderKeys.map { _ in AttentionHistory() }
        origins = RowOrigins(rowCount: encoderDecoderBias.shape[0] * rowsPerSentence)
        transposedEncoderKeys = encoderKeys.map { $0.permuted([0, 2, 1]) }
        self.encoderValues = encoderValues
        self.encoderDecoderBias = encoderDecoderBias
        self.rowsPerSentence = rowsPerSentence
        self.outputWeights = outputWeights
    }

    /// Rows the next step decodes.
    public var rowCount: Int { pendingRows?.count ?? origins.rowCount }

    /// The cache with its rows picked by `rows` (beam reordering, sentences leaving the
    /// batch). Nothing is copied until the next step, except encoder-side tensors when
    /// whole sentences leave or move.
    public func selectingRows(_ rows: IndexTensor) -> DecoderCache {
        let picked = rows.scalars
        let current = rowCount
        precondition(picked.allSatisfy { $0 >= 0 && Int($0) < current }, "DecoderCache: row selection outside 0..<\(current)")
        var result = self
        result.pendingRows = pendingRows.map { earlier in picked.map { earlier[Int($0)] } } ?? picked
        let beam = rowsPerSentence
        let sentenceOf = picked.map { Int($0) / beam }
        let grouped =
            picked.count % beam == 0 && (0..<picked.count).allSatisfy { sentenceOf[$0] == sentenceOf[$0 - $0 % beam] }
        let sentences = grouped ? stride(from: 0, to: picked.count, by: beam).map { sentenceOf[$0] } : sentenceOf
        if sentences != Array(0..<encoderDecoderBias.shape[0]) {
            // Whole sentences left or moved (keep one entry per group), or a selection mixed
            // sentences (one entry per row from now on).
            let selection = IndexTensor(sentences.map(Int32.init))
            result.transposedEncoderKeys = transposedEncoderKeys.map { $0.selectingRows(selection) }
            result.encoderValues = encoderValues.map { $0.selectingRows(selection) }
            result.encoderDecoderBias = encoderDecoderBias.selectingRows(selection)
            if !grouped { result.rowsPerSentence = 1 }
        }
        return result
    }

    /// Runs one step's layers: applies the pending selection to ``origins`` and adds the
    /// step's position, then gives `body` each layer's history to extend.
    mutating func step(_ body: (_ layer: Int, _ history: inout AttentionHistory, _ origins: RowOrigins) -> Void) {
        origins.advance(selecting: pendingRows)
        pendingRows = nil
        for i in selfAttention.indices {
            var history = selfAttention[i]
            // Unshare the array's copy so that the layer's history has one owner.
            selfAttention[i] = AttentionHistory()
            body(i, &history, origins)
            selfAttention[i] = history
        }
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

    /// Creates a result (a ``DecodingStrategy`` returns one per batch).
    ///
    /// - Parameters:
    ///   - sequences: per sentence, the ids after the start id.
    ///   - scores: per sentence, the strategy's score.
    public init(sequences: [[Int32]], scores: [Float]) {
        precondition(sequences.count == scores.count, "DecodedBatch: \(sequences.count) sequences, \(scores.count) scores")
        self.sequences = sequences
        self.scores = scores
    }

    /// Each sequence cut before its first EOS (id 1), as translate.py does.
    public var trimmedAtEOS: [[Int32]] {
        sequences.map { sequence in Array(sequence.prefix { $0 != 1 }) }
    }
}

extension Transformer {
    /// The widest hidden size whose decoding steps use a `PackedMatrix` for the logits.
    ///
    /// Up to it, BLAS's per-call packing and zeroing cost nearly as much as its arithmetic
    /// (17 against 22 % of a beam-search run at hidden 64), and the packed product's floats
    /// were OpenBLAS's own, bit for bit, on the CPU checked (AMD EPYC, Cooperlake kernels),
    /// so translations did not change. Wider models keep BLAS, whose blocked product sums
    /// the depth in parts and so rounds differently.
    public static let packedLogitsMaximumHiddenSize = 256

    /// The logits projection packed for decoding steps, or nil where they keep the plain
    /// product: int8 logits, or a hidden size above ``packedLogitsMaximumHiddenSize``.
    public func packedOutputWeights() -> PackedMatrix? {
        guard int8Logits == nil, configuration.hiddenSize <= Self.packedLogitsMaximumHiddenSize else { return nil }
        return PackedMatrix(transposing: outputProjection ?? embedding.weights)
    }

    /// Encodes `inputs` and prepares an empty decoder cache for `copies` rows (beams) per
    /// sentence, with every layer's encoder-decoder keys and values projected once and the
    /// logits projection packed once (``packedOutputWeights()``).
    public func decoderCache(for inputs: IndexTensor, copies: Int, plan: ExecutionPlan) -> DecoderCache {
        let (outputs, bias) = encode(inputs, context: .inference(plan: plan))
        let attentions = decoder.layers.map(\.encoderDecoderAttention)
        return DecoderCache(
            encoderKeys: attentions.map { $0.key(outputs) }, encoderValues: attentions.map { $0.value(outputs) },
            encoderDecoderBias: bias, rowsPerSentence: copies, outputWeights: packedOutputWeights())
    }

    /// One incremental decoding step: logits [rows, V] for the next token after `lastIDs`
    /// [rows], which sit at position `step`; appends their keys and values to the cache
    /// (after applying its pending row selection).
    ///
    /// - Parameters:
    ///   - lastIDs: the previous token of each row [rows] (``DecoderCache/rowCount`` rows).
    ///   - step: their position.
    ///   - cache: the encoder-side keys and values and the self-attention keys and values so
    ///     far; extended in place.
    ///   - timingSignal: the positional encoding, with at least `step + 1` rows.
    ///   - plan: how the device computes (see `ExecutionPlan`).
    public func decodeStep(
        _ lastIDs: IndexTensor, step: Int, cache: inout DecoderCache, timingSignal: Tensor, plan: ExecutionPlan
    ) -> Tensor {
        let rows = lastIDs.scalarCount
        precondition(rows == cache.rowCount, "decodeStep: \(rows) ids for a cache of \(cache.rowCount) rows")
        let context = ForwardContext.inference(plan: plan)
        let embedded = embedding(lastIDs.reshaped(to: [rows, 1]), context: context)
        var y = embedded + timingSignal.slice(alongAxis: 0, step..<(step + 1))
        let selfAttentionBias = Tensor.zeros([1, 1, 1, step + 1])
        let (keys, values, bias) = (cache.transposedEncoderKeys, cache.encoderValues, cache.encoderDecoderBias)
        cache.step { i, history, origins in
            y = decoder.layers[i].decodeStep(
                y, selfAttentionBias: selfAttentionBias, history: &history, origins: origins,
                transposedEncoderKeys: keys[i], encoderValues: values[i], encoderDecoderBias: bias, context: context)
        }
        let normalized = decoder.normalizedOutput(y)
        guard let packed = cache.outputWeights else { return logits(normalized).reshaped(to: [rows, configuration.vocabularySize]) }
        return Tensor.matmul(normalized.reshaped(to: [rows, configuration.hiddenSize]), packed: packed, addingRow: outputBias)
    }
}
