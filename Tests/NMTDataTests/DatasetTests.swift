import Foundation
import NMTData
import NMTTestSupport
import XCTest

final class DatasetTests: XCTestCase {
    var directory: URL!
    var pairs: [TranslationExample] = []

    override func setUpWithError() throws {
        directory = try temporaryDirectory(for: self, prefix: "nmt-ds")
        pairs = try TranslationExample.readAll(from: fixtureURL("ding-test.tf_written.tfrecord"))
        // Three train shards, round-robin, plus an unrelated file the pattern must skip.
        let writers = try (1...3).map { try TFRecordWriter(url: directory.appendingPathComponent("ding-train-0000\($0)-of-00003")) }
        for (i, pair) in pairs.enumerated() { try writers[i % 3].write(pair.serialized) }
        for writer in writers { try writer.close() }
        try Data("x".utf8).write(to: directory.appendingPathComponent("vocab.txt"))
    }


    var pattern: String { directory.appendingPathComponent("*train*").path }

    func batches(_ options: DatasetOptions, from position: DatasetPosition = .start) throws -> [TokenBatch] {
        let iterator = try TranslationDataset(filePattern: pattern, options: options).makeIterator(from: position)
        var result: [TokenBatch] = []
        while let batch = try iterator.next() { result.append(batch) }
        return result
    }

    func rows(_ batch: TokenBatch) -> [(inputs: [Int32], targets: [Int32])] {
        (0..<batch.sentenceCount).map { r in
            (Array(batch.inputs[(r * batch.inputLength)..<((r + 1) * batch.inputLength)]).filter { $0 != 0 },
             Array(batch.targets[(r * batch.targetLength)..<((r + 1) * batch.targetLength)]).filter { $0 != 0 })
        }
    }

    func testReferenceBuckets() {
        // Documentation/Reference.md, "Data": 42 buckets for max length 256, and the batch sizes of 2048 and 4096.
        let b2048 = LengthBuckets(maxLength: 256, batchTokens: 2048)
        XCTAssertEqual(b2048.maximums, [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 24, 26, 28, 30, 33, 36, 39, 42, 46, 50, 55, 60, 66, 72, 79, 86, 94, 103, 113, 124, 136, 149, 163, 179, 196, 215, 236, 257])
        XCTAssertEqual(b2048.batchSizes, [256, 227, 204, 186, 170, 157, 146, 136, 128, 120, 113, 107, 102, 93, 85, 78, 73, 68, 62, 56, 52, 48, 44, 40, 37, 34, 31, 28, 25, 23, 21, 19, 18, 16, 15, 13, 12, 11, 10, 9, 8, 7])
        XCTAssertEqual(LengthBuckets(maxLength: 256, batchTokens: 4096).batchSizes, [512, 455, 409, 372, 341, 315, 292, 273, 256, 240, 227, 215, 204, 186, 170, 157, 146, 136, 124, 113, 105, 97, 89, 81, 74, 68, 62, 56, 51, 47, 43, 39, 36, 33, 30, 27, 25, 22, 20, 19, 17, 15])
        XCTAssertEqual(b2048.minimums.first, 0)
        XCTAssertEqual(b2048.bucket(forLength: 7), 0)
        XCTAssertEqual(b2048.bucket(forLength: 8), 1)
        XCTAssertEqual(b2048.bucket(forLength: 256), 41)
    }

    func testBucketedBatchesHoldEveryExampleOnceWithinTheBudget() throws {
        let result = try batches(DatasetOptions(batchTokens: 256, maxLength: 40))
        let seen = result.flatMap(rows)
        let expected = pairs.filter { $0.inputs.count <= 40 && $0.targets.count <= 40 }
        XCTAssertEqual(seen.count, expected.count)
        XCTAssertEqual(
            Set(seen.map { "\($0.inputs)|\($0.targets)" }), Set(expected.map { "\($0.inputs)|\($0.targets)" }))
        let buckets = LengthBuckets(maxLength: 40, batchTokens: 256)
        for batch in result {
            let longest = rows(batch).map { max($0.inputs.count, $0.targets.count) }
            let bucket = buckets.bucket(forLength: longest.max()!)
            XCTAssertTrue(longest.allSatisfy { buckets.bucket(forLength: $0) == bucket }, "one bucket per batch")
            XCTAssertLessThanOrEqual(batch.sentenceCount, buckets.batchSizes[bucket])
            XCTAssertLessThanOrEqual(batch.sentenceCount * buckets.maximums[bucket], 256)
            // Inputs and targets are padded separately, to their own longest.
            XCTAssertEqual(batch.inputLength, rows(batch).map(\.inputs.count).max())
            XCTAssertEqual(batch.targetLength, rows(batch).map(\.targets.count).max())
        }
    }

