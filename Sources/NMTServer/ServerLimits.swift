/// What one request and the whole server may ask for; past a limit a request gets a 4xx
/// (or 503 when the queue is full) instead of unbounded work or memory.
public struct ServerLimits: Sendable, Equatable {
    /// Largest request body accepted (1 MiB); a larger one gets 413.
    public var maximumBodyBytes = 1 << 20
    /// Most texts in one request (64); more get 413.
    public var maximumTexts = 64
    /// Longest text in characters (2,000); a longer one gets 413. (The translator also
    /// refuses texts that encode to more subtokens than its maximum input.)
    public var maximumTextCharacters = 2_000
    /// Sentences waiting or decoding at once (1,024); a request that would exceed it gets
    /// 503, so overload costs a retry, not memory.
    public var maximumQueuedSentences = 1_024
    /// How long a batch waits for more requests after the first arrives (5 ms): requests
    /// arriving together decode together.
    public var batchingWindowMilliseconds = 5
    /// Most sentences decoded in one call (64, two of translate.py's batches); a request
    /// with more decodes alone.
    public var maximumBatchSentences = 64

    /// The defaults.
    public init() {}

    /// Why these limits cannot be used, or nil.
    public var problem: String? {
        let values = [
            ("maximumBodyBytes", maximumBodyBytes), ("maximumTexts", maximumTexts),
            ("maximumTextCharacters", maximumTextCharacters), ("maximumQueuedSentences", maximumQueuedSentences),
            ("maximumBatchSentences", maximumBatchSentences),
        ]
        if let (name, value) = values.first(where: { $0.1 < 1 }) { return "\(name) is \(value); must be at least 1" }
        if batchingWindowMilliseconds < 0 { return "batchingWindowMilliseconds is \(batchingWindowMilliseconds); must not be negative" }
        return nil
    }
}
