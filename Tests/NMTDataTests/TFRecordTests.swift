import Foundation
import NMTData
import NMTTestSupport
import XCTest

final class TFRecordTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws {
        directory = try temporaryDirectory(for: self, prefix: "nmt-tfr")
    }

    func goldenPairs() throws -> [TranslationExample] {
        try String(contentsOf: fixtureURL("test.ids.tsv"), encoding: .utf8).split(separator: "\n").map { row in
            let columns = row.split(separator: "\t").map { $0.split(separator: " ").map { Int32($0)! } }
            return TranslationExample(inputs: columns[0], targets: columns[1])
        }
    }

    /// The Ding test set as TensorFlow 2.21 wrote it: every record parses to the golden ids.
    func testReadsTheFileTensorFlowWrote() throws {
        let records = try TFRecordReader(url: fixtureURL("ding-test.tf_written.tfrecord")).readAll()
        XCTAssertEqual(records.count, 1006)
        XCTAssertEqual(try records.map { try TranslationExample(serialized: $0) }, try goldenPairs())
    }

    /// Our writer, given the same examples, produces TensorFlow's file byte for byte (so
    /// TensorFlow reads ours).
    func testWritesTheSameBytesAsTensorFlow() throws {
        let url = directory.appendingPathComponent("ours.tfrecord")
        let writer = try TFRecordWriter(url: url)
        for example in try goldenPairs() { try writer.write(example.serialized) }
        try writer.close()
        XCTAssertEqual(try Data(contentsOf: url), try Data(contentsOf: fixtureURL("ding-test.tf_written.tfrecord")))
    }

    func testCorruptionIsReportedWithFileAndOffset() throws {
        let flipped = try fixtureURL("ding-test.one-bit-flipped.tfrecord")
        XCTAssertThrowsError(try TFRecordReader(url: flipped).readAll()) { error in
            guard let error = error as? TFRecordError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains(flipped.path) && "\(error)".contains("CRC mismatch") && "\(error)".contains("byte"), "\(error)")
        }
        // Skipping: one record lost, the others read.
        var iterator = try TFRecordReader(url: flipped, skipsCorruptRecords: true).makeIterator()
        var count = 0
        while try iterator.nextRecord() != nil { count += 1 }
        XCTAssertEqual(iterator.corruptRecordsSkipped, 1)
        XCTAssertEqual(count, 1005)

        // Truncation inside the last record.
        let data = try Data(contentsOf: fixtureURL("ding-test.tf_written.tfrecord"))
        let truncated = directory.appendingPathComponent("truncated.tfrecord")
        try data.prefix(data.count - 3).write(to: truncated)
        XCTAssertThrowsError(try TFRecordReader(url: truncated).readAll()) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
    }

    func testGenericFeaturesRoundTrip() throws {
        let features: [String: FeatureValue] = [
            "ids": .int64([1, -2, 1 << 40]), "weights": .float([0.5, -1.25]), "text": .bytes([Data("héllo".utf8), Data()]),
        ]
        XCTAssertEqual(try TFExample.parse(TFExample.serialize(features)), features)
        XCTAssertThrowsError(try TranslationExample(serialized: TFExample.serialize(["inputs": .int64([1])]))) {
            XCTAssertEqual($0 as? TFExampleError, .missingFeature("targets"))
        }
        XCTAssertThrowsError(try TFExample.parse(Data([0xFF, 0xFF, 0xFF])))
    }

    /// Bytes in memory read exactly as the same bytes from a file (the fuzzers use it).
    func testReadingFromMemoryEqualsReadingTheFile() throws {
        let url = try fixtureURL("ding-test.tf_written.tfrecord")
        let fromFile = try TFRecordReader(url: url).readAll()
        let fromMemory = try TFRecordReader(data: Data(contentsOf: url), url: url).readAll()
        XCTAssertGreaterThan(fromFile.count, 100)
        XCTAssertEqual(fromMemory, fromFile)
        let flipped = try fixtureURL("ding-test.one-bit-flipped.tfrecord")
        XCTAssertThrowsError(try TFRecordReader(data: Data(contentsOf: flipped), url: flipped).readAll()) { error in
            XCTAssertTrue("\(error)".contains(flipped.path), "\(error)")
        }
    }
}
