import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NMTSchedule
import NMTTransformer
import NIOCore
import ServiceLifecycle
import UnixSignals

/// An HTTP translation server on Hummingbird: a model and vocabulary loaded once,
/// requests batched together, limits on every input, Prometheus metrics, and a graceful
/// shutdown on SIGTERM or SIGINT that lets in-flight requests finish.
///
/// Routes:
/// - `POST /translate` with `{"text": "..."}` → `{"translation": "..."}`, or
///   `{"texts": [...]}` → `{"translations": [...]}`; optional `"mode"` (`"beam"`,
///   `"greedy"`, `"sample"`), `"beam_size"`, `"alpha"`, `"temperature"`, `"top_k"`,
///   `"top_p"`, `"seed"` (see ``TranslationRequest``). Errors are `{"error": "..."}` with
///   400 (malformed), 413 (past a limit), 503 (queue full) or 500.
/// - `GET /health` → `{"status": "ok", ...}`.
/// - `GET /metrics` → the Prometheus text format.
public struct TranslationServer: Sendable {
    /// The translator; its options are the defaults requests start from.
    public let translator: Translator
    /// Request and queue limits.
    public let limits: ServerLimits
    /// Address to listen on (127.0.0.1: this machine only).
    public var host = "127.0.0.1"
    /// Port; 0 picks a free one (reported to `onServerRunning`).
    public var port = 8080
    /// Where the server logs.
    public var logger = Logger(label: "nmt-serve")

    private let metrics = ServerMetrics()
    private let batcher: TranslationBatcher

    /// Creates a server.
    ///
    /// - Throws: ``RequestError/badRequest(_:)`` naming a limit that cannot be used.
    public init(translator: Translator, limits: ServerLimits = ServerLimits()) throws(RequestError) {
        if let problem = limits.problem { throw .badRequest(problem) }
        if let search = translator.options.strategy as? BeamSearchStrategy, search.beamSize > limits.maximumBeamSize {
            throw .badRequest("the default beam size \(search.beamSize) is above maximumBeamSize \(limits.maximumBeamSize)")
        }
        self.translator = translator
        self.limits = limits
        batcher = TranslationBatcher(translator: translator, limits: limits, metrics: metrics)
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting connections and lets in-flight
    /// requests finish, for at most ``ServerLimits/shutdownDeadlineSeconds``; then it
    /// cancels what is left and returns.
    ///
    /// - Parameter onServerRunning: called with the port once the server listens.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await ServiceGroup(configuration: serviceGroupConfiguration(onServerRunning: onServerRunning)).run()
    }

    /// The service group ``run(onServerRunning:)`` runs: the application, shut down
    /// gracefully on `signals` (SIGTERM and SIGINT) within
    /// ``ServerLimits/shutdownDeadlineSeconds``, after which what is left is cancelled.
    /// (ServiceLifecycle refuses a signal that is both a shutdown and a cancellation signal.)
    public func serviceGroupConfiguration(
        signals: [UnixSignal] = [.sigterm, .sigint], onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> ServiceGroupConfiguration {
        var configuration = ServiceGroupConfiguration(
            services: [makeApplication(onServerRunning: onServerRunning)], gracefulShutdownSignals: signals, logger: logger)
        configuration.maximumGracefulShutdownDuration = .nanoseconds(Int64(limits.shutdownDeadlineSeconds * 1e9))
        configuration.maximumCancellationDuration = .seconds(5)
        return configuration
    }

    /// The Hummingbird application, for running inside a caller's own `ServiceGroup` (tests
    /// trigger its graceful shutdown that way).
    public func makeApplication(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some Service {
        let router = Router()
        router.post("translate") { request, _ in await self.respond(route: "translate") { try await self.translate(request) } }
        router.get("health") { _, _ in
            await self.respond(route: "health") {
                HealthResponse(
                    vocabularySize: self.translator.tokenizer.vocabularySize, queuedSentences: await self.batcher.queuedSentences)
            }
        }
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.registry.emitToBuffer())))
        }
        let (limits, metrics) = (self.limits, self.metrics)
        let http = HTTP1Channel.Configuration(additionalChannelHandlers: [
            ClientDeadlineHandler(
                headerTimeout: .nanoseconds(Int64(limits.headerTimeoutSeconds * 1e9)),
                bodyTimeout: .nanoseconds(Int64(limits.bodyTimeoutSeconds * 1e9)),
                onTimeout: { metrics.recordClientTimeout(duringBody: $0) })
        ])
        return Application(
            router: router, server: .http1(configuration: http),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "nmt-serve",
                availableConnectionsDelegate: MaximumAvailableConnections(limits.maximumConnections, logger: logger)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// Reads, parses and checks a request, encodes its texts once (refusing one that is
    /// too long, by its index in this request: inside a shared batch one long text would
    /// fail them all) and translates them alongside other requests.
    private func translate(_ request: Request) async throws -> TranslationResponse {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limits.maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            throw RequestError.tooLarge("the body is larger than \(limits.maximumBodyBytes) bytes")
        } catch {
            // A malformed chunked encoding, a client that went away or one too slow (the
            // connection is closed): the client's fault, and no reason to log an error.
            throw RequestError.badRequest("the request body could not be read: \(error)")
        }
        let parsed = try TranslationRequest(body: Array(buffer: body), defaults: translator.options, limits: limits)
        let encoded = try translator.encode(parsed.texts)
        for (i, sentence) in encoded.enumerated() where sentence.ids.count > translator.maximumInputTokens {
            throw RequestError.tooLarge("text \(i) encodes to \(sentence.ids.count) subtokens; at most \(translator.maximumInputTokens)")
        }
        let translations = try await batcher.translate(encoded, options: parsed.options)
        metrics.translatedSentences.increment(by: translations.count)
        return TranslationResponse(translations: translations, isSingle: parsed.isSingle)
    }

    /// Runs a handler, turns its result or error into a JSON response, and records metrics.
    private func respond<Body: Encodable>(route: String, _ body: () async throws -> Body) async -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        var status = 200
        var data: Data
        do {
            data = try Self.encoder.encode(try await body())
        } catch let error as RequestError {
            status = error.statusCode
            data = Self.encode(ErrorResponse(error: error.description))
            if status < 500 { logger.debug("request refused (\(status)): \(error)") }
        } catch {
            status = 500
            data = Self.encode(ErrorResponse(error: "\(error)"))
            logger.error("request failed: \(error)")
        }
        metrics.recordRequest(
            route: route, status: status, nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - start))
        return Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Compact JSON with sorted keys and unescaped slashes.
    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// An error body (it cannot fail to encode: one string).
    private static func encode(_ response: ErrorResponse) -> Data {
        (try? encoder.encode(response)) ?? Data(#"{"error":"internal error"}"#.utf8)
    }
}
