import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import NMTData
import NMTSchedule
import NMTServer
import NMTTensor
import NMTTransformer
import ServiceLifecycle
import XCTest

/// nmt-serve's server, started inside the test on a free loopback port and spoken to over
/// real HTTP.
final class TranslationServerTests: XCTestCase {
    /// An untrained model with a vocabulary built from a few sentences: its translations are
    /// noise, but the same noise the translator gives directly.
    static let translator: Translator = {
        let text = """
            Where is the station? The weather is nice today. I have no idea. Good morning.
            Wo ist der Bahnhof? Das Wetter ist heute schön. Ich habe keine Ahnung. Guten Morgen.
            """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nmt-serve-\(UUID().uuidString).txt")
        try! Data((0..<5).map { _ in text + "\n" }.joined().utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let tokenizer = try! VocabularyBuilder.build(files: [file], targetSize: 0, threshold: 0, minCount: 1)
        let configuration = TransformerConfiguration(
            vocabularySize: tokenizer.vocabularySize, hiddenSize: 16, layerCount: 1, headCount: 2, filterSize: 32)
        var translator = try! Translator(model: try! Transformer(configuration: configuration, key: RandomKey(seed: 5)), tokenizer: tokenizer)
        translator.extraDecodeLength = 5
        return translator
    }()

    /// A running server: its base URL and the service group that stops it.
    struct Running: Sendable {
        let url: String
        let group: ServiceGroup
        let task: Task<Void, any Error>

        /// Shuts the server down gracefully; a server still running after `seconds` fails the
        /// test (and is cancelled) instead of hanging the suite.
        func stop(within seconds: Double = 20, file: StaticString = #filePath, line: UInt = #line) async throws {
            await group.triggerGracefulShutdown()
            let task = self.task
            let stopped = try await withThrowingTaskGroup(of: Bool.self) { waiting in
                waiting.addTask { try await task.value; return true }
                waiting.addTask { try await Task.sleep(for: .seconds(seconds)); return false }
                let first = try await waiting.next()!
                waiting.cancelAll()
                return first
            }
            if !stopped {
                task.cancel()
                XCTFail("the server did not stop within \(seconds) s", file: file, line: line)
            }
        }
    }

    static func start(_ limits: ServerLimits = ServerLimits()) async throws -> Running {
        var server = try TranslationServer(translator: Self.translator, limits: limits)
        server.port = 0
        server.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        // nmt-serve's own group, without its signal handlers (the test process keeps SIGINT).
        let group = ServiceGroup(configuration: server.serviceGroupConfiguration(signals: []) { port in portContinuation.yield(port) })
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let reported = await iterator.next()
        let port = try XCTUnwrap(reported)
        return Running(url: "http://127.0.0.1:\(port)", group: group, task: task)
    }

    /// A response: its status and body.
    struct Reply: Sendable {
        let status: Int
        let text: String
        /// The body parsed as a JSON object (empty if it is not one).
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    }

    /// Sends a request.
    static func send(_ method: String, _ url: String, body: Data? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        return Reply(status: (response as! HTTPURLResponse).statusCode, text: String(decoding: data, as: UTF8.self))
    }

    static func post(_ running: Running, _ json: String) async throws -> Reply {
        try await Self.send("POST", running.url + "/translate", body: Data(json.utf8))
    }

    /// `text` and `texts` give the translator's translations, for beam search and greedy
    /// decoding; /health answers.
    func testTranslatesLikeTheTranslator() async throws {
        let running = try await Self.start()
        let lines = ["Where is the station?", "Good morning.", "I have no idea."]
        let single = try await Self.post(running, #"{"text": "Where is the station?"}"#)
        XCTAssertEqual(single.status, 200, single.text)
        XCTAssertEqual(single.json["translation"] as? String, try Self.translator.translate(lines[0]))
        let many = try await Self.post(running, #"{"texts": ["Where is the station?", "Good morning.", "I have no idea."]}"#)
        XCTAssertEqual(many.json["translations"] as? [String], try Self.translator.translate(lines))
        var greedy = Self.translator
        greedy.options.strategy = .greedy
        let greedyResponse = try await Self.post(running, #"{"texts": ["Where is the station?", "Good morning."], "mode": "greedy"}"#)
        XCTAssertEqual(greedyResponse.json["translations"] as? [String], try greedy.translate(Array(lines[..<2])))
        let health = try await Self.send("GET", running.url + "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json["status"] as? String, "ok")
        try await running.stop()
    }

    /// Requests arriving together decode together: 8 concurrent one-text requests take
    /// fewer than 8 decode calls, and /metrics says so.
    func testConcurrentRequestsShareDecodeCalls() async throws {
        var limits = ServerLimits()
        limits.batchingWindowMilliseconds = 200
        let running = try await Self.start(limits)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<8 {
                let body = "{\"text\": \"Good morning number \(i).\"}"
                group.addTask { [running] in try await TranslationServerTests.post(running, body).status }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(statuses, Array(repeating: 200, count: 8))
        let metrics = try await Self.send("GET", running.url + "/metrics").text
        func value(_ name: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        XCTAssertEqual(value("nmt_batch_sentences_sum"), 8, metrics)
        XCTAssertLessThan(try XCTUnwrap(value("nmt_batch_sentences_count")), 8, "some requests shared a decode call")
        XCTAssertTrue(metrics.contains(#"nmt_requests_total{route="translate",status="200"} 8"#), metrics)
        XCTAssertTrue(metrics.contains("nmt_request_duration_seconds_bucket"), metrics)
        try await running.stop()
    }

    /// Malformed, mistyped, empty, oversized and invalid UTF-8 requests get 4xx and a JSON
    /// error that says what is wrong.
    /// The typed responses write the wire format clients read: "translation" for one text,
    /// "translations" for several, snake-case health fields, an "error" string.
    func testResponsesEncodeToTheWireFormat() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func json(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        XCTAssertEqual(try json(TranslationResponse(translations: ["Hallo/Welt"], isSingle: true)), #"{"translation":"Hallo/Welt"}"#)
        XCTAssertEqual(try json(TranslationResponse(translations: ["a", "ü"], isSingle: false)), #"{"translations":["a","ü"]}"#)
        XCTAssertEqual(
            try json(HealthResponse(vocabularySize: 8191, queuedSentences: 3)),
            #"{"queued_sentences":3,"status":"ok","vocabulary_size":8191}"#)
        XCTAssertEqual(try json(ErrorResponse(error: #"say "hi""#)), #"{"error":"say \"hi\""}"#)
    }

    func testBadRequestsGetJSONErrors() async throws {
        var limits = ServerLimits()
        limits.maximumTexts = 3
        limits.maximumTextCharacters = 40
        limits.maximumBodyBytes = 300
        let running = try await Self.start(limits)
        let cases: [(Data, Int, String)] = [
            (Data("nope".utf8), 400, "not valid JSON"),
            (Data("[1, 2]".utf8), 400, "must be a JSON object"),
            (Data(#"{"texts": 5}"#.utf8), 400, "\"texts\" must be an array of strings"),
            (Data(#"{"texts": ["a", 7]}"#.utf8), 400, "\"texts\" must be an array of strings"),
            (Data(#"{"text": "a", "alpha": "high"}"#.utf8), 400, "\"alpha\" must be a number"),
            (Data(#"{"text": "a", "beam_size": 2.5}"#.utf8), 400, "\"beam_size\" must be an integer"),
            (Data(#"{"text": "a", "beam_size": 0}"#.utf8), 400, "\"beam_size\" is 0; must be in 1...16"),
            (Data(#"{"text": "a", "mode": "fast"}"#.utf8), 400, "\"mode\" must be"),
            (Data(#"{"text": "a", "temperature": 2}"#.utf8), 400, "apply to \"mode\": \"sample\" only"),
            (Data(#"{"text": "a", "colour": 1}"#.utf8), 400, "unknown field \"colour\""),
            (Data(#"{}"#.utf8), 400, "give \"text\""),
            (Data(#"{"texts": []}"#.utf8), 400, "\"texts\" is empty"),
            (Data(#"{"text": "   "}"#.utf8), 400, "text 0 is empty"),
            (Data([0x7B, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]), 400, "not valid UTF-8"),
            (Data(#"{"texts": ["a", "b", "c", "d"]}"#.utf8), 413, "4 texts; at most 3"),
            (Data(("{\"text\": \"" + String(repeating: "a", count: 41) + "\"}").utf8), 413, "41 characters; at most 40"),
            (Data(("{\"text\": \"" + String(repeating: "a ", count: 200) + "\"}").utf8), 413, "larger than 300 bytes"),
        ]
        for (body, status, message) in cases {
            let response = try await Self.send("POST", running.url + "/translate", body: body)
            XCTAssertEqual(response.status, status, "\(String(decoding: body, as: UTF8.self)): \(response.text)")
            XCTAssertTrue((response.json["error"] as? String)?.contains(message) == true, "expected \(message): \(response.text)")
        }
        let unknown = try await Self.send("GET", running.url + "/nothing-here")
        XCTAssertEqual(unknown.status, 404)
        // The server still serves after all that.
        let fine = try await Self.post(running, #"{"text": "Good morning."}"#)
        XCTAssertEqual(fine.status, 200)
        try await running.stop()
    }

    /// A full queue answers 503 at once instead of queueing without bound.
    func testFullQueueGets503() async throws {
        var limits = ServerLimits()
        limits.maximumQueuedSentences = 2
        limits.batchingWindowMilliseconds = 500
        let running = try await Self.start(limits)
        let twoTexts = #"{"texts": ["Good morning.", "I have no idea."]}"#
        let first = Task { [running] in try await TranslationServerTests.post(running, twoTexts) }
        try await Task.sleep(for: .milliseconds(150))
        let second = try await Self.post(running, #"{"text": "Where is the station?"}"#)
        XCTAssertEqual(second.status, 503, second.text)
        XCTAssertTrue((second.json["error"] as? String)?.contains("busy") == true, second.text)
        let firstResponse = try await first.value
        XCTAssertEqual(firstResponse.status, 200)
        try await running.stop()
    }

    /// A graceful shutdown (what SIGTERM triggers) lets a request in flight finish.
    func testGracefulShutdownFinishesRequestsInFlight() async throws {
        var limits = ServerLimits()
        limits.batchingWindowMilliseconds = 400
        let running = try await Self.start(limits)
        let oneText = #"{"text": "Good morning."}"#
        let inFlight = Task { [running] in try await TranslationServerTests.post(running, oneText) }
        try await Task.sleep(for: .milliseconds(150))
        await running.group.triggerGracefulShutdown()
        let response = try await inFlight.value
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.json["translation"] as? String, try Self.translator.translate("Good morning."))
        try await running.task.value
    }
}
