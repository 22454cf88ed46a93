import NMTAccelerator
import NMTData
import NMTTensor
import NMTTransformer

extension TransformerBatch: DeviceBatch {
    /// Sentences in the batch.
    public var sentenceCount: Int { inputs.shape[0] }

    /// Source [B, S] and target [B, T].
    public var shapes: [[Int]] { [inputs.shape, targets.shape] }

    /// The source and target id buffers.
    public var kernelBuffers: [KernelBuffer] { [inputs.buffer, targets.buffer] }

    /// Non-padding target tokens, over which the training loss is averaged.
    public var lossWeight: Float { lossWeight(ofSentences: 0..<sentenceCount) }

    /// Non-padding target tokens of the sentences `range`, counted in place.
    public func lossWeight(ofSentences range: Range<Int>) -> Float { Float(targets.count(notEqualTo: 0, rows: range)) }

    /// The sentences `range` (rows of both id matrices).
    public func sentences(_ range: Range<Int>) -> TransformerBatch {
        // Rows of a checked batch are checked too.
        TransformerBatch(unchecked: inputs.rows(range), targets: targets.rows(range))
    }

    /// A checked batch from the data pipeline's padded id matrices.
    ///
    /// - Throws: `BatchError` when an id is outside the vocabulary.
    public init(_ batch: TokenBatch, vocabularySize: Int) throws(BatchError) {
        try self.init(
            inputs: IndexTensor(shape: [batch.sentenceCount, batch.inputLength], scalars: batch.inputs),
            targets: IndexTensor(shape: [batch.sentenceCount, batch.targetLength], scalars: batch.targets),
            vocabularySize: vocabularySize)
    }
}

/// Source sentences for inference on a device (translation): ids [B, S], 0-padded.
public struct SourceBatch: DeviceBatch {
    /// Source ids [B, S].
    public var inputs: IndexTensor

    /// Wraps source ids [B, S].
    public init(inputs: IndexTensor) {
        precondition(inputs.shape.count == 2, "SourceBatch: ids must be [B, S], got \(inputs.shape)")
        self.inputs = inputs
    }

    /// Sentences in the batch.
    public var sentenceCount: Int { inputs.shape[0] }
    /// Source [B, S].
    public var shapes: [[Int]] { [inputs.shape] }
    /// The source id buffer.
    public var kernelBuffers: [KernelBuffer] { [inputs.buffer] }
    /// Non-padding source tokens (inference has no loss; this weighs sentences by length).
    public var lossWeight: Float { Float(inputs.count(notEqualTo: 0, rows: 0..<sentenceCount)) }

    /// The sentences `range`.
    public func sentences(_ range: Range<Int>) -> SourceBatch { SourceBatch(inputs: inputs.rows(range)) }

    /// The same ids on `tape`.
    public func attached(to tape: GradientTape) -> SourceBatch { SourceBatch(inputs: inputs.attached(to: tape)) }
}
