import NMTTensor

/// How an embedding layer turns token ids into vectors.
public enum EmbeddingMethod: String, Codable, Sendable, CaseIterable {
    /// Gather the table's rows (fast on a CPU; the reference's default).
    case gather
    /// Multiply a one-hot matrix by the table (the reference's TPU path, for static-shape
    /// devices). On CPU threads the product runs as `Tensor.oneHotMatmul(_:_:)`,
    /// which uses the one-hot structure and costs what a gather costs.
    case matmul
}

/// How a model computes on a device: the choices that change how a forward pass runs
/// (which kernels, which shapes) but never what it computes.
///
/// A plan is not part of a model or its checkpoint: a device derives it from its
/// capabilities and hands it to every forward pass in the ``ForwardContext``, so one set
/// of weights runs unchanged on any device. Both embedding methods and both feed-forward
/// paths compute the same values (tests check it), so a plan never changes a result.
public struct ExecutionPlan: Sendable, Equatable, Codable {
    /// How ids are embedded.
    public var embeddingMethod: EmbeddingMethod
    /// Whether the encoder's feed-forward networks skip padding rows (a shape that depends
    /// on the data, which a static-shape device cannot compile).
    public var removesPadding: Bool

    /// Creates a plan.
    public init(embeddingMethod: EmbeddingMethod, removesPadding: Bool) {
        self.embeddingMethod = embeddingMethod
        self.removesPadding = removesPadding
    }

    /// The reference on CPU and GPU: gather embedding and padding removal.
    public static let dynamicShapes = ExecutionPlan(embeddingMethod: .gather, removesPadding: true)
    /// The reference on TPU: one-hot matmul embedding and no padding removal, so every
    /// shape depends only on the batch shape.
    public static let staticShapes = ExecutionPlan(embeddingMethod: .matmul, removesPadding: false)
}
