import NMTTensor

/// The token embedding shared with the output projection (the reference's
/// `EmbeddingSharedWeights`).
///
/// Looking up ids gives `W[id] · sqrt(H)`, with padding (id 0) embedded as exactly zero;
/// ``linear(_:)`` turns decoder outputs into logits with the same weights, `x · Wᵀ`.
/// Marian's embeddings may leave out the scale (``scalesBySquareRootOfHidden``) and look
/// padding up like any id (``zeroesPadding``).
public struct EmbeddingSharedWeights: Layer, Sendable {
    /// [V, H], initialized from N(0, H^-0.5).
    public var weights: Tensor
    /// Whether looked-up rows are multiplied by √H.
    public let scalesBySquareRootOfHidden: Bool
    /// Whether id 0 embeds to exactly zero.
    public let zeroesPadding: Bool

    /// Creates an embedding of `vocabularySize` ids into `hiddenSize` dimensions.
    public init(
        vocabularySize: Int, hiddenSize: Int, scalesBySquareRootOfHidden: Bool = true, zeroesPadding: Bool = true,
        key: RandomKey
    ) {
        weights = Initializer.normal(standardDeviation: 1 / Float(hiddenSize).squareRoot())(
            [vocabularySize, hiddenSize], key: key)
        self.scalesBySquareRootOfHidden = scalesBySquareRootOfHidden
        self.zeroesPadding = zeroesPadding
    }

    /// V.
    public var vocabularySize: Int { weights.shape[0] }
    /// H.
    public var hiddenSize: Int { weights.shape[1] }

    /// Visits `weights`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        try body("weights", &weights)
    }

    /// Embeds ids [B, L] as [B, L, H], looked up as the context's plan says (both methods
    /// give identical outputs and gradients).
    ///
    /// - Precondition: every id is in `0..<V` (the model checks its vocabulary first).
    public func callAsFunction(_ ids: IndexTensor, context: ForwardContext) -> Tensor {
        let embedded: Tensor
        switch context.plan.embeddingMethod {
        case .gather:
            embedded = weights.gathering(rows: ids)
        case .matmul:
            // The accelerator path: a one-hot [B, L, V] matrix times the table, by a kernel
            // that uses the one-hot structure (see `Tensor.oneHotMatmul`). The padding mask
            // below zeroes id 0's rows, as the reference's mask-weighted one-hot does.
            embedded = Tensor.oneHotMatmul(ids, weights)
        }
        // `hidden_size ** 0.5` is a Python double in the reference, then a float32 constant.
        let root = Float(Double(hiddenSize).squareRoot())
        guard zeroesPadding else { return scalesBySquareRootOfHidden ? embedded * root : embedded }
        // mask · sqrt(H) on [B, L, 1] first, then one broadcast product: (e·m)·s and
        // e·(m·s) are the same float for m in {0, 1}.
        let notPadding = 1 - ids.mask(equalTo: 0)
        let scale = scalesBySquareRootOfHidden ? notPadding * root : notPadding
        return embedded * scale.expandingShape(at: -1)
    }

    /// Logits [..., V] from hidden vectors [..., H]: `x · Wᵀ` with the shared weights.
    public func linear(_ x: Tensor) -> Tensor {
        Tensor.matmul(x, weights, transposeB: true)
    }
}
