import NMTTensor

/// The activation between a feed-forward network's two layers.
public enum FeedForwardActivation: String, Codable, Sendable {
    /// max(0, x) (the reference).
    case relu
    /// x · σ(x), also called SiLU (Marian's `swish`).
    case swish
    /// x · Φ(x), with the exact normal CDF (PyTorch's `gelu`).
    case gelu
}

/// The position-wise feed-forward network (the reference's `FeedFowardNetwork`):
/// `output(dropout(activation(filter(x))))`, optionally computed on non-padding rows only.
public struct FeedForward: Layer, Sendable {
    /// H → F with bias (and ReLU when that is the activation).
    public var filter: Linear
    /// The activation after ``filter``.
    public let activation: FeedForwardActivation
    /// F → H with bias.
    public var output: Linear
    /// Dropout between the two layers.
    public var reluDropout: Dropout

    /// Creates the network.
    public init(
        hiddenSize: Int, filterSize: Int, dropoutRate: Float, dropoutSite: UInt64, activation: FeedForwardActivation = .relu,
        key: RandomKey
    ) {
        filter = Linear(inputSize: hiddenSize, outputSize: filterSize, usesReLU: activation == .relu, key: key.split(0))
        self.activation = activation
        output = Linear(inputSize: filterSize, outputSize: hiddenSize, key: key.split(1))
        reluDropout = Dropout(rate: dropoutRate, site: dropoutSite)
    }

    /// Visits `filter` and `output`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        try Self.visit(&filter, prefix: "filter", body)
        try Self.visit(&output, prefix: "output", body)
    }

    /// Applies the network to every position of [B, L, H].
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor {
        output(filteredAndDropped(x, rows: nil, rowsPerExample: 0, context: context))
    }

    /// Applies the network only to the rows listed in `nonPaddingRows` (indices into x
    /// viewed as [B·L, H]) and returns zeros at the other positions, as the reference does
    /// when `allow_ffn_pad` is set. Outputs at the listed rows equal the full computation's.
    public func callAsFunction(_ x: Tensor, nonPaddingRows: IndexTensor, context: ForwardContext) -> Tensor {
        let (batch, length, hidden) = (x.shape[0], x.shape[1], x.shape[2])
        let rows = x.reshaped(to: [batch * length, hidden]).gathering(rows: nonPaddingRows)
        // Dropout draws the masks of the full [B, L, F] layout, so removing padding does
        // not change which activations are dropped (the static device runs without removal).
        let filtered = filteredAndDropped(rows, rows: nonPaddingRows, rowsPerExample: length, context: context)
        let computed = output(filtered)
        return computed.scatteringRows(to: nonPaddingRows, rowCount: batch * length).reshaped(to: x.shape)
    }

    /// `reluDropout(activation(filter(x)))`; the filter's bias and ReLU and the dropout run
    /// fused when the filter is the usual bias + ReLU layer (the same floats either way).
    private func filteredAndDropped(_ x: Tensor, rows: IndexTensor?, rowsPerExample: Int, context: ForwardContext) -> Tensor {
        // An int8 filter adds its bias and applies ReLU in its own kernel.
        guard filter.usesReLU, let bias = filter.bias, filter.int8 == nil else {
            let filtered: Tensor
            switch activation {
            case .relu: filtered = filter(x)
            case .swish: filtered = filter(x).swish()
            case .gelu: filtered = filter(x).gelu()
            }
            guard let rows else { return reluDropout(filtered, context: context) }
            return reluDropout(filtered, rows: rows, rowsPerExample: rowsPerExample, context: context)
        }
        return reluDropout.afterBiasAndReLU(
            x.matmul(filter.kernel), bias: bias, rows: rows, rowsPerExample: rowsPerExample, context: context)
    }

    /// The rows of [B, L] ids that are not padding (id ≠ 0), as row numbers of [B·L].
    public static func nonPaddingRows(of ids: IndexTensor) -> IndexTensor {
        let values = ids.scalars
        return IndexTensor(values.indices.filter { values[$0] != 0 }.map { Int32($0) })
    }
}