    func testStaticBatchesDropTheRemainder() throws {
        let result = try batches(DatasetOptions(batchTokens: 640, maxLength: 64, staticBatches: true))
        let kept = pairs.filter { $0.inputs.count <= 64 && $0.targets.count <= 64 }.count
        XCTAssertEqual(result.count, kept / 10)
        XCTAssertTrue(result.allSatisfy { $0.sentenceCount == 10 && $0.inputLength == 64 && $0.targetLength == 64 })
    }

    func testSeededShuffleIsDeterministicAndRepeats() throws {
        let options = DatasetOptions(batchTokens: 512, maxLength: 64, shuffle: true, seed: 7, epochs: 2, shuffleBufferSize: 100)
        let first = try batches(options), again = try batches(options)
        XCTAssertEqual(first, again, "same seed, same batches")
        var other = options
        other.seed = 8
        XCTAssertNotEqual(try batches(other), first)
        // Two epochs, each with every example once.
        XCTAssertEqual(first.flatMap(rows).count, 2 * pairs.filter { $0.inputs.count <= 64 && $0.targets.count <= 64 }.count)
    }

    func testPositionRestoresMidEpoch() throws {
        let options = DatasetOptions(batchTokens: 512, maxLength: 64, shuffle: true, seed: 3, epochs: 2, shuffleBufferSize: 50)
        let all = try batches(options)
        let iterator = try TranslationDataset(filePattern: pattern, options: options).makeIterator()
        for _ in 0..<(all.count / 2 + 3) { _ = try iterator.next() }
        let saved = iterator.position
        XCTAssertEqual(saved.epoch, 1, "the saved position is in the second epoch")
        let resumed = try batches(options, from: saved)
        XCTAssertEqual(resumed, Array(all[(all.count / 2 + 3)...]))
    }

    func testPrefetchingGivesTheSameBatchesAndPositions() throws {
        let options = DatasetOptions(batchTokens: 512, maxLength: 64, shuffle: true, seed: 5)
        let direct = try batches(options)
        let prefetching = PrefetchingIterator(try TranslationDataset(filePattern: pattern, options: options).makeIterator(), capacity: 2)
        var fetched: [TokenBatch] = []
        while let batch = try prefetching.next() {
            fetched.append(batch)
            XCTAssertEqual(prefetching.position.batchesInEpoch, fetched.count)
        }
        XCTAssertEqual(fetched, direct)
    }

    func testErrors() throws {
        XCTAssertThrowsError(try TranslationDataset(filePattern: directory.appendingPathComponent("*dev*").path, options: DatasetOptions(batchTokens: 512))) {
            XCTAssertEqual($0 as? DatasetError, .noFiles(pattern: self.directory.appendingPathComponent("*dev*").path))
        }
        // Every example is longer than 1 token: the pass yields nothing.
        XCTAssertThrowsError(try batches(DatasetOptions(batchTokens: 512, maxLength: 1))) { error in
            guard case .empty? = error as? DatasetError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try TranslationDataset(filePattern: pattern, options: DatasetOptions(batchTokens: 100, maxLength: 256)))
        let bad = directory.appendingPathComponent("bad-train-1")
        let writer = try TFRecordWriter(url: bad)
        try writer.write(Data([0x08, 0x01]))
        try writer.close()
        XCTAssertThrowsError(try batches(DatasetOptions(batchTokens: 512))) { error in
            XCTAssertTrue("\(error)".contains(bad.path) && "\(error)".contains("record 0"), "\(error)")
        }
    }
}

extension TranslationExample {
    static func readAll(from url: URL) throws -> [TranslationExample] {
        try TFRecordReader(url: url).readAll().map { try TranslationExample(serialized: $0) }
    }
}
