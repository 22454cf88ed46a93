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
        let batch = initialIDs.count, beam = beamSize, width = vocabularySize
        let drops = dropsFinishedSentences && !paddedDecode
        // With padded decoding a sequence is its full static row from the start.
        let initialLength = paddedDecode ? maximumLength + 1 : 1
        func start(_ id: Int32) -> [Int32] { [id] + [Int32](repeating: 0, count: initialLength - 1) }
        var aliveSequences = initialIDs.map { id in [[Int32]](repeating: start(id), count: beam) }
        var aliveLogProbs = (0..<batch).map { _ in [Float](repeating: -.infinity, count: beam) }
        for b in 0..<batch { aliveLogProbs[b][0] = 0 }
        var aliveCache = cache
        var finishedSequences = (0..<batch).map { _ in [[Int32]](repeating: start(0), count: beam) }
        var finishedScores = (0..<batch).map { _ in [Float](repeating: -Self.inf, count: beam) }
        var finishedFlags = (0..<batch).map { _ in [Bool](repeating: false, count: beam) }
        precondition(
            sentenceMaximumLengths == nil || (!paddedDecode && sentenceMaximumLengths!.count == batch),
            "BeamSearch: per-sentence limits need one per sentence and no padded decode")
        let limits = sentenceMaximumLengths?.map { min($0, maximumLength) } ?? Array(repeating: maximumLength, count: batch)
        let maximumNorms = limits.map { Self.lengthNormalization(alpha: alpha, length: $0) }
        // The sentences still decoding, in the order of the cache's row groups.
        var active = Array(0..<batch)

        var step = 0
        while step < maximumLength {
            // _continue_search: stop once every sentence's worst finished beats its best alive.
            let boundIsMet = active.map { b in
                var lowestFinished = zip(finishedScores[b], finishedFlags[b]).map { $1 ? $0 : 0 }.min()!
                if !finishedFlags[b].contains(true) { lowestFinished += -Self.inf }
                return lowestFinished > aliveLogProbs[b][0] / maximumNorms[b] || step >= limits[b]
            }
            if !boundIsMet.contains(false) { break }
            if drops || sentenceMaximumLengths != nil {
                // A sentence at its own length limit stops as the batch would at the global one.
                let staying = active.indices.filter {
                    step < limits[active[$0]] && (!drops || !boundIsMet[$0] || finishedFlags[active[$0]].contains(false))
                }
                if staying.count < active.count {
                    active = staying.map { active[$0] }
                    aliveCache = aliveCache.selectingRows(
                        IndexTensor(staying.flatMap { a in (0..<beam).map { Int32(a * beam + $0) } }))
                }
            }

            // _grow_alive_seq: score every extension of every alive beam.
            let rows = active.count * beam
            let lastIDs = IndexTensor(active.flatMap { aliveSequences[$0].map { $0[paddedDecode ? step : $0.count - 1] } })
            var logits = symbolsToLogits(lastIDs, step, &aliveCache)
            precondition(logits.shape == [rows, width], "BeamSearch: logits \(logits.shape), expected [\(rows), \(width)]")
            if let n = noRepeatNgramSize {
                logits = Self.banningRepeats(
                    logits, sequences: active.flatMap { aliveSequences[$0] }, length: paddedDecode ? step + 1 : nil, size: n)
            }
            // log P of every extension (log-softmax plus the beam's log P so far), top 2·beam
            // per sentence over all its beams, without the [rows, V] intermediate.
            let k = 2 * beam
            let (topLogProbs, topIndices) = logits.beamCandidates(
                groupSize: beam, base: active.flatMap { aliveLogProbs[$0] }, count: k)
            var topSequences = [[[Int32]]](), sourceRows = [Int32]()
            for (a, b) in active.enumerated() {
                var candidateRows = [[Int32]]()
                for c in 0..<k {
                    let index = Int(topIndices[a * k + c])
                    var extended = aliveSequences[b][index / width]
                    if paddedDecode { extended[step + 1] = Int32(index % width) } else { extended.append(Int32(index % width)) }
                    candidateRows.append(extended)
                    sourceRows.append(Int32(a * beam + index / width))
                }
                topSequences.append(candidateRows)
            }
            let endsWithEOS = topSequences.map { $0.map { $0[step + 1] == eosID } }

            // _get_new_alive_state: the best `beam` candidates that did not end.
            var keptRows = [Int32]()
            for (a, b) in active.enumerated() {
                let scores = (0..<k).map { topLogProbs[a * k + $0] + (endsWithEOS[a][$0] ? -Self.inf : 0) }
                let order = Tensor(shape: [1, k], scalars: scores).topK(beam).indices.scalars.map(Int.init)
                aliveSequences[b] = order.map { topSequences[a][$0] }
                aliveLogProbs[b] = order.map { scores[$0] }
                keptRows += order.map { sourceRows[a * k + $0] }
            }
            // The reference gathers the cache twice (top candidates, then the kept ones);
            // composing the two row selections gathers once and copies the same rows.
            aliveCache = aliveCache.selectingRows(IndexTensor(keptRows))

            // _get_new_finished_state: merge the candidates that ended into the finished set.
            let norm = Self.lengthNormalization(alpha: alpha, length: step + 1)
            for (a, b) in active.enumerated() {
                let oldSequences = paddedDecode ? finishedSequences[b] : finishedSequences[b].map { $0 + [0] }
                let newScores = (0..<k).map { topLogProbs[a * k + $0] / norm + (endsWithEOS[a][$0] ? 0 : -Self.inf) }
                let allScores = finishedScores[b] + newScores
                let allFlags = finishedFlags[b] + endsWithEOS[a]
                let allSequences = oldSequences + topSequences[a]
                let order = Tensor(shape: [1, beam + k], scalars: allScores).topK(beam).indices.scalars.map(Int.init)
                finishedSequences[b] = order.map { allSequences[$0] }
                finishedScores[b] = order.map { allScores[$0] }
                finishedFlags[b] = order.map { allFlags[$0] }
            }
            step += 1
        }
        // Sentences where nothing finished return their alive beams and raw log probabilities.
        var sequences = [[[Int32]]](), scores = [[Float]]()
        for b in 0..<batch {
            let anyFinished = finishedFlags[b].contains(true)
            // A sentence that left the batch early gets the zero padding the reference's
            // later steps would have appended to its finished sequences.
            let padded = finishedSequences[b].map { $0 + [Int32](repeating: 0, count: max(0, step + 1 - $0.count)) }
            sequences.append(anyFinished ? padded : aliveSequences[b])
            scores.append(anyFinished ? finishedScores[b] : aliveLogProbs[b])
        }
        return Result(sequences: sequences, scores: scores)
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
