import Foundation
import NMTTensor

/// State carried through decoding steps that must follow the beams when they are
/// reordered (the model's key/value caches, or nothing for a pure function).
public protocol BeamSearchCache {
    /// The cache with its [B·beam, ...] rows picked by `rows` (flat batch·beam indices).
    func selectingRows(_ rows: IndexTensor) -> Self
}

/// The reference `SequenceBeamSearch` (`model/beam_search.py`), step for step.
///
/// Alive and finished sets of `beamSize` sequences per sentence; each step extends the
/// alive beams, keeps the top 2·beam candidates, moves those ending in EOS to the
/// finished set scored by `log P / ((5 + length) / 6)^alpha`, and stops at
/// `maximumLength` steps or once no alive beam can beat the worst finished one. All
/// arithmetic is float32 as in the reference graph; `INF` is 1e7 there (not the 1e9 of
/// attention biases), and the initial log probabilities of beams 1... are a true -inf.
public struct BeamSearch {
    /// The reference's large value that marks impossible candidates.
    public static let inf: Float = 1e7

    /// Beams per sentence.
    public var beamSize: Int
    /// Length normalization exponent.
    public var alpha: Float
    /// Steps after which decoding stops.
    public var maximumLength: Int
    /// The end-of-sentence id (1).
    public var eosID: Int32
    /// Ids the model scores (the logits' width).
    public var vocabularySize: Int
    /// Static shapes (the reference's `padded_decode`): every sequence is preallocated at
    /// `maximumLength + 1` ids and step `i` writes position `i + 1`, so nothing changes
    /// shape during the loop. The search itself is unchanged; results are zero-padded.
    public var paddedDecode = false
    /// Stop decoding a sentence once its result can no longer change, instead of extending
    /// it until the whole batch stops as the reference does (see
    /// ``search(initialIDs:cache:symbolsToLogits:)``). The results are the reference's;
    /// only the work shrinks. Ignored with ``paddedDecode``, whose row count is static.
    public var dropsFinishedSentences = true
    /// Off by default: stop decoding a sentence once its *best* finished sequence can no
    /// longer be beaten (it scores above the best any alive beam could still reach,
    /// `aliveLogProb / lengthNormalization(limit)`), instead of once its worst finished one
    /// can no longer be displaced. Log probabilities only fall as a sequence grows, and
    /// float division and addition round monotonically, so the best sequence and its
    /// score are exactly the reference's; the other beams of the result may be fewer or
    /// different, and sequences carry less trailing padding. For callers that use the
    /// best beam alone (``BeamSearchStrategy``): the reference's rule kept the Ding test
    /// set decoding 2.5 times as many steps as its outputs have tokens.
    public var needsOnlyTheBest = false
    /// Off by default (nil): per sentence, a lower step limit than ``maximumLength``
    /// (``DecodingOptions/LengthLimit``); a sentence that reaches it stops there, and its
    /// stopping bound uses its own limit. Not with ``paddedDecode``.
    public var sentenceMaximumLengths: [Int]?
    /// Off by default (nil): a token that would repeat an n-gram of this size in its beam
    /// gets probability 0 (``DecodingOptions/noRepeatNgramSize``).
    public var noRepeatNgramSize: Int?

    /// Creates a search.
    public init(beamSize: Int, alpha: Float, maximumLength: Int, vocabularySize: Int, eosID: Int32 = 1) {
        precondition(beamSize > 0 && vocabularySize > 0, "BeamSearch: beam size and vocabulary size must be positive")
        self.beamSize = beamSize
        self.alpha = alpha
        self.maximumLength = maximumLength
        self.vocabularySize = vocabularySize
        self.eosID = eosID
    }

    /// `((5 + length) / 6)^alpha`, in float32 (α = 0.6: 1 → 1.0, 2 → 1.0969026,
    /// 10 → 1.7328621, 50 → 3.7785647, 100 → 5.5695849).
    public static func lengthNormalization(alpha: Float, length: Int) -> Float {
        Foundation.pow((5 + Float(length)) / 6, alpha)
    }

