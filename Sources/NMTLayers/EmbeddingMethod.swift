/// How an embedding layer turns token ids into vectors.
public enum EmbeddingMethod: String, Codable, Sendable, CaseIterable {
    /// Gather the table's rows (fast on a CPU; the reference's default).
    case gather
    /// Multiply a one-hot matrix by the table (static shapes only; the reference's TPU path).
    case matmul
}
