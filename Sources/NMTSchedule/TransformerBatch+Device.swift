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
    public func lossWeight(ofSentences range: Range<Int>) -> Float {
        let width = targets.shape[1]
        let ids = targets.buffer.pointer(as: Int32.self)
        var count = 0
        for i in (range.lowerBound * width)..<(range.upperBound * width) where ids[i] != 0 { count += 1 }
        return Float(count)
    }

    /// The sentences `range` (rows of both id matrices).
    public func sentences(_ range: Range<Int>) -> TransformerBatch {
        func rows(_ ids: IndexTensor) -> IndexTensor {
            let width = ids.shape[1]
            return IndexTensor(shape: [range.count, width], scalars: Array(ids.scalars[(range.lowerBound * width)..<(range.upperBound * width)]))
        }
        // Rows of a checked batch are checked too.
        return TransformerBatch(unchecked: rows(inputs), targets: rows(targets))
    }

    /// A checked batch from the data pipeline's padded id matrices.
    ///
    /// - Throws: ``NMTTransformer/BatchError`` when an id is outside the vocabulary.
    public init(_ batch: TokenBatch, vocabularySize: Int) throws(BatchError) {
        try self.init(
            inputs: IndexTensor(shape: [batch.sentenceCount, batch.inputLength], scalars: batch.inputs),
            targets: IndexTensor(shape: [batch.sentenceCount, batch.targetLength], scalars: batch.targets),
            vocabularySize: vocabularySize)
    }
}
