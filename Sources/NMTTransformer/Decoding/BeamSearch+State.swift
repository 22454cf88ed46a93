import NMTTensor

extension BeamSearch {
    /// One step's 2·beam best extensions per decoding sentence, and where they came from.
    struct Candidates {
        /// [active sentence][candidate]: the extended sequences.
        var sequences: [[[Int32]]]
        /// [active · 2·beam]: their log probabilities.
        var logProbs: [Float]
        /// [active · 2·beam]: the cache row (active sentence · beam + beam) each extends.
        var sourceRows: [Int32]
        /// [active sentence][candidate]: whether it ends in EOS.
        var endsWithEOS: [[Bool]]
    }

    /// The alive and finished sets of every sentence while the search runs, and the
    /// sentences still decoding. Each method is one part of the reference's loop body
    /// (`_continue_search`, `_grow_alive_seq`, `_get_new_alive_state`,
    /// `_get_new_finished_state`), in its float32 arithmetic.
    struct SearchState {
        let search: BeamSearch
        /// Each sentence's step limit: its own where one is set, the search's otherwise.
        let limits: [Int]
        /// `lengthNormalization` of each sentence's limit: the stopping bound's divisor.
        let maximumNorms: [Float]
        /// Whether finished sentences leave the batch (not with padded decoding).
        let drops: Bool
        var aliveSequences: [[[Int32]]]
        var aliveLogProbs: [[Float]]
        var finishedSequences: [[[Int32]]]
        var finishedScores: [[Float]]
        var finishedFlags: [[Bool]]
        /// The sentences still decoding, in the order of the cache's row groups.
        var active: [Int]

        /// Beam 0 of each sentence alive with log P 0, the others at -inf; nothing finished.
        init(search: BeamSearch, initialIDs: [Int32]) {
            self.search = search
            let (batch, beam) = (initialIDs.count, search.beamSize)
            limits = search.sentenceMaximumLengths?.map { min($0, search.maximumLength) }
                ?? Array(repeating: search.maximumLength, count: batch)
            maximumNorms = limits.map { BeamSearch.lengthNormalization(alpha: search.alpha, length: $0) }
            drops = search.dropsFinishedSentences && !search.paddedDecode
            aliveSequences = initialIDs.map { id in [[Int32]](repeating: search.startSequence(id), count: beam) }
            aliveLogProbs = (0..<batch).map { _ in [0] + [Float](repeating: -.infinity, count: beam - 1) }
            finishedSequences = (0..<batch).map { _ in [[Int32]](repeating: search.startSequence(0), count: beam) }
            finishedScores = (0..<batch).map { _ in [Float](repeating: -BeamSearch.inf, count: beam) }
            finishedFlags = (0..<batch).map { _ in [Bool](repeating: false, count: beam) }
            active = Array(0..<batch)
        }

        /// `_continue_search` for sentence `b`: its worst finished beats its best alive
        /// normalized by its limit's length, or it reached its limit.
        func isDone(_ b: Int, step: Int) -> Bool {
            var lowestFinished = zip(finishedScores[b], finishedFlags[b]).map { $1 ? $0 : 0 }.min()!
            if !finishedFlags[b].contains(true) { lowestFinished += -BeamSearch.inf }
            return lowestFinished > aliveLogProbs[b][0] / maximumNorms[b] || step >= limits[b]
        }

        /// ``BeamSearch/needsOnlyTheBest``'s bound for sentence `b`: its best finished
        /// sequence beats its best alive beam normalized by its limit's length.
        func bestIsFinal(_ b: Int) -> Bool {
            guard let best = zip(finishedScores[b], finishedFlags[b]).filter(\.1).map(\.0).max() else { return false }
            return best > aliveLogProbs[b][0] / maximumNorms[b]
        }

        /// Drops the sentences whose result is final (with ``BeamSearch/dropsFinishedSentences``:
        /// bound met and every finished slot filled, or with `bestIsFinal` their best
        /// sequence final) or that reached their own limit.
        ///
        /// - Returns: the cache rows of the sentences that stay, or nil when all stay.
        mutating func sentencesStaying(step: Int, boundIsMet: [Bool], bestIsFinal: [Bool]?) -> IndexTensor? {
            guard drops || search.sentenceMaximumLengths != nil else { return nil }
            // A sentence at its own length limit stops as the batch would at the global one.
            let staying = active.indices.filter {
                let final = (boundIsMet[$0] && !finishedFlags[active[$0]].contains(false)) || bestIsFinal?[$0] == true
                return step < limits[active[$0]] && (!drops || !final)
            }
            guard staying.count < active.count else { return nil }
            active = staying.map { active[$0] }
            let beam = search.beamSize
            return IndexTensor(staying.flatMap { a in (0..<beam).map { Int32(a * beam + $0) } })
        }

        /// The last id of every alive beam of the decoding sentences.
        func lastIDs(step: Int) -> IndexTensor {
            IndexTensor(active.flatMap { aliveSequences[$0].map { search.lastID(of: $0, step: step) } })
        }

        /// `logits` with the ids that would repeat an n-gram of `size` at -inf.
        func banningRepeats(_ logits: Tensor, step: Int, size: Int) -> Tensor {
            BeamSearch.banningRepeats(
                logits, sequences: active.flatMap { aliveSequences[$0] }, length: search.paddedDecode ? step + 1 : nil,
                size: size)
        }

