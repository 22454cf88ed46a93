import Foundation
import NMTTensor

/// Keys and values of the positions decoded so far, per attention layer, kept before
/// the head split as the reference does ([B, i, H]).
public struct AttentionCache: Sendable {
    /// [B, i, H].
    public var keys: Tensor
    /// [B, i, H].
    public var values: Tensor

    /// An empty cache for `batchSize` sequences of hidden size H.
    public init(batchSize: Int, hiddenSize: Int) {
        keys = Tensor.zeros([batchSize, 0, hiddenSize])
        values = Tensor.zeros([batchSize, 0, hiddenSize])
    }

    /// Creates a cache from existing keys and values.
    public init(keys: Tensor, values: Tensor) {
        self.keys = keys
        self.values = values
    }
}

/// A decoder layer's self-attention keys and values as decoded: one [rows, H] tensor per
/// position, never copied when beam search reorders or drops rows; `RowOrigins` (shared
/// by the layers) says which row of each a current row reads.
public struct AttentionHistory: Sendable {
    /// Per position, [rows at that position, H].
    public private(set) var keys: [Tensor] = []
    /// Per position, [rows at that position, H].
    public private(set) var values: [Tensor] = []

    /// No positions.
    public init() {}

    /// Adds a position's keys and values, [rows, H] each.
    public mutating func append(keys newKeys: Tensor, values newValues: Tensor) {
        precondition(
            newKeys.rank == 2 && newKeys.shape == newValues.shape, "AttentionHistory: keys \(newKeys.shape), values \(newValues.shape)")
        keys.append(newKeys)
        values.append(newValues)
    }

    /// The keys and values gathered as a [rows, positions, H] cache (for inspection and
    /// tests; decoding reads them in place).
    public func gathered(_ origins: RowOrigins) -> AttentionCache {
        func gather(_ tensors: [Tensor]) -> Tensor {
            let hidden = tensors.first?.shape[1] ?? 0
            let table = origins.table.scalars
            let picked = (0..<tensors.count).map { s in
                tensors[s].selectingRows(IndexTensor((0..<origins.rowCount).map { table[$0 * tensors.count + s] }))
                    .reshaped(to: [origins.rowCount, 1, hidden])
            }
            guard !picked.isEmpty else { return Tensor.zeros([origins.rowCount, 0, hidden]) }
            return Tensor.concatenate(picked, alongAxis: 1)
        }
        return AttentionCache(keys: gather(keys), values: gather(values))
    }
}

/// The inputs of one attention call.
public struct AttentionInput {
    /// Queries come from x [B, Lq, H].
    public var x: Tensor
    /// Keys and values come from y [B, Lk, H] (x itself for self-attention).
    public var y: Tensor
    /// Added to the logits: [B, 1, 1, Lk] padding bias or [1, 1, Lq, Lk] causal bias.
    public var bias: Tensor

    /// Creates the inputs.
    public init(x: Tensor, y: Tensor, bias: Tensor) {
        self.x = x
        self.y = y
        self.bias = bias
    }
}

/// Multi-head attention (the reference's `Attention`): projections without bias (with
/// biases for Marian's models), heads of depth d = H / N, logits scaled by d^-0.5 plus a bias, softmax, attention dropout
/// in training, weighted values, output projection.
///
/// Heads are never split in memory: per-head products read the [B, L, H] projections
/// through BLAS leading dimensions (`Tensor.multiHeadScores(queries:keys:heads:scale:)`).
public struct MultiHeadAttention: Layer, Sendable {
    /// Projection of x to queries, [H, H].
    public var query: Linear
    /// Projection of y to keys.
    public var key: Linear
    /// Projection of y to values.
    public var value: Linear
    /// Projection of the combined heads, [H, H].
    public var output: Linear
    /// N.
    public var headCount: Int
    /// Dropout on the attention weights.
    public var attentionDropout: Dropout