    /// The result: per sentence, `beamSize` sequences (start id first, then up to
    /// `maximumLength` ids, zero-padded) best first, and their scores.
    public struct Result {
        /// [B][beam][length + 1].
        public var sequences: [[[Int32]]]
        /// [B][beam]: normalized scores of finished sequences, or raw log probabilities
        /// for sentences where no beam finished.
        public var scores: [[Float]]
    }

    /// Runs the search.
    ///
    /// A sentence whose every finished slot holds a sequence that ended, and whose
    /// finished sequences all score above the best any alive beam could still reach
    /// (`aliveLogProb / lengthNormalization(maximumLength)`, the reference's stopping
    /// bound), has its final result: no later candidate can enter its finished set. With
    /// ``dropsFinishedSentences`` such a sentence leaves the batch; `symbolsToLogits` then
    /// sees only the rows of the sentences still decoding, and the cache is told with
    /// `selectingRows` (rows of whole sentences, in order).
    ///
    /// - Parameters:
    ///   - initialIDs: [B] start ids (0 in the reference).
    ///   - cache: the model state for B·beam rows (already tiled to the beams).
    ///   - symbolsToLogits: given the last id of each of the alive sequences of the
    ///     sentences still decoding (`beamSize` rows per sentence), the step index and the
    ///     cache, returns logits [rows, V] and updates the cache.
    public func search<Cache: BeamSearchCache>(
        initialIDs: [Int32], cache: Cache,
        symbolsToLogits: (_ lastIDs: IndexTensor, _ step: Int, _ cache: inout Cache) -> Tensor
    ) -> Result {
        precondition(
            sentenceMaximumLengths == nil || (!paddedDecode && sentenceMaximumLengths!.count == initialIDs.count),
            "BeamSearch: per-sentence limits need one per sentence and no padded decode")
        var state = SearchState(search: self, initialIDs: initialIDs)
        var aliveCache = cache
        var step = 0
        while step < maximumLength {
            let boundIsMet = state.active.map { state.isDone($0, step: step) }
            if !boundIsMet.contains(false) { break }
            let bestIsFinal = needsOnlyTheBest ? state.active.map { state.bestIsFinal($0) } : nil
            if let bestIsFinal, !zip(boundIsMet, bestIsFinal).contains(where: { !$0 && !$1 }) { break }
            if let staying = state.sentencesStaying(step: step, boundIsMet: boundIsMet, bestIsFinal: bestIsFinal) {
                aliveCache = aliveCache.selectingRows(staying)
            }
            var logits = symbolsToLogits(state.lastIDs(step: step), step, &aliveCache)
            precondition(
                logits.shape == [state.active.count * beamSize, vocabularySize],
                "BeamSearch: logits \(logits.shape), expected [\(state.active.count * beamSize), \(vocabularySize)]")
            if let n = noRepeatNgramSize { logits = state.banningRepeats(logits, step: step, size: n) }
            let candidates = state.candidates(logits, step: step)
            // The reference gathers the cache twice (top candidates, then the kept ones);
            // composing the two row selections gathers once and copies the same rows.
            aliveCache = aliveCache.selectingRows(state.keepAlive(candidates))
            state.mergeFinished(candidates, step: step)
            step += 1
        }
        return state.result(steps: step)
    }

    /// `logits` with -inf at every (row, id) that would repeat an n-gram of `size` in the
    /// row's sequence (start id first; with `length`, its first `length` ids are the
    /// sequence so far).
    static func banningRepeats(_ logits: Tensor, sequences: [[Int32]], length: Int?, size: Int) -> Tensor {
        let width = logits.shape[1]
        var scalars: [Float]?
        for (row, sequence) in sequences.enumerated() {
            let generated = sequence[1..<(length ?? sequence.count)]
            for id in RepeatedNgrams.banned(after: generated, size: size) where id >= 0 && Int(id) < width {
                if scalars == nil { scalars = logits.scalars }
                scalars![row * width + Int(id)] = -.infinity
            }
        }
        return scalars.map { Tensor(shape: logits.shape, scalars: $0) } ?? logits
    }
}
