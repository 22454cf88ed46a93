/// A SentencePiece model that samples a segmentation on every call of
/// ``encode(_:addEOS:)``: subword regularization (Kudo 2018) for a unigram model,
/// BPE-dropout (Provilkov et al. 2020) for a BPE model, drawn by the library itself.
///
/// Training shards written with it and several copies per pair
/// (``CorpusPreparer/writeShards(source:target:tokenizer:targetTokenizer:directory:name:tag:shards:shuffleSeed:copies:progress:)``,
/// `nmt-prepare corpus --sample-copies K`) show the model several segmentations of every
/// sentence, made ahead of training so that training stays exact to resume. Translation
/// and development data use the plain model's best segmentation.
///
/// The draws come from the library's random generator of the calling thread, seeded when
/// that thread first samples (``SentencePiece/seedRandomGenerator(_:)``): seed before the
/// first draw on a thread to draw the same segmentations again.
public struct SampledSentencePiece: Tokenizer {
    /// The model whose segmentations are drawn.
    public let model: SentencePiece
    /// A unigram model draws from its `nbest` best segmentations, or from all of them (`-1`).
    public let nbest: Int
    /// The unigram model's smoothing (lower is more varied), or a BPE model's dropout rate.
    public let alpha: Float

    /// A sampling view of `model`.
    ///
    /// - Parameters:
    ///   - model: a unigram or BPE SentencePiece model.
    ///   - nbest: `-1` (all segmentations) or how many of the best to draw from.
    ///   - alpha: the smoothing or dropout rate, in (0, 1]. With `nbest` -1, a unigram
    ///     model at 0.1 cut the Ding sentences into twice as many pieces as its best
    ///     segmentation, at 0.5 into 7% more; BPE-dropout's paper uses 0.1.
    public init(model: SentencePiece, nbest: Int = -1, alpha: Float) {
        self.model = model
        self.nbest = nbest
        self.alpha = alpha
    }

    /// The model's vocabulary size.
    public var vocabularySize: Int { model.vocabularySize }
    /// The model's end-of-sentence id.
    public var endOfSentenceID: Int32 { model.endOfSentenceID }
    /// The model's padding id.
    public var paddingID: Int32? { model.paddingID }

    /// A sampled segmentation of `text`, with the end-of-sentence id appended when asked.
    ///
    /// - Throws: ``SentencePieceError/failed(_:)`` for settings the model cannot sample
    ///   with, or a missing end-of-sentence id.
    public func encode(_ text: String, addEOS: Bool) throws(SentencePieceError) -> [Int32] {
        try model.appendingEndOfSentence(to: model.sample(text, nbest: nbest, alpha: alpha), if: addEOS)
    }

    /// The text of `ids`, as the model decodes it.
    ///
    /// - Throws: ``SentencePieceError`` for ids outside the vocabulary.
    public func decode(_ ids: [Int32]) throws(SentencePieceError) -> String { try model.decode(ids) }
}
