import Foundation
import NMTData
import NMTTestSupport
import XCTest

/// `"\n"` and `"\r\n"` end lines alike everywhere text is read (issue: a CRLF file used to
/// read as one line, since `"\r\n"` is one Swift `Character`).
final class TextLinesTests: XCTestCase {
    func testLineEndings() {
        XCTAssertEqual(TextLines.split("a\nb\n"), ["a", "b"])
        XCTAssertEqual(TextLines.split("a\r\nb\r\n"), ["a", "b"])
        XCTAssertEqual(TextLines.split("a\r\nb"), ["a", "b"], "a final line without newline")
        XCTAssertEqual(TextLines.split("a\n\r\n\nb"), ["a", "", "", "b"], "empty lines stay")
        XCTAssertEqual(TextLines.split("x\ry\n"), ["x\ry"], "a lone carriage return is not a line end")
        XCTAssertEqual(TextLines.split(""), [])
        XCTAssertEqual(TextLines.split("\n"), [""])
        XCTAssertEqual(TextLines.split("Grüße\r\n日本\r\n"), ["Grüße", "日本"])
    }

    func testCRLFFilesReadLikeLFFiles() throws {
        let directory = try temporaryDirectory(for: self)
        let lines = ["I have no idea.", "", "Where is the station?", "Das ist gut."]
        let lf = directory.appendingPathComponent("lf.txt"), crlf = directory.appendingPathComponent("crlf.txt")
        try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: lf)
        try Data(lines.map { $0 + "\r\n" }.joined().utf8).write(to: crlf)
        XCTAssertEqual(try CorpusPreparer.lines(of: crlf), lines)
        XCTAssertEqual(try CorpusPreparer.lines(of: crlf), try CorpusPreparer.lines(of: lf))
        // One CRLF line among LF lines: still four aligned lines.
        let mixed = directory.appendingPathComponent("mixed.txt")
        try Data("I have no idea.\n\r\nWhere is the station?\nDas ist gut.".utf8).write(to: mixed)
        XCTAssertEqual(try CorpusPreparer.lines(of: mixed), lines)
    }

    func testCRLFVocabularyAndCorpusGiveTheSameShards() throws {
        let directory = try temporaryDirectory(for: self)
        let vocabulary = try fixtureURL("vocab.ding.8k")
        let text = try String(contentsOf: vocabulary, encoding: .utf8)
        let crlfVocabulary = directory.appendingPathComponent("vocab.crlf")
        try Data(text.replacingOccurrences(of: "\n", with: "\r\n").utf8).write(to: crlfVocabulary)
        let tokenizer = try Subtokenizer(vocabularyFile: vocabulary)
        let crlfTokenizer = try Subtokenizer(vocabularyFile: crlfVocabulary)
        XCTAssertEqual(crlfTokenizer.vocabularySize, tokenizer.vocabularySize)

        func shardExamples(_ source: URL, _ target: URL, _ tag: String) throws -> [TranslationExample] {
            let files = try CorpusPreparer.writeShards(
                source: source, target: target, tokenizer: crlfTokenizer, directory: directory, name: "t", tag: tag,
                shards: 1, shuffleSeed: nil)
            return try TFRecordReader(url: files[0]).readAll().map { try TranslationExample(serialized: $0) }
        }
        func crlfCopy(_ url: URL) throws -> URL {
            let copy = directory.appendingPathComponent(url.lastPathComponent + ".crlf")
            let content = try String(contentsOf: url, encoding: .utf8)
            try Data(content.replacingOccurrences(of: "\n", with: "\r\n").utf8).write(to: copy)
            return copy
        }
        let (english, german) = (try fixtureURL("test.en"), try fixtureURL("test.de"))
        let plain = try shardExamples(english, german, "lf")
        let windows = try shardExamples(try crlfCopy(english), try crlfCopy(german), "crlf")
        XCTAssertGreaterThan(plain.count, 100)
        XCTAssertEqual(windows, plain)
    }
}
