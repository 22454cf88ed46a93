import NMTTensor

/// The most probable token at every step, until EOS or the sentence's limit; the score is
/// the sum of the chosen tokens' log probabilities.
public struct GreedyStrategy: DecodingStrategy, Equatable {
    /// Creates the strategy (it has no settings).
    public init() {}

    /// "greedy decoding".
    public var description: String { "greedy decoding" }

    /// Nil: greedy decoding has no settings to get wrong.
    public var problem: String? { nil }

    /// Greedy decoding of the batch; finished sentences leave it.
    public func decode(_ request: DecodingRequest, with model: Transformer) -> DecodedBatch {
        model.decodeTokenByToken(request) { logProbs, _, _ in Self.mostProbable(logProbs) }
    }

    /// The most probable id (the lowest on ties, as top-k).
    static func mostProbable(_ logProbs: UnsafeBufferPointer<Float>) -> (id: Int32, logProb: Float) {
        var best = 0
        for j in 1..<logProbs.count where logProbs[j] > logProbs[best] { best = j }
        return (Int32(best), logProbs[best])
    }

}
