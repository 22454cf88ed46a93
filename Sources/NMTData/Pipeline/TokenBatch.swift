/// A padded batch of sentence pairs: row-major id matrices, 0 = padding.
///
/// `NMTData` knows no tensors; the trainer turns these into `IndexTensor`s.
public struct TokenBatch: Equatable, Sendable {
    /// [sentences × inputLength] source ids.
    public var inputs: [Int32]
    /// [sentences × targetLength] target ids.
    public var targets: [Int32]
    /// Sentences in the batch.
    public var sentenceCount: Int
    /// Padded source length.
    public var inputLength: Int
    /// Padded target length.
    public var targetLength: Int

    /// Pads examples to the given lengths (the longest example's when nil).
    init(_ examples: [TranslationExample], inputLength: Int? = nil, targetLength: Int? = nil) {
        sentenceCount = examples.count
        self.inputLength = inputLength ?? examples.map(\.inputs.count).max() ?? 0
        self.targetLength = targetLength ?? examples.map(\.targets.count).max() ?? 0
        inputs = [Int32](repeating: 0, count: sentenceCount * self.inputLength)
        targets = [Int32](repeating: 0, count: sentenceCount * self.targetLength)
        for (row, example) in examples.enumerated() {
            for (i, id) in example.inputs.enumerated() { inputs[row * self.inputLength + i] = id }
            for (i, id) in example.targets.enumerated() { targets[row * self.targetLength + i] = id }
        }
    }

    /// Non-padding target tokens (what a training step learns from).
    public var targetTokenCount: Int { targets.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
}
