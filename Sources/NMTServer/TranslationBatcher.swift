import Dispatch
import NMTSchedule
import NMTTransformer

/// Collects the texts of concurrent requests into shared decode calls: the first request
/// of a batch waits ``ServerLimits/batchingWindowMilliseconds`` for others with the same
/// decoding options, then up to ``ServerLimits/maximumBatchSentences`` sentences decode
/// together, off the concurrency pool, one call at a time (each call keeps every core
/// busy). Requests arriving while a call runs form the next batch.
actor TranslationBatcher {
    private struct Job {
        let texts: [EncodedSentence]
        let options: DecodingOptions
        let continuation: CheckedContinuation<[String], any Error>
    }

    private let translator: Translator
    private let limits: ServerLimits
    private let metrics: ServerMetrics
    private var pending: [Job] = []
    /// Sentences waiting or decoding.
    private(set) var queuedSentences = 0
    private var isDecoding = false
    private var flushIsScheduled = false

    init(translator: Translator, limits: ServerLimits, metrics: ServerMetrics) {
        self.translator = translator
        self.limits = limits
        self.metrics = metrics
    }

    /// The translations of `texts` (encoded once, by the server), in order, decoded with
    /// `options` alongside other requests'.
    ///
    /// - Throws: ``RequestError/overloaded(_:)`` when the queue cannot take them (nothing is
    ///   queued then), or the translator's error.
    func translate(_ texts: [EncodedSentence], options: DecodingOptions) async throws -> [String] {
        guard queuedSentences + texts.count <= limits.maximumQueuedSentences else {
            throw RequestError.overloaded(
                "the server is busy (\(queuedSentences) sentences queued, at most \(limits.maximumQueuedSentences)); retry later")
        }
        queuedSentences += texts.count
        return try await withCheckedThrowingContinuation { continuation in
            pending.append(Job(texts: texts, options: options, continuation: continuation))
            scheduleFlush(after: limits.batchingWindowMilliseconds)
        }
    }

    private func scheduleFlush(after milliseconds: Int) {
        guard !isDecoding, !flushIsScheduled, !pending.isEmpty else { return }
        flushIsScheduled = true
        Task {
            if milliseconds > 0 { try? await Task.sleep(for: .milliseconds(milliseconds)) }
            await self.flush()
        }
    }

    /// Decodes one batch: the oldest job and the later ones with its options, in arrival
    /// order, up to the sentence limit.
    private func flush() async {
        flushIsScheduled = false
        guard !isDecoding, let options = pending.first?.options else { return }
        var batch: [Job] = [], rest: [Job] = [], sentences = 0
        for job in pending {
            if job.options == options && (batch.isEmpty || sentences + job.texts.count <= limits.maximumBatchSentences) {
                batch.append(job)
                sentences += job.texts.count
            } else {
                rest.append(job)
            }
        }
        pending = rest
        isDecoding = true
        metrics.batchSentences.record(sentences)
        let translator = {
            var translator = self.translator
            translator.options = options
            return translator
        }()
        let texts = batch.flatMap(\.texts)
        let result: Result<[String], any Error> = await withCheckedContinuation { continuation in
            // Decoding blocks its thread for the whole call: keep it off the concurrency pool.
            DispatchQueue.global().async {
                continuation.resume(returning: Result { try translator.translate(encoded: texts) })
            }
        }
        isDecoding = false
        queuedSentences -= sentences
        var offset = 0
        for job in batch {
            switch result {
            case .success(let translations):
                job.continuation.resume(returning: Array(translations[offset..<(offset + job.texts.count)]))
            case .failure(let error):
                job.continuation.resume(throwing: error)
            }
            offset += job.texts.count
        }
        // Requests that arrived meanwhile have waited long enough.
        scheduleFlush(after: 0)
    }
}
