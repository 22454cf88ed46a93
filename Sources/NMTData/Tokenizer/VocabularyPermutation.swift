/// The reordering between a vocabulary's own ids and swift-nmt's, which puts padding at
/// 0 and EOS at 1: padding first, EOS second, every other id after them in its original
/// order (so Marian's `</s>` 0, `<unk>` 1, …, `<pad>` last becomes `<pad>` 0, `</s>` 1,
/// `<unk>` 2, …). The model's embedding and output rows are permuted the same way when
/// it is loaded (`permutingRows(of:)` in NMTInterop), so the logits of an id are those
/// the original model gives.
public struct VocabularyPermutation: Sendable, Equatable {
    /// For each swift-nmt id, the vocabulary's own id.
    public let originalIDs: [Int32]
    /// For each of the vocabulary's own ids, swift-nmt's.
    public let internalIDs: [Int32]

    /// The permutation for a vocabulary of `size` ids with these padding and EOS ids.
    ///
    /// - Precondition: both ids are distinct and in `0..<size` (the loader checks the
    ///   configuration with a thrown error first).
    public init(size: Int, padding: Int, endOfSentence: Int) {
        precondition(
            size >= 2 && padding != endOfSentence && (0..<size).contains(padding) && (0..<size).contains(endOfSentence),
            "VocabularyPermutation: padding \(padding) and EOS \(endOfSentence) must be distinct ids below \(size)")
        let order = [padding, endOfSentence] + (0..<size).filter { $0 != padding && $0 != endOfSentence }
        originalIDs = order.map(Int32.init)
        var inverse = [Int32](repeating: 0, count: size)
        for (internalID, original) in order.enumerated() { inverse[original] = Int32(internalID) }
        internalIDs = inverse
    }

    /// Ids of the vocabulary.
    public var size: Int { originalIDs.count }
}