    /// Creates the layer; with `biases`, each of the four projections has a bias (zeros).
    ///
    /// - Precondition: `hiddenSize` divides by `headCount` (configurations validate this
    ///   with a thrown error first).
    public init(
        hiddenSize: Int, headCount: Int, dropoutRate: Float, dropoutSite: UInt64, biases: Bool = false, key: RandomKey
    ) {
        precondition(
            headCount > 0 && hiddenSize % headCount == 0,
            "MultiHeadAttention: hidden size \(hiddenSize) is not divisible by \(headCount) heads")
        query = Linear(inputSize: hiddenSize, outputSize: hiddenSize, useBias: biases, key: key.split(0))
        self.key = Linear(inputSize: hiddenSize, outputSize: hiddenSize, useBias: biases, key: key.split(1))
        value = Linear(inputSize: hiddenSize, outputSize: hiddenSize, useBias: biases, key: key.split(2))
        output = Linear(inputSize: hiddenSize, outputSize: hiddenSize, useBias: biases, key: key.split(3))
        self.headCount = headCount
        attentionDropout = Dropout(rate: dropoutRate, site: dropoutSite)
    }

    /// Visits `query`, `key`, `value` and `output` kernels (and biases, where present).
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        try Self.visit(&query, prefix: "query", body)
        try Self.visit(&key, prefix: "key", body)
        try Self.visit(&value, prefix: "value", body)
        try Self.visit(&output, prefix: "output", body)
    }

    /// Attends from `input.x` [B, Lq, H] to `input.y` [B, Lk, H]; returns [B, Lq, H].
    public func callAsFunction(_ input: AttentionInput, context: ForwardContext) -> Tensor {
        attend(queries: query(input.x), keys: key(input.y), values: value(input.y), bias: input.bias, context: context)
    }

    /// Incremental decoding: projects the new positions of `input.y`, appends them to
    /// `cache`, and attends over everything cached so far. With `rows`, the cache's rows
    /// are first reordered as `rows` picks them (beam search), in the same copy.
    public func callAsFunction(
        _ input: AttentionInput, context: ForwardContext, cache: inout AttentionCache, selectingRows rows: IndexTensor? = nil
    ) -> Tensor {
        cache.keys = cache.keys.selectingRows(rows, appending: key(input.y))
        cache.values = cache.values.selectingRows(rows, appending: value(input.y))
        return attend(queries: query(input.x), keys: cache.keys, values: cache.values, bias: input.bias, context: context)
    }

    /// Incremental decoding over a history that is never copied: projects the new position
    /// of `input.y` [rows, 1, H] (self-attention: `input.x` is the same), adds it to
    /// `history` as the position `origins` added last, and attends over every position
    /// with the keys and values read where they were decoded. The floats are those of
    /// ``callAsFunction(_:context:cache:selectingRows:)`` with the history gathered, on
    /// CPUs whose BLAS sums attention products as one fused multiply-add chain (see
    /// `Tensor.multiHeadScores(queries:history:origins:heads:scale:)`).
    ///
    /// - Precondition: nothing is differentiated, and `origins` has one position more than
    ///   `history`.
    public func callAsFunction(
        _ input: AttentionInput, context: ForwardContext, history: inout AttentionHistory, origins: RowOrigins
    ) -> Tensor {
        let (rows, hidden) = (input.y.shape[0], input.y.shape[2])
        precondition(
            input.y.rank == 3 && input.y.shape[1] == 1 && history.keys.count + 1 == origins.positionCount,
            "MultiHeadAttention: one new position of \(input.y.shape) for \(history.keys.count) cached and origins of \(origins.positionCount)")
        history.append(keys: key(input.y).reshaped(to: [rows, hidden]), values: value(input.y).reshaped(to: [rows, hidden]))
        let logits = scaledLogits(query(input.x)) {
            Tensor.multiHeadScores(queries: $0, history: history.keys, origins: origins, heads: headCount, scale: $1)
        }
        let weights = attentionDropout.afterBiasAndSoftmax(logits, bias: input.bias, context: context)
        return output(Tensor.multiHeadCombine(weights: weights, history: history.values, origins: origins))
    }

    /// Static-shape incremental decoding: `cache` holds preallocated [B, M, H] keys and
    /// values; the new positions' (from `input.y`, [B, n, H]) are written in place at
    /// `position`, and attention covers all M cached positions, so `input.bias` must mask
    /// those not yet written (the causal bias row of `position`).
    public func callAsFunction(
        _ input: AttentionInput, context: ForwardContext, fixedCache cache: inout AttentionCache, position: Int
    ) -> Tensor {
        cache.keys.assignSlice(alongAxis: 1, at: position, key(input.y))
        cache.values.assignSlice(alongAxis: 1, at: position, value(input.y))
        return attend(queries: query(input.x), keys: cache.keys, values: cache.values, bias: input.bias, context: context)
    }

    /// Attends from `x` to keys and values projected beforehand (with ``key`` and ``value``),
    /// which lets a decoder project the encoder outputs once per batch instead of once per
    /// step.
    ///
    /// `keys` and `values` [E, Lk, H] may hold fewer entries than `x` [B, Lq, H]: each of
    /// the E entries then serves B / E consecutive entries of `x` (the beams of one
    /// sentence), whose queries attend to it together as one product of B / E · Lq query
    /// rows. `bias` is per entry of the keys ([E, 1, 1, Lk] or broadcastable).
    public func callAsFunction(
        _ x: Tensor, projectedKeys keys: Tensor, projectedValues values: Tensor, bias: Tensor, context: ForwardContext
    ) -> Tensor {
        let (rows, entries) = (x.shape[0], keys.shape[0])
        precondition(
            x.rank == 3 && keys.rank == 3 && entries > 0 && rows % entries == 0 && values.shape == keys.shape,
            "MultiHeadAttention: queries \(x.shape) do not group over keys \(keys.shape) and values \(values.shape)")
        let queries = query(x)
        guard entries != rows else { return attend(queries: queries, keys: keys, values: values, bias: bias, context: context) }
        let grouped = queries.reshaped(to: [entries, rows / entries * x.shape[1], x.shape[2]])
        return attend(queries: grouped, keys: keys, values: values, bias: bias, context: context).reshaped(to: x.shape)
    }

    /// The attention logits `product(queries, scale)` of queries [..., N·d], scaled by
    /// `d ** -0.5` (a Python double in the reference, then a float32 constant that scales
    /// the queries). A power of two (depth 4, 16, 64, 256, …) scales exactly, so it goes
    /// into the product itself with the same floats; any other scales the queries first,
    /// as the reference rounds.
    private func scaledLogits(_ queries: Tensor, _ product: (_ queries: Tensor, _ scale: Float) -> Tensor) -> Tensor {
        let scale = Float(Foundation.pow(Double(queries.shape[queries.rank - 1] / headCount), -0.5))
        return scale.significandBitPattern == 0 ? product(queries, scale) : product(queries * scale, 1)
    }

    /// ``callAsFunction(_:projectedKeys:projectedValues:bias:context:)`` with the keys
    /// stored transposed, [E, H, Lk] (`keys.permuted([0, 2, 1])`): a decoder transposes
    /// its encoder-side keys once per batch, and every step's scores then read them along
    /// whole rows. The same floats as the untransposed keys when decoding (see
    /// `Tensor.multiHeadScores(queries:transposedKeys:heads:scale:)`); nothing is
    /// differentiated.
    public func callAsFunction(
        _ x: Tensor, transposedKeys keys: Tensor, projectedValues values: Tensor, bias: Tensor, context: ForwardContext
    ) -> Tensor {
        let (rows, entries) = (x.shape[0], keys.shape[0])
        precondition(
            x.rank == 3 && keys.rank == 3 && entries > 0 && rows % entries == 0 && values.shape == [entries, keys.shape[2], keys.shape[1]],
            "MultiHeadAttention: queries \(x.shape) do not group over transposed keys \(keys.shape) and values \(values.shape)")
        let queries = query(x).reshaped(to: [entries, rows / entries * x.shape[1], x.shape[2]])
        let logits = scaledLogits(queries) { Tensor.multiHeadScores(queries: $0, transposedKeys: keys, heads: headCount, scale: $1) }
        let weights = attentionDropout.afterBiasAndSoftmax(logits, bias: bias, context: context)
        return output(Tensor.multiHeadCombine(weights: weights, values: values)).reshaped(to: x.shape)
    }

    private func attend(queries: Tensor, keys: Tensor, values: Tensor, bias: Tensor, context: ForwardContext) -> Tensor {
        let logits = scaledLogits(queries) { Tensor.multiHeadScores(queries: $0, keys: keys, heads: headCount, scale: $1) }
        let weights = attentionDropout.afterBiasAndSoftmax(logits, bias: bias, context: context)
        return output(Tensor.multiHeadCombine(weights: weights, values: values))
    }
}
