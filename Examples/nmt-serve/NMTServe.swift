// nmt-serve: an HTTP translation server (Hummingbird) on a trained model; see
// NMTServer.TranslationServer for the routes, and the README for an example.
import ArgumentParser
import Foundation
import Logging
import NMT
import NMTCommandLine
import NMTServer

@main
struct NMTServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-serve",
        abstract: "Serve translations over HTTP: POST /translate, GET /health, GET /metrics (Prometheus).")

    @OptionGroup var model: TranslationModelOptions
    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port, printed at start).") var port = 8080
    /// The server's default decoding; a request may ask for another strategy or beam.
    @OptionGroup var decoding: DecodingFlags
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = ServerLimits().maximumBodyBytes
    @Option(help: "Most texts per request.") var maxTexts = ServerLimits().maximumTexts
    @Option(help: "Longest text in characters.") var maxTextCharacters = ServerLimits().maximumTextCharacters
    @Option(help: "Sentences queued at most; requests past it get 503.") var maxQueuedSentences = ServerLimits().maximumQueuedSentences
    @Option(help: "Milliseconds a batch waits for more requests.") var batchWindowMs = ServerLimits().batchingWindowMilliseconds
    @Option(help: "Most sentences decoded together.") var maxBatchSentences = ServerLimits().maximumBatchSentences
    @Option(help: "Most beams a request may ask for.") var maxBeam = ServerLimits().maximumBeamSize
    @Option(help: "Seconds a client may take to send a request's headers (also the idle keep-alive time).")
    var headerTimeout = ServerLimits().headerTimeoutSeconds
    @Option(help: "Seconds a client may take to send a request's body.") var bodyTimeout = ServerLimits().bodyTimeoutSeconds
    @Option(help: "Connections open at once; more wait until one closes.") var maxConnections = ServerLimits().maximumConnections
    @Option(help: "Seconds in-flight requests may take to finish after SIGTERM or SIGINT.")
    var shutdownDeadline = ServerLimits().shutdownDeadlineSeconds

    func validate() throws {
        try requireRange(port, 0...65535, flag: "--port")
        try requireRange(maxBeam, FlagBounds.beams, flag: "--max-beam")
        try requireRange(decoding.beam, 1...maxBeam, flag: "--beam")
        if let problem = limits.problem { throw ValidationError(problem) }
    }

    /// The limits the flags set: request sizes, batching, connections.
    var limits: ServerLimits {
        var limits = ServerLimits()
        (limits.maximumBodyBytes, limits.maximumTexts, limits.maximumTextCharacters) = (maxBodyBytes, maxTexts, maxTextCharacters)
        (limits.maximumQueuedSentences, limits.batchingWindowMilliseconds) = (maxQueuedSentences, batchWindowMs)
        (limits.maximumBatchSentences, limits.maximumBeamSize) = (maxBatchSentences, maxBeam)
        (limits.headerTimeoutSeconds, limits.bodyTimeoutSeconds) = (headerTimeout, bodyTimeout)
        (limits.maximumConnections, limits.shutdownDeadlineSeconds) = (maxConnections, shutdownDeadline)
        return limits
    }

    func run() async throws {
        let loaded = try model.load(greedy: decoding.greedy)
        var translator = try loaded.translator()
        translator.options = decoding.options(for: loaded.decodingOptions)
        var server = try TranslationServer(translator: translator, limits: limits)
        server.host = host
        server.port = port
        let host = self.host
        try await server.run { port in
            // One line a script can wait for.
            FileHandle.standardOutput.write(Data("nmt-serve listening on http://\(host):\(port)\n".utf8))
        }
    }
}