        /// `_grow_alive_seq`: log P of every extension (log-softmax plus the beam's log P),
        /// the top 2·beam per sentence over all its beams, without the [rows, V]
        /// intermediate.
        func candidates(_ logits: Tensor, step: Int) -> Candidates {
            let (beam, width, k) = (search.beamSize, search.vocabularySize, 2 * search.beamSize)
            let (topLogProbs, topIndices) = logits.beamCandidates(
                groupSize: beam, base: active.flatMap { aliveLogProbs[$0] }, count: k)
            var sequences = [[[Int32]]](), sourceRows = [Int32]()
            for (a, b) in active.enumerated() {
                var rows = [[Int32]]()
                for c in 0..<k {
                    let index = Int(topIndices[a * k + c])
                    rows.append(search.extend(aliveSequences[b][index / width], with: Int32(index % width), step: step))
                    sourceRows.append(Int32(a * beam + index / width))
                }
                sequences.append(rows)
            }
            let endsWithEOS = sequences.map { $0.map { $0[step + 1] == search.eosID } }
            return Candidates(sequences: sequences, logProbs: topLogProbs, sourceRows: sourceRows, endsWithEOS: endsWithEOS)
        }

        /// `_get_new_alive_state`: the best `beam` candidates that did not end.
        ///
        /// - Returns: the cache row each kept beam extends.
        mutating func keepAlive(_ candidates: Candidates) -> IndexTensor {
            let (beam, k) = (search.beamSize, 2 * search.beamSize)
            var keptRows = [Int32]()
            for (a, b) in active.enumerated() {
                let scores = (0..<k).map { candidates.logProbs[a * k + $0] + (candidates.endsWithEOS[a][$0] ? -BeamSearch.inf : 0) }
                let order = Tensor(shape: [1, k], scalars: scores).topK(beam).indices.scalars.map(Int.init)
                aliveSequences[b] = order.map { candidates.sequences[a][$0] }
                aliveLogProbs[b] = order.map { scores[$0] }
                keptRows += order.map { candidates.sourceRows[a * k + $0] }
            }
            return IndexTensor(keptRows)
        }

        /// `_get_new_finished_state`: merges the candidates that ended, scored by their
        /// normalized log P, into each sentence's finished set.
        mutating func mergeFinished(_ candidates: Candidates, step: Int) {
            let (beam, k) = (search.beamSize, 2 * search.beamSize)
            let norm = BeamSearch.lengthNormalization(alpha: search.alpha, length: step + 1)
            for (a, b) in active.enumerated() {
                let oldSequences = finishedSequences[b].map { search.lengthened($0) }
                let newScores = (0..<k).map {
                    candidates.logProbs[a * k + $0] / norm + (candidates.endsWithEOS[a][$0] ? 0 : -BeamSearch.inf)
                }
                let allScores = finishedScores[b] + newScores
                let allFlags = finishedFlags[b] + candidates.endsWithEOS[a]
                let allSequences = oldSequences + candidates.sequences[a]
                let order = Tensor(shape: [1, beam + k], scalars: allScores).topK(beam).indices.scalars.map(Int.init)
                finishedSequences[b] = order.map { allSequences[$0] }
                finishedScores[b] = order.map { allScores[$0] }
                finishedFlags[b] = order.map { allFlags[$0] }
            }
        }

        /// The finished sets (zero-padded to the steps run), or the alive beams and raw log
        /// probabilities of sentences where nothing finished.
        func result(steps: Int) -> Result {
            var sequences = [[[Int32]]](), scores = [[Float]]()
            for b in finishedFlags.indices {
                let anyFinished = finishedFlags[b].contains(true)
                // A sentence that left the batch early gets the zero padding the reference's
                // later steps would have appended to its finished sequences.
                let padded = finishedSequences[b].map { $0 + [Int32](repeating: 0, count: max(0, steps + 1 - $0.count)) }
                sequences.append(anyFinished ? padded : aliveSequences[b])
                scores.append(anyFinished ? finishedScores[b] : aliveLogProbs[b])
            }
            return Result(sequences: sequences, scores: scores)
        }
    }

    // Where growing and preallocated (padded) sequences differ: a padded sequence is its
    // full static row from the start, and step `i` writes position `i + 1`.

    /// A sequence holding only `id` (padded: followed by `maximumLength` zeros).
    func startSequence(_ id: Int32) -> [Int32] {
        [id] + [Int32](repeating: 0, count: paddedDecode ? maximumLength : 0)
    }

    /// The id decoded last before step `step`.
    func lastID(of sequence: [Int32], step: Int) -> Int32 { sequence[paddedDecode ? step : sequence.count - 1] }

    /// `sequence` with `id` decoded at step `step`.
    func extend(_ sequence: [Int32], with id: Int32, step: Int) -> [Int32] {
        var extended = sequence
        if paddedDecode { extended[step + 1] = id } else { extended.append(id) }
        return extended
    }

    /// A finished sequence one step longer, as the reference pads them each step.
    func lengthened(_ sequence: [Int32]) -> [Int32] { paddedDecode ? sequence : sequence + [0] }
}
