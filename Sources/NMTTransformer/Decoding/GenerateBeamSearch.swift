import Foundation
import NMTTensor

/// The beam search of ``GenerateStrategy`` over one batch: transformers' `_beam_search`
/// written per sentence, with sentences that are done leaving the batch (their results
/// are final; transformers keeps computing them and discards the work).
struct GenerateBeamSearch {
    /// What transformers adds to a score to rule a continuation out (float32 −1e9).
    static let excluded: Float = -1.0e9

    /// One sentence's search.
    struct Sentence {
        /// The running beams' tokens after the start token.
        var running: [[Int32]]
        /// Their cumulative log probabilities (with −1e9 where transformers adds it).
        var runningScores: [Float]
        /// Finished hypotheses, best first, at most `beams`: tokens and normalized score.
        var finished: [(tokens: [Int32], score: Float)] = []
        /// Whether the early-stopping rule has ended the search.
        var done = false
        /// The step limit (generated tokens).
        var limit: Int
    }

    let strategy: GenerateStrategy
    let model: Transformer
    let request: DecodingRequest

    /// Every sentence's best finished hypothesis and its score.
    func run() -> DecodedBatch {
        let beams = strategy.beamSize, width = model.configuration.vocabularySize
        let limits = request.limits
        var sentences = (0..<request.batchSize).map { b in
            Sentence(
                running: Array(repeating: [], count: beams),
                runningScores: [0] + Array(repeating: Self.excluded, count: beams - 1), limit: limits[b])
        }
        let timing = model.positionTable(length: (limits.max() ?? 0) + 1)
        var cache = model.decoderCache(for: request.inputs, copies: beams, plan: request.plan)
        var active = Array(0..<request.batchSize)
        var step = 0
        // Banned ids are ruled out after the softmax (transformers applies bad_words_ids to
        // log probabilities): asking for beams more candidates per banned id leaves enough.
        let banned = Set(strategy.bannedIDs)
        let count = min(2 * beams + beams * banned.count, beams * width)
        while !active.isEmpty {
            let last = IndexTensor(active.flatMap { s in sentences[s].running.map { $0.last ?? 0 } })
            let logits = model.decodeStep(last, step: step, cache: &cache, timingSignal: timing, plan: request.plan)
            let forced = strategy.forcesEOS(atStep: step)
            let (values, indices) =
                forced
                ? ([], [])
                : logits.beamCandidates(groupSize: beams, base: active.flatMap { sentences[$0].runningScores }, count: count)
            var sources: [Int32] = []
            for (a, s) in active.enumerated() {
                var top: [(score: Float, index: Int)]
                if forced {
                    // forced_eos_token_id: EOS has log probability 0, every other id −∞.
                    top = sentences[s].runningScores.enumerated().map { ($0.element, $0.offset * width + 1) }
                        .sorted { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
                } else {
                    top = (a * count..<(a + 1) * count).map { (values[$0], Int(indices[$0])) }
                        .filter { !banned.contains(Int32($0.index % width)) }
                }
                let chosen = advance(&sentences[s], top: Array(top.prefix(2 * beams)), width: width, step: step)
                sources += chosen.map { Int32(a * beams) + $0 }
            }
            step += 1
            let staying = active.indices.filter { !sentences[active[$0]].done }
            let rows = staying.flatMap { a in sources[(a * beams)..<((a + 1) * beams)] }
            active = staying.map { active[$0] }
            if !active.isEmpty { cache = cache.selectingRows(IndexTensor(rows)) }
        }
        return DecodedBatch(
            sequences: sentences.map { $0.finished.first?.tokens ?? $0.running[0] },
            scores: sentences.map { $0.finished.first?.score ?? $0.runningScores[0] })
    }

    /// One step of one sentence, from its best continuations (cumulative score, flat index
    /// `beam · V + id`), best first: returns the beam each new running beam continues.
    private func advance(_ sentence: inout Sentence, top: [(score: Float, index: Int)], width: Int, step: Int) -> [Int32] {
        let beams = strategy.beamSize, keep = 2 * beams
        let generatedLength = step + 1
        let reachesLimit = generatedLength >= sentence.limit
        var candidates: [(tokens: [Int32], score: Float, beam: Int, hits: Bool)] = top.map { entry in
            let (beam, id) = (entry.index / width, Int32(entry.index % width))
            return (sentence.running[beam] + [id], entry.score, beam, id == 1 || reachesLimit)
        }
        if candidates.count < keep {
            // Fewer continuations than transformers' 2·beams (a forced step, or a tiny
            // vocabulary): the rest are −∞ and end, as there.
            candidates += (candidates.count..<keep).map { _ in (sentence.running[0] + [1], -.infinity, 0, true) }
        }
        // Finished hypotheses: the first `beams` candidates that end, unless the search is over.
        let penalty = Float(Foundation.pow(Double(generatedLength), Double(strategy.lengthPenalty)))
        let full = strategy.earlyStopping == .always && sentence.finished.count == beams
        if !full {
            for candidate in candidates.prefix(beams) where candidate.hits {
                let score = candidate.score / penalty
                var at = sentence.finished.count
                while at > 0, score > sentence.finished[at - 1].score { at -= 1 }
                sentence.finished.insert((candidate.tokens, score), at: at)
            }
            if sentence.finished.count > beams { sentence.finished.removeLast(sentence.finished.count - beams) }
        }
        // Running beams: the best `beams` candidates, finished ones pushed down by −1e9.
        let running = candidates.enumerated().map { ($0.offset, $0.element.hits ? $0.element.score + Self.excluded : $0.element.score) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(beams)
        sentence.running = running.map { candidates[$0.0].tokens }
        sentence.runningScores = running.map(\.1)
        if candidates.allSatisfy(\.hits) { sentence.done = true }
        if sentence.finished.count == beams { sentence.done = sentence.done || stops(sentence, generated: generatedLength) }
        return running.map { Int32(candidates[$0.0].beam) }
    }

    /// The early-stopping rule once every slot holds a finished hypothesis.
    private func stops(_ sentence: Sentence, generated: Int) -> Bool {
        switch strategy.earlyStopping {
        case .always: return true
        case .heuristic, .never:
            let length =
                strategy.earlyStopping == .never && strategy.lengthPenalty > 0 ? strategy.maximumLength - 1 : generated
            let best = sentence.runningScores[0] / Float(Foundation.pow(Double(length), Double(strategy.lengthPenalty)))
            return !(best > sentence.finished.map(\.score).min()!)
        }
    }
}
