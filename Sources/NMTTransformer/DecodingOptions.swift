/// How a translation is decoded: the search, and limits that change its results.
///
/// The defaults are the reference's (`translate.py`): beam search with 4 beams and
/// α = 0.6, up to the batch's padded source width + 100 tokens, nothing else. Every other
/// setting changes the translations and is off until asked for.
public struct DecodingOptions: Sendable, Equatable {
    /// The search.
    public enum Strategy: Sendable, Equatable {
        /// The reference's beam search (`SequenceBeamSearch`).
        case beamSearch(beamSize: Int, alpha: Float)
        /// The most probable token at every step.
        case greedy
        /// A token drawn at every step from the model's distribution (see ``Sampling``).
        case sampling(Sampling)
    }

    /// Ancestral sampling settings.
    public struct Sampling: Sendable, Equatable {
        /// Logits are divided by it before the softmax (below 1 sharpens, above 1 flattens).
        public var temperature: Float
        /// Draw only among the k most probable tokens (nil: all).
        public var topK: Int?
        /// Draw only among the most probable tokens whose probabilities add up to at least p
        /// (nucleus sampling; nil: all).
        public var topP: Float?
        /// The random stream: sentence i of a call draws from `seed` split by its position i
        /// in the input, so its draws do not depend on which sentences share its batch.
        public var seed: UInt64

        /// Creates sampling settings.
        public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 0) {
            self.temperature = temperature
            self.topK = topK
            self.topP = topP
            self.seed = seed
        }
    }

    /// A per-sentence output limit of `ratio · S + offset` tokens, S the sentence's source
    /// length in subtokens with EOS (fairseq's `max_len_a`, `max_len_b`).
    public struct LengthLimit: Sendable, Equatable {
        /// Tokens allowed per source token.
        public var ratio: Float
        /// Tokens allowed in addition.
        public var offset: Int

        /// Creates a limit.
        public init(ratio: Float, offset: Int) {
            self.ratio = ratio
            self.offset = offset
        }

        /// The limit for a source of `length` tokens (at least 1). Computed in Double and
        /// clamped, so that no ratio or offset can overflow (a limit past the search's own
        /// maximum length changes nothing).
        public func tokens(forSourceLength length: Int) -> Int {
            let tokens = (Double(ratio) * Double(length)).rounded(.down) + Double(offset)
            guard tokens.isFinite else { return tokens < 0 ? 1 : Int(Int32.max) }
            return Int(min(max(tokens, 1), Double(Int32.max)))
        }
    }

    /// The search; beam search with 4 beams and α = 0.6 by default.
    public var strategy: Strategy = .beamSearch(beamSize: 4, alpha: 0.6)
    /// Decoding stops after the batch's padded source width + this many tokens (100, as
    /// translate.py).
    public var extraDecodeLength = 100
    /// Off by default. A sentence also stops at its own limit: the undertrained model's
    /// runaway repetitions end sooner, and other sentences of its batch are unaffected.
    public var lengthLimit: LengthLimit?
    /// Off by default. No n-gram of this size appears twice in an output (fairseq's,
    /// OpenNMT's and CTranslate2's `no_repeat_ngram_size`): a token that would repeat one
    /// gets probability 0.
    public var noRepeatNgramSize: Int?

    /// The reference's settings.
    public init() {}

    /// The most beams any search takes (1,000): the search keeps beam × vocabulary
    /// candidates per sentence, so a beam this large already needs gigabytes for a base
    /// vocabulary; larger values could only exhaust memory or overflow sizes.
    public static let maximumBeamSize = 1_000
    /// The most tokens decoded past the source width (10,000; the reference uses 100):
    /// it sizes the position table and every cache.
    public static let maximumExtraDecodeLength = 10_000
    /// The largest ``LengthLimit/ratio`` (1,000) and the largest magnitude of its offset
    /// (10,000); the search's own maximum length caps the limit anyway.
    public static let maximumLengthRatio: Float = 1_000, maximumLengthOffset = 10_000
    /// The longest n-gram ``noRepeatNgramSize`` may block (10,000: longer than any output).
    public static let maximumNgramSize = 10_000

    /// Why these options cannot be used, or nil when they can: a value out of its range,
    /// each checked before anything is sized from it.
    public var problem: String? {
        switch strategy {
        case .beamSearch(let beamSize, let alpha):
            if beamSize < 1 || beamSize > Self.maximumBeamSize {
                return "beamSize is \(beamSize); must be in 1...\(Self.maximumBeamSize)"
            }
            if !alpha.isFinite || alpha < 0 { return "alpha is \(alpha); must be finite and ≥ 0" }
        case .greedy: break
        case .sampling(let sampling):
            if !(sampling.temperature > 0) || !sampling.temperature.isFinite {
                return "temperature is \(sampling.temperature); must be positive and finite"
            }
            if let k = sampling.topK, k < 1 { return "topK is \(k); must be at least 1" }
            if let p = sampling.topP, !(p > 0 && p <= 1) { return "topP is \(p); must be in (0, 1]" }
        }
        if extraDecodeLength < 0 || extraDecodeLength > Self.maximumExtraDecodeLength {
            return "extraDecodeLength is \(extraDecodeLength); must be in 0...\(Self.maximumExtraDecodeLength)"
        }
        if let limit = lengthLimit {
            if !limit.ratio.isFinite || limit.ratio < 0 || limit.ratio > Self.maximumLengthRatio {
                return "lengthLimit.ratio is \(limit.ratio); must be in 0...\(Int(Self.maximumLengthRatio))"
            }
            if limit.offset < -Self.maximumLengthOffset || limit.offset > Self.maximumLengthOffset {
                return "lengthLimit.offset is \(limit.offset); must be in -\(Self.maximumLengthOffset)...\(Self.maximumLengthOffset)"
            }
        }
        if let n = noRepeatNgramSize, n < 1 || n > Self.maximumNgramSize {
            return "noRepeatNgramSize is \(n); must be in 1...\(Self.maximumNgramSize)"
        }
        return nil
    }
}

/// Tokens that would complete an n-gram the sequence already holds.
enum RepeatedNgrams {
    /// The ids banned after `sequence` (generated ids, no start id) for n-grams of size `n`.
    static func banned(after sequence: ArraySlice<Int32>, size n: Int) -> [Int32] {
        guard n >= 1, sequence.count >= n - 1 else { return [] }
        if n == 1 { return Array(sequence) }
        let tail = sequence.suffix(n - 1)
        var result: [Int32] = []
        var start = sequence.startIndex
        while start + n - 1 < sequence.endIndex {
            if sequence[start..<(start + n - 1)].elementsEqual(tail) { result.append(sequence[start + n - 1]) }
            start += 1
        }
        return result
    }
}
