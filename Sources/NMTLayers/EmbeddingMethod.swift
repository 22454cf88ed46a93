import NMTTensor

/// How an embedding layer turns token ids into vectors.
public enum EmbeddingMethod: String, Codable, Sendable, CaseIterable {
    /// Gather the table's rows (fast on a CPU; the reference's default).
    case gather
    /// Multiply a one-hot matrix by the table (the reference's TPU path, for static-shape
    /// devices). On CPU threads the product runs as ``NMTTensor/Tensor/oneHotMatmul(_:_:)``,
    /// which uses the one-hot structure and costs what a gather costs.
    case matmul
}

/// A model that says which shape-dependent computations it uses, so that a static-shape
/// device can refuse a model it cannot run (the device only sees a parameter container).
public protocol ShapeDescribingModel: ParameterContainer {
    /// How the model looks up embeddings.
    var embeddingMethod: EmbeddingMethod { get }
    /// Whether the model drops padding rows (a data-dependent shape) anywhere.
    var usesPaddingRemoval: Bool { get }
}
