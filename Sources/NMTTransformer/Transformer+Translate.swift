import Foundation
import NMTLayers
import NMTTensor

extension Transformer {
    /// Translates source ids [B, S] with the reference beam search.
    ///
    /// - Parameters:
    ///   - inputs: source ids [B, S], 0-padded, each sentence ending in EOS.
    ///   - beamSize: beams (default: the configuration's, 4).
    ///   - alpha: length-normalization exponent (default 0.6).
    ///   - extraDecodeLength: decoding stops after S + this many tokens (default 50; the
    ///     reference's translate.py uses 100).
    ///   - plan: how the device computes (see `ExecutionPlan`).
    public func translate(
        _ inputs: IndexTensor, beamSize: Int? = nil, alpha: Float? = nil, extraDecodeLength: Int? = nil,
        plan: ExecutionPlan = .dynamicShapes
    ) -> DecodedBatch {
        var options = DecodingOptions()
        options.strategy = .beamSearch(beamSize: beamSize ?? configuration.beamSize, alpha: alpha ?? configuration.alpha)
        options.extraDecodeLength = extraDecodeLength ?? configuration.extraDecodeLength
        return translate(inputs, options: options, plan: plan)
    }

    /// Translates source ids [B, S] as `options` says: beam search, greedy decoding or
    /// sampling, up to S + `options.extraDecodeLength` tokens, with the optional
    /// per-sentence length limit and n-gram repeat blocking.
    ///
    /// - Parameters:
    ///   - inputs: source ids [B, S], 0-padded, each sentence ending in EOS.
    ///   - options: the search and its limits; must be valid (``DecodingOptions/problem`` nil).
    ///   - sentenceIndices: each row's position in the caller's input (default 0..<B): a
    ///     sampled sentence draws from the options' seed split by it, so its draws do not
    ///     depend on the batch it is in.
    ///   - plan: how the device computes (see `ExecutionPlan`).
    public func translate(
        _ inputs: IndexTensor, options: DecodingOptions, sentenceIndices: [Int]? = nil, plan: ExecutionPlan = .dynamicShapes
    ) -> DecodedBatch {
        precondition(options.problem == nil, "translate: \(options.problem ?? "")")
        let (batch, width) = (inputs.shape[0], inputs.shape[1])
        let maximumLength = width + options.extraDecodeLength
        let ids = inputs.scalars
        let limits = options.lengthLimit.map { limit in
            (0..<batch).map { b in
                min(maximumLength, limit.tokens(forSourceLength: ids[(b * width)..<((b + 1) * width)].filter { $0 != 0 }.count))
            }
        }
        switch options.strategy {
        case .beamSearch(let beamSize, let alpha):
            var search = BeamSearch(
                beamSize: beamSize, alpha: alpha, maximumLength: maximumLength, vocabularySize: configuration.vocabularySize)
            search.sentenceMaximumLengths = limits
            search.noRepeatNgramSize = options.noRepeatNgramSize
            let timing = ModelUtilities.positionalEncoding(length: maximumLength + 1, hiddenSize: configuration.hiddenSize)
            let result = search.search(
                initialIDs: [Int32](repeating: 0, count: batch), cache: decoderCache(for: inputs, copies: beamSize, plan: plan)
            ) { ids, step, cache in
                decodeStep(ids, step: step, cache: &cache, timingSignal: timing, plan: plan)
            }
            return DecodedBatch(
                sequences: result.sequences.map { Array($0[0].dropFirst()) }, scores: result.scores.map { $0[0] })
        case .greedy:
            return decodeTokenByToken(
                inputs, maximumLengths: limits ?? Array(repeating: maximumLength, count: batch),
                noRepeatNgramSize: options.noRepeatNgramSize, plan: plan
            ) { logProbs, _, _ in TokenChoice.mostProbable(logProbs) }
        case .sampling(let sampling):
            let rows = sentenceIndices ?? Array(0..<batch)
            precondition(rows.count == batch, "translate: \(rows.count) sentence indices for \(batch) sentences")
            let key = RandomKey(seed: sampling.seed)
            return decodeTokenByToken(
                inputs, maximumLengths: limits ?? Array(repeating: maximumLength, count: batch),
                noRepeatNgramSize: options.noRepeatNgramSize, plan: plan
            ) { logProbs, sentence, step in
                let uniform = Tensor.randomUniform([1], key: key.split(UInt64(rows[sentence])).split(UInt64(step))).scalar
                return TokenChoice.sample(logProbs, sampling, uniform: uniform)
            }
        }
    }

