import Foundation
import NMTTensor

/// Decoding as Hugging Face `transformers`' `generate()` does it for an encoder-decoder
/// model (matched against transformers 5.25's `_beam_search` and `_sample`), run on
/// swift-nmt's cached decoder: the search Marian / OPUS-MT models are published with
/// (their `generation_config.json` sets it up; see `MarianModelDirectory` in NMTInterop).
///
/// With ``beamSize`` 1 it is greedy search; otherwise beam search as `generate()` runs
/// it: each step keeps the 2·beams best continuations of all beams, a continuation that
/// ends in EOS (or reaches ``maximumLength``) among the first `beams` of them is a
/// finished hypothesis scored `sum of log probabilities / length^lengthPenalty` (length:
/// the generated tokens, EOS included), the other continuations go on, and a sentence
/// stops as ``earlyStopping`` says. The result is the best finished hypothesis.
///
/// Ids are swift-nmt's (padding 0, EOS 1); ``bannedIDs`` get −∞ log probability (the
/// `bad_words_ids` of single tokens), and with ``forcesEOSAtMaximumLength`` the last
/// allowed token is EOS (the `forced_eos_token_id`, with log probability 0 as
/// transformers sets it). Scores are computed in float32 in transformers' order of
/// operations; a near-tie that the two libraries' float rounding decides differently can
/// still choose another hypothesis.
public struct GenerateStrategy: DecodingStrategy, Equatable {
    /// When a sentence's beam search stops (`early_stopping`).
    public enum EarlyStopping: String, Sendable, Equatable {
        /// `False`, transformers' default: when `beams` hypotheses are finished and the best
        /// running beam, normalized at the current length, cannot beat the worst of them.
        case heuristic
        /// `True`: as soon as `beams` hypotheses are finished.
        case always
        /// `"never"`: as the heuristic, but a positive length penalty is estimated at the
        /// maximum length.
        case never
    }

    /// `num_beams` (1: greedy search).
    public var beamSize: Int
    /// `length_penalty`: finished hypotheses are scored sum / length^this (1 by default).
    public var lengthPenalty: Float
    /// `max_length`: tokens in an output counting the decoder's start token, so at most
    /// `maximumLength - 1` are generated.
    public var maximumLength: Int
    /// Whether the last allowed token is forced to be EOS (`forced_eos_token_id`).
    public var forcesEOSAtMaximumLength: Bool
    /// Ids never generated (`bad_words_ids` of one token; Marian bans padding).
    public var bannedIDs: [Int32]
    /// When a sentence's beam search stops.
    public var earlyStopping: EarlyStopping

    /// Creates the strategy; the defaults are `GenerationConfig`'s.
    public init(
        beamSize: Int = 1, lengthPenalty: Float = 1, maximumLength: Int = 20, forcesEOSAtMaximumLength: Bool = false,
        bannedIDs: [Int32] = [], earlyStopping: EarlyStopping = .heuristic
    ) {
        self.beamSize = beamSize
        self.lengthPenalty = lengthPenalty
        self.maximumLength = maximumLength
        self.forcesEOSAtMaximumLength = forcesEOSAtMaximumLength
        self.bannedIDs = bannedIDs
        self.earlyStopping = earlyStopping
    }

    /// "transformers generate(): beam 4, length penalty 1.0, max length 512".
    public var description: String {
        let search = beamSize == 1 ? "greedy" : "beam \(beamSize), length penalty \(lengthPenalty)"
        return "transformers generate(): \(search), max length \(maximumLength)"
    }

    /// Why the settings cannot be used, or nil.
    public var problem: String? {
        if beamSize < 1 { return "num_beams is \(beamSize); must be at least 1" }
        if maximumLength < 2 { return "max_length is \(maximumLength); must be at least 2 (the start token and one more)" }
        if !lengthPenalty.isFinite { return "length_penalty is \(lengthPenalty); must be finite" }
        if bannedIDs.contains(1) && !forcesEOSAtMaximumLength {
            return "EOS (id 1 here) is banned and not forced at the maximum length; no sentence could end"
        }
        return nil
    }

    /// Decodes the batch; ``maximumLength`` replaces the request's own limit (the source
    /// width + the extra decode length), and a per-sentence limit still applies.
    public func decode(_ request: DecodingRequest, with model: Transformer) -> DecodedBatch {
        var request = request
        var generated = maximumLength - 1
        if let positions = model.configuration.architecture.maximumPositions { generated = min(generated, positions) }
        request.maximumLength = generated
        request.sentenceMaximumLengths = request.sentenceMaximumLengths?.map { min($0, generated) }
        guard beamSize > 1 else {
            return model.decodeTokenByToken(request) { logProbs, _, step in greedyChoice(logProbs, step: step) }
        }
        return GenerateBeamSearch(strategy: self, model: model, request: request).run()
    }

    /// Whether `step` (0-based, the token after the start token) is the one forced to EOS.
    func forcesEOS(atStep step: Int) -> Bool { forcesEOSAtMaximumLength && step + 1 == maximumLength - 1 }

    /// The greedy token: EOS at the forced step, otherwise the most probable allowed id
    /// (the lowest on ties, as `torch.argmax`).
    private func greedyChoice(_ logProbs: UnsafeBufferPointer<Float>, step: Int) -> (id: Int32, logProb: Float) {
        if forcesEOS(atStep: step) { return (1, 0) }
        var best = GreedyStrategy.mostProbable(logProbs)
        // A banned id wins rarely (Marian bans padding): only then scan again without it.
        if bannedIDs.contains(best.id) {
            var index = -1
            for j in 0..<logProbs.count where !bannedIDs.contains(Int32(j)) && (index < 0 || logProbs[j] > logProbs[index]) {
                index = j
            }
            best = (Int32(index), logProbs[index])
        }
        return best
    }
}

extension DecodingStrategy where Self == GenerateStrategy {
    /// Decoding as transformers' `generate()` with these settings (see ``GenerateStrategy``).
    public static func generate(_ settings: GenerateStrategy) -> GenerateStrategy { settings }
}
