import NMTTensor

/// The reference's beam search (`SequenceBeamSearch`, see ``BeamSearch``) as a decoding
/// strategy: `beamSize` hypotheses per sentence, scored by log probability over
/// `((5 + length) / 6)^alpha`. The default strategy.
public struct BeamSearchStrategy: DecodingStrategy, Equatable {
    /// The reference's beams (4): the one place this default is written.
    public static let defaultBeamSize = 4
    /// The reference's length-normalization exponent (0.6): the one place this default is written.
    public static let defaultAlpha: Float = 0.6

    /// Beams per sentence.
    public var beamSize: Int
    /// Length-normalization exponent.
    public var alpha: Float

    /// Creates a beam search; the defaults are the reference's.
    public init(beamSize: Int = Self.defaultBeamSize, alpha: Float = Self.defaultAlpha) {
        self.beamSize = beamSize
        self.alpha = alpha
    }

    /// "beam search (4 beams, α 0.6)".
    public var description: String { "beam search (\(beamSize) beams, α \(alpha))" }

    /// Why the beam count or α cannot be used, or nil.
    public var problem: String? {
        if beamSize < 1 || beamSize > DecodingOptions.maximumBeamSize {
            return "beamSize is \(beamSize); must be in 1...\(DecodingOptions.maximumBeamSize)"
        }
        if !alpha.isFinite || alpha < 0 { return "alpha is \(alpha); must be finite and ≥ 0" }
        return nil
    }

    /// The best beam of each sentence and its normalized score.
    public func decode(_ request: DecodingRequest, with model: Transformer) -> DecodedBatch {
        var search = BeamSearch(
            beamSize: beamSize, alpha: alpha, maximumLength: request.maximumLength,
            vocabularySize: model.configuration.vocabularySize)
        search.sentenceMaximumLengths = request.sentenceMaximumLengths
        search.noRepeatNgramSize = request.noRepeatNgramSize
        // Only beam 0 is returned: a sentence stops once it is final.
        search.needsOnlyTheBest = true
        let timing = model.positionTable(length: request.maximumLength + 1)
        let result = search.search(
            initialIDs: [Int32](repeating: 0, count: request.batchSize),
            cache: model.decoderCache(for: request.inputs, copies: beamSize, plan: request.plan)
        ) { ids, step, cache in
            model.decodeStep(ids, step: step, cache: &cache, timingSignal: timing, plan: request.plan)
        }
        return DecodedBatch(sequences: result.sequences.map { Array($0[0].dropFirst()) }, scores: result.scores.map { $0[0] })
    }
}
