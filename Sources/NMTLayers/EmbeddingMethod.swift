/// How an embedding layer turns token ids into vectors.
public enum EmbeddingMethod: String, Codable, Sendable, CaseIterable {
    /// Gather the table's rows (fast on a CPU; the reference's default).
    case gather
    /// Multiply a one-hot matrix by the table (the reference's TPU path, for static-shape
    /// devices). On CPU threads the product runs as ``NMTTensor/Tensor/oneHotMatmul(_:_:)``,
    /// which uses the one-hot structure and costs what a gather costs.
    case matmul
}
