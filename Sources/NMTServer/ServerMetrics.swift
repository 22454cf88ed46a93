import CoreMetrics
import Prometheus

/// The server's metrics, kept in its own Prometheus registry (several servers in one
/// process, as in tests, do not mix) and exposed on `GET /metrics`.
struct ServerMetrics: Sendable {
    /// What `GET /metrics` prints.
    let registry: PrometheusCollectorRegistry
    /// Sentences per decode call (a histogram).
    let batchSentences: CoreMetrics.Recorder
    /// Sentences translated.
    let translatedSentences: CoreMetrics.Counter
    private let factory: PrometheusMetricsFactory

    init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["nmt_batch_sentences"] = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        factory.defaultDurationHistogramBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30].map {
            Duration.nanoseconds(Int64($0 * 1e9))
        }
        self.factory = factory
        batchSentences = CoreMetrics.Recorder(label: "nmt_batch_sentences", factory: factory)
        translatedSentences = CoreMetrics.Counter(label: "nmt_translated_sentences_total", factory: factory)
    }

    /// Counts a connection closed because its client was too slow (`"headers"` or `"body"`).
    func recordClientTimeout(duringBody: Bool) {
        CoreMetrics.Counter(
            label: "nmt_client_timeouts_total", dimensions: [("phase", duringBody ? "body" : "headers")], factory: factory
        ).increment()
    }

    /// Counts a finished request by route and status and records its latency.
    func recordRequest(route: String, status: Int, nanoseconds: Int64) {
        CoreMetrics.Counter(label: "nmt_requests_total", dimensions: [("route", route), ("status", String(status))], factory: factory)
            .increment()
        CoreMetrics.Timer(label: "nmt_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(nanoseconds)
    }
}
