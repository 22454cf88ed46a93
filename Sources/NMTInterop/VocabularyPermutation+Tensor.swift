import NMTData
import NMTTensor

/// Reordering a model's vocabulary rows (embeddings, output projection, logit bias)
/// between a vocabulary's own ids and swift-nmt's.
extension VocabularyPermutation {
    /// `table` [V, …] (or a vector [V]) with its rows reordered so that row i is the
    /// original row of swift-nmt id i: what loading does.
    public func permutingRows(of table: Tensor) -> Tensor { reordering(table, by: originalIDs) }

    /// The inverse of ``permutingRows(of:)``: `table` [V, …] (or [V]) with row i that of
    /// the vocabulary's own id i, what exporting does.
    public func restoringOriginalOrder(of table: Tensor) -> Tensor { reordering(table, by: internalIDs) }

    private func reordering(_ table: Tensor, by rows: [Int32]) -> Tensor {
        precondition(table.shape.first == size, "VocabularyPermutation: \(table.shape) does not have \(size) rows")
        guard table.rank == 1 else { return table.selectingRows(IndexTensor(rows)) }
        return table.reshaped(to: [size, 1]).selectingRows(IndexTensor(rows)).reshaped(to: [size])
    }
}
