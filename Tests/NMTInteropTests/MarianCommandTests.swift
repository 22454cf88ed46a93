import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NMTInterop
import NMTSchedule
import NMTTestSupport
import XCTest

/// nmt-translate on a Hugging Face Marian directory: no --vocab, generate()'s decoding by
/// default, --greedy for its greedy search, and clear refusals.
final class MarianCommandTests: XCTestCase {
    func testNmtTranslateReadsAMarianDirectory() throws {
        let model = try MarianParityTests.directory("multilingual")
        let sentence = try MarianParityTests.expected("multilingual").sentences[1]
        for (flags, expected) in [([String](), sentence.beam_text), (["--greedy"], sentence.greedy_text)] {
            let result = try runProduct(
                "nmt-translate", ["--model-dir", model.path, "--text", sentence.source] + flags, testCase: Self.self)
            XCTAssertEqual(result.status, 0, result.error)
            XCTAssertEqual(result.output, expected + "\n", "\(flags)")
        }
    }

    /// --int8 translates with the quantized model: the same lines as the Swift API's
    /// `TranslationModel.int8Quantized()` gives (one process and one CPU, so the same bits).
    func testNmtTranslateInt8TranslatesWithTheQuantizedModel() throws {
        let model = try MarianParityTests.directory("multilingual")
        let sources = try MarianParityTests.expected("multilingual").sentences.map(\.source)
        let input = try temporaryDirectory(for: self).appendingPathComponent("source.txt")
        try (sources.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        let result = try runProduct("nmt-translate", ["--model-dir", model.path, "--file", input.path, "--int8"], testCase: Self.self)
        XCTAssertEqual(result.status, 0, result.error)
        let expected = try TranslationModel.load(model, vocabulary: nil).int8Quantized().translator().translate(sources)
        XCTAssertEqual(result.output, expected.map { $0 + "\n" }.joined())
    }

    func testNmtTranslateRefusesAVocabularyForAMarianDirectoryAndAMissingOneForOurs() throws {
        let model = try MarianParityTests.directory("swish-tied")
        let refused = try runProduct(
            "nmt-translate", ["--model-dir", model.path, "--vocab", model.appendingPathComponent("vocab.json").path, "--text", "x"],
            testCase: Self.self)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.error.contains("leave out the vocabulary"), refused.error)
        let empty = try temporaryDirectory(for: self)
        let needed = try runProduct("nmt-translate", ["--model-dir", empty.path, "--text", "x"], testCase: Self.self)
        XCTAssertNotEqual(needed.status, 0)
        XCTAssertTrue(needed.error.contains("--vocab"), needed.error)
    }

    /// nmt-serve --model-dir on a Marian directory answers POST /translate with what
    /// transformers' generate() gives, beam and greedy.
    func testNmtServeServesAMarianDirectory() throws {
        let model = try MarianParityTests.directory("gelu-separate")
        let sentences = Array(try MarianParityTests.expected("gelu-separate").sentences.prefix(3))
        let process = Process()
        process.executableURL = productURL("nmt-serve", testCase: Self.self)
        process.arguments = ["--model-dir", model.path, "--port", "0"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        // "nmt-serve listening on http://127.0.0.1:PORT"
        var banner = Data()
        while !banner.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            banner += chunk
        }
        let line = String(decoding: banner, as: UTF8.self)
        let address = try XCTUnwrap(line.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }, line)
        for (mode, expected) in [("beam", sentences.map(\.beam_text)), ("greedy", sentences.map(\.greedy_text))] {
            var request = URLRequest(url: try XCTUnwrap(URL(string: address + "/translate")))
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: ["texts": sentences.map(\.source), "mode": mode])
            let (data, status) = try Self.send(request)
            XCTAssertEqual(status, 200, String(decoding: data, as: UTF8.self))
            let body = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            XCTAssertEqual(body["translations"] as? [String], expected, mode)
        }
    }

    /// One HTTP exchange, waited for.
    static func send(_ request: URLRequest) throws -> (Data, Int) {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Data?, URLResponse?, Error?)
        URLSession.shared.dataTask(with: request) { data, response, error in
            result = (data, response, error)
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + 60) == .success else { throw URLError(.timedOut) }
        if let error = result.2 { throw error }
        return (result.0 ?? Data(), (result.1 as? HTTPURLResponse)?.statusCode ?? 0)
    }
}
