/// How a translation is decoded: the strategy, and limits that change its results.
///
/// The defaults are the reference's (`translate.py`): beam search with
/// ``BeamSearchStrategy/defaultBeamSize`` beams and α ``BeamSearchStrategy/defaultAlpha``,
/// up to the batch's padded source width + ``defaultExtraDecodeLength`` tokens, nothing
/// else. Every other setting changes the translations and is off until asked for.
public struct DecodingOptions: Sendable, Equatable, CustomStringConvertible {
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

    /// translate.py's extra decode length (100): the one place this default is written.
    public static let defaultExtraDecodeLength = 100

    /// The strategy; the reference's beam search by default.
    public var strategy: any DecodingStrategy = BeamSearchStrategy()
    /// Decoding stops after the batch's padded source width + this many tokens
    /// (``defaultExtraDecodeLength``).
    public var extraDecodeLength = Self.defaultExtraDecodeLength
    /// Off by default. A sentence also stops at its own limit: the undertrained model's
    /// runaway repetitions end sooner, and other sentences of its batch are unaffected.
    public var lengthLimit: LengthLimit?
    /// Off by default. No n-gram of this size appears twice in an output (fairseq's,
    /// OpenNMT's and CTranslate2's `no_repeat_ngram_size`): a token that would repeat one
    /// gets probability 0.
    public var noRepeatNgramSize: Int?

    /// The reference's settings.
    public init() {}

    /// Options of `strategy` with the other settings at their defaults.
    public init(strategy: any DecodingStrategy) { self.strategy = strategy }

    /// Equal when the strategies and every limit are equal.
    public static func == (lhs: DecodingOptions, rhs: DecodingOptions) -> Bool {
        lhs.strategy.isEqual(to: rhs.strategy) && lhs.extraDecodeLength == rhs.extraDecodeLength
            && lhs.lengthLimit == rhs.lengthLimit && lhs.noRepeatNgramSize == rhs.noRepeatNgramSize
    }

    /// Whether a static-shape device can decode with these options: only the reference's
    /// plain beam search (no other strategy, length limit or n-gram blocking) has the
    /// fixed shapes such a device compiles.
    public var runsOnStaticShapes: Bool {
        var plain = DecodingOptions(strategy: strategy)
        plain.extraDecodeLength = extraDecodeLength
        return strategy is BeamSearchStrategy && self == plain
    }

    /// The strategy and every limit that is set, in words.
    public var description: String {
        var text = "\(strategy), up to the source width + \(extraDecodeLength) tokens"
        if let lengthLimit { text += ", at most \(lengthLimit.ratio) × source + \(lengthLimit.offset) tokens per sentence" }
        if let noRepeatNgramSize { text += ", no repeated \(noRepeatNgramSize)-gram" }
        return text
    }

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
        if let problem = strategy.problem { return problem }
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
