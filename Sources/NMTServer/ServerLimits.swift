import NMTTransformer

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
    /// Most beams a request may ask for (16): beam search's memory and time grow with the
    /// beam, and past 16 translations do not improve (they get shorter). A larger
    /// `"beam_size"` gets 400 naming the field and this limit.
    public var maximumBeamSize = 16
    /// How long a client may take to send a request's headers, counted from the connection's
    /// start or the end of its previous response (10 s); a connection past it is closed. This
    /// is also how long an idle keep-alive connection stays open.
    public var headerTimeoutSeconds: Double = 10
    /// How long a client may take to send a request's body once its headers arrived (30 s);
    /// past it the connection is closed and the request is counted as a client error.
    public var bodyTimeoutSeconds: Double = 30
    /// Connections open at once (256): further clients wait in the kernel's accept queue
    /// until one closes, so slow or idle clients cannot take every file descriptor.
    public var maximumConnections = 256
    /// After SIGTERM or SIGINT, how long in-flight requests may take to finish (30 s) before
    /// the server stops anyway.
    public var shutdownDeadlineSeconds: Double = 30

    /// The defaults.
    public init() {}

    /// Why these limits cannot be used, or nil.
    public var problem: String? {
        let values = [
            ("maximumBodyBytes", maximumBodyBytes), ("maximumTexts", maximumTexts),
            ("maximumTextCharacters", maximumTextCharacters), ("maximumQueuedSentences", maximumQueuedSentences),
            ("maximumBatchSentences", maximumBatchSentences), ("maximumConnections", maximumConnections),
        ]
        if let (name, value) = values.first(where: { $0.1 < 1 }) { return "\(name) is \(value); must be at least 1" }
        if !(0...10_000).contains(batchingWindowMilliseconds) {
            return "batchingWindowMilliseconds is \(batchingWindowMilliseconds); must be in 0...10000"
        }
        if !(1...DecodingOptions.maximumBeamSize).contains(maximumBeamSize) {
            return "maximumBeamSize is \(maximumBeamSize); must be in 1...\(DecodingOptions.maximumBeamSize)"
        }
        let durations = [
            ("headerTimeoutSeconds", headerTimeoutSeconds), ("bodyTimeoutSeconds", bodyTimeoutSeconds),
            ("shutdownDeadlineSeconds", shutdownDeadlineSeconds),
        ]
        if let (name, value) = durations.first(where: { !($0.1 > 0 && $0.1 <= 86_400) }) {
            return "\(name) is \(value); must be more than 0 and at most 86400 (a day)"
        }
        return nil
    }
}
