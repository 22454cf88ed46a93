import NMTLayers
import NMTTensor

extension Transformer {
    /// The loop of the strategies that pick one token per sentence and step (greedy,
    /// sampling): the token is chosen by `choose` from the row's log
    /// probabilities, until EOS or the sentence's length limit; finished sentences leave
    /// the batch. Scores are the sums of the chosen tokens' log probabilities.
    func decodeTokenByToken(
        _ request: DecodingRequest,
        choose: (_ logProbs: UnsafeBufferPointer<Float>, _ sentence: Int, _ step: Int) -> (id: Int32, logProb: Float)
    ) -> DecodedBatch {
        let (inputs, plan, maximumLengths) = (request.inputs, request.plan, request.limits)
        let batch = inputs.shape[0], width = configuration.vocabularySize
        let timing = positionTable(length: (maximumLengths.max() ?? 0) + 1)
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
            if let n = request.noRepeatNgramSize {
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