    /// Translates source ids [B, S] greedily: the most probable token at every step, until
    /// every sentence has produced EOS or S + `extraDecodeLength` tokens.
    ///
    /// - Returns: sequences (ids after the start id, up to and including EOS) and the sum
    ///   of their tokens' log probabilities.
    public func greedyDecode(
        _ inputs: IndexTensor, extraDecodeLength: Int? = nil, plan: ExecutionPlan = .dynamicShapes
    ) -> DecodedBatch {
        var options = DecodingOptions()
        options.strategy = .greedy
        options.extraDecodeLength = extraDecodeLength ?? configuration.extraDecodeLength
        return translate(inputs, options: options, plan: plan)
    }

    /// One token per sentence and step, chosen by `choose` from the row's log
    /// probabilities, until EOS or the sentence's length limit; finished sentences leave
    /// the batch. Scores are the sums of the chosen tokens' log probabilities.
    private func decodeTokenByToken(
        _ inputs: IndexTensor, maximumLengths: [Int], noRepeatNgramSize: Int?, plan: ExecutionPlan,
        choose: (_ logProbs: UnsafeBufferPointer<Float>, _ sentence: Int, _ step: Int) -> (id: Int32, logProb: Float)
    ) -> DecodedBatch {
        let batch = inputs.shape[0], width = configuration.vocabularySize
        let timing = ModelUtilities.positionalEncoding(length: (maximumLengths.max() ?? 0) + 1, hiddenSize: configuration.hiddenSize)
        var cache = decoderCache(for: inputs, copies: 1, plan: plan)
        var sequences = [[Int32]](repeating: [], count: batch)
        var scores = [Float](repeating: 0, count: batch)
        var active = Array(0..<batch)
        var step = 0
        while true {
            let staying = active.indices.filter {
                let b = active[$0]
                return step < maximumLengths[b] && sequences[b].last != 1
            }
            if staying.count < active.count {
                cache = cache.selectingRows(IndexTensor(staying.map(Int32.init)))
                active = staying.map { active[$0] }
            }
            if active.isEmpty { break }
            let last = IndexTensor(active.map { sequences[$0].last ?? 0 })
            var logits = decodeStep(last, step: step, cache: &cache, timingSignal: timing, plan: plan)
            if let n = noRepeatNgramSize {
                logits = BeamSearch.banningRepeats(logits, sequences: active.map { [0] + sequences[$0] }, length: nil, size: n)
            }
            logits.logSoftmax().withUnsafeBufferPointer { logProbs in
                for (a, b) in active.enumerated() {
                    let row = UnsafeBufferPointer(rebasing: logProbs[(a * width)..<((a + 1) * width)])
                    let (id, logProb) = choose(row, b, step)
                    sequences[b].append(id)
                    scores[b] += logProb
                }
            }
            step += 1
        }
        return DecodedBatch(sequences: sequences, scores: scores)
    }
}

/// How greedy decoding and sampling pick a token from one row of log probabilities.
enum TokenChoice {
    /// The most probable id (the lowest on ties, as top-k).
    static func mostProbable(_ logProbs: UnsafeBufferPointer<Float>) -> (id: Int32, logProb: Float) {
        var best = 0
        for j in 1..<logProbs.count where logProbs[j] > logProbs[best] { best = j }
        return (Int32(best), logProbs[best])
    }

    /// An id drawn with probability softmax(logProbs / temperature), restricted to the top
    /// k and to the nucleus of mass p, by the uniform number `uniform` in [0, 1).
    static func sample(
        _ logProbs: UnsafeBufferPointer<Float>, _ settings: DecodingOptions.Sampling, uniform: Float
    ) -> (id: Int32, logProb: Float) {
        // Candidates by decreasing probability (ties: lower id first), in double precision.
        var order = Array(0..<logProbs.count)
        order.sort { logProbs[$0] > logProbs[$1] || (logProbs[$0] == logProbs[$1] && $0 < $1) }
        if let k = settings.topK { order.removeLast(max(0, order.count - k)) }
        let temperature = Double(settings.temperature)
        let top = Double(logProbs[order[0]])
        var weights = order.map { j -> Double in
            let x = Double(logProbs[j])
            return x.isFinite ? Foundation.exp((x - top) / temperature) : 0
        }
        if let p = settings.topP {
            let total = weights.reduce(0, +)
            var mass = 0.0, kept = 0
            while kept < weights.count && (kept == 0 || mass < Double(p) * total) {
                mass += weights[kept]
                kept += 1
            }
            weights.removeLast(weights.count - kept)
            order.removeLast(order.count - kept)
        }
        let target = Double(uniform) * weights.reduce(0, +)
        var cumulative = 0.0
        for (i, weight) in weights.enumerated() {
            cumulative += weight
            if target < cumulative { return (Int32(order[i]), logProbs[order[i]]) }
        }
        let last = order[weights.count - 1]
        return (Int32(last), logProbs[last])
    }

}
