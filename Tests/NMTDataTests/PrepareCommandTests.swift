import Foundation
import NMTData
import NMTTestSupport
import XCTest

/// Runs the `nmt-prepare` executable the way other tools call it.
final class PrepareCommandTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws {
        directory = try temporaryDirectory(for: self, prefix: "nmt-cli")
    }

    func run(_ arguments: [String]) throws -> (output: String, error: String, status: Int32) {
        try runProduct("nmt-prepare", arguments, testCase: Self.self)
    }

    func testEncodeDecodeRecordsAndDumpAgreeWithTheGoldenIDs() throws {
        let vocab = try fixtureURL("vocab.ding.8k").path
        let golden = try String(contentsOf: fixtureURL("test.ids.tsv"), encoding: .utf8).split(separator: "\n").map(String.init)

        let encoded = try run(["encode", "--vocab", vocab, "--eos", try fixtureURL("test.en").path])
        XCTAssertEqual(encoded.status, 0, encoded.error)
        XCTAssertEqual(encoded.output.split(separator: "\n").map(String.init), golden.map { String($0.split(separator: "\t")[0]) })

        let idsFile = directory.appendingPathComponent("ids")
        try Data(encoded.output.utf8).write(to: idsFile)
        let decoded = try run(["decode", "--vocab", vocab, idsFile.path])
        XCTAssertEqual(decoded.status, 0, decoded.error)
        let english = try String(contentsOf: fixtureURL("test.en"), encoding: .utf8)
        // Each line comes back as encoded (stripped), followed by the literal "<EOS>" that
        // id 1 decodes to, as in the reference.
        XCTAssertEqual(
            decoded.output.split(separator: "\n").map(String.init),
            english.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) + "<EOS>" })
    }

    func testRecordsAndDump() throws {
        let vocab = try fixtureURL("vocab.ding.8k").path
        let output = directory.appendingPathComponent("test.tfrecord")
        let written = try run(["records", "--vocab", vocab, "--source", try fixtureURL("test.en").path,
                               "--target", try fixtureURL("test.de").path, "--output", output.path])
        XCTAssertEqual(written.status, 0, written.error)
        XCTAssertEqual(try Data(contentsOf: output), try Data(contentsOf: fixtureURL("ding-test.tf_written.tfrecord")),
                       "the same bytes as TensorFlow's file")
        let dumped = try run(["dump", output.path])
        XCTAssertEqual(dumped.status, 0, dumped.error)
        XCTAssertEqual(dumped.output, try String(contentsOf: fixtureURL("test.ids.tsv"), encoding: .utf8))
    }

    func testBadInputFailsWithAMessage() throws {
        let missing = try run(["encode", "--vocab", directory.appendingPathComponent("none").path, "x"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.error.contains("cannot be read"), missing.error)
        let usage = try run(["vocab"])
        XCTAssertNotEqual(usage.status, 0)
        XCTAssertTrue(usage.error.contains("--output"), usage.error)
        // A record that is not a tf.Example: the error names the file and the record.
        let records = directory.appendingPathComponent("bad.tfrecord")
        let writer = try TFRecordWriter(url: records)
        try writer.write(TranslationExample(inputs: [3, 1], targets: [4, 1]).serialized)
        try writer.write(Data([0xff, 0xff, 0xff]))
        try writer.close()
        let dumped = try run(["dump", records.path])
        XCTAssertNotEqual(dumped.status, 0)
        XCTAssertTrue(dumped.error.contains("\(records.path): record 2"), dumped.error)
    }
}
