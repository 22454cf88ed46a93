import Foundation
@testable import NMTData
import NMTTestSupport
import XCTest

final class CorpusTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws {
        directory = try temporaryDirectory(for: self, prefix: "nmt-corpus")
    }

    func testDingLinesYieldCleanSentencePairs() {
        let line = "Ahnung {f} | Ich habe keine Ahnung. | keine Ahnung von … | Hast du eine Ahnung, wo er sein könnte? | "
            + "Ich kenne jdn. nicht. :: notion | I have no idea. | no concept of … | Have you any idea where he could be?; "
            + "Have you an idea where he could be? | I don't know sb."
        XCTAssertEqual(DingExtractor.pairs(inLine: line), [
            .init(english: "I have no idea.", german: "Ich habe keine Ahnung."),
            .init(english: "Have you any idea where he could be?", german: "Hast du eine Ahnung, wo er sein könnte?"),
        ])
        // Markup is removed and spacing repaired; misaligned sub-entries give nothing.
        XCTAssertEqual(
            DingExtractor.stripMarkup("Das Wetter {n} ist (sehr) schön [ugs.] /Abk./ ."), "Das Wetter ist schön.")
        XCTAssertEqual(DingExtractor.pairs(inLine: "A | B. C D. :: x"), [])
        XCTAssertNil(DingExtractor.sentence("kleiner Hund bellt."), "not capitalized")
        XCTAssertNil(DingExtractor.sentence("Er kommt"), "no final punctuation")
        XCTAssertNil(DingExtractor.sentence("Gut so."), "fewer than 3 words")
    }

    func testDingSplitIsDeterministicAndDisjoint() throws {
        var lines = ""
        for i in 0..<400 { lines += "Wort {n} | Das ist Satz Nummer \(i). :: word | This is sentence number \(i).\n" }
        lines += "Wort {n} | Das ist Satz Nummer 0. :: word | This is sentence number 0.\n"  // a duplicate
        let url = directory.appendingPathComponent("de-en")
        try Data(lines.utf8).write(to: url)
        let (train, test) = try DingExtractor.extract(from: url)
        XCTAssertEqual(train.count + test.count, 400, "duplicates are dropped")
        XCTAssertTrue(Set(train.map(\.english)).isDisjoint(with: test.map(\.english)))
        XCTAssertGreaterThan(test.count, 5)
        XCTAssertLessThan(test.count, 50)
        let again = try DingExtractor.extract(from: url)
        XCTAssertEqual(again.test, test)
        XCTAssertThrowsError(try DingExtractor.extract(from: directory.appendingPathComponent("missing"))) {
            XCTAssertTrue("\($0)".contains("trans-de-en"), "\($0)")
        }
    }

    /// The development split takes about 1 in N English sentences out of train, all pairs
    /// of a sentence on one side, deterministically, and keeps every pair once.
    func testDevelopmentSplitIsDisjointByEnglishSentence() {
        var pairs: [DingExtractor.Pair] = []
        for i in 0..<2000 { pairs.append(.init(english: "This is sentence number \(i).", german: "Das ist Satz \(i).")) }
        // A second German translation of some English sentences: it must follow its sentence.
        for i in stride(from: 0, to: 2000, by: 7) { pairs.append(.init(english: "This is sentence number \(i).", german: "Satz \(i).")) }
        let (train, dev) = DingExtractor.splitDevelopment(pairs, every: 19)
        XCTAssertEqual(train.count + dev.count, pairs.count)
        XCTAssertTrue(Set(train.map(\.english)).isDisjoint(with: dev.map(\.english)))
        let sentences = Set(dev.map(\.english)).count
        XCTAssertGreaterThan(sentences, 2000 / 19 / 2)
        XCTAssertLessThan(sentences, 2000 / 19 * 2)
        XCTAssertEqual(DingExtractor.splitDevelopment(pairs, every: 19).dev, dev, "deterministic")
        XCTAssertEqual(
            Set(DingExtractor.splitDevelopment(pairs, every: 2).dev.map(\.english)).count, 1000, accuracy: 100,
            "every 2: about half")
    }

    func testShardsAreRoundRobinShuffledAndResumable() throws {
        let tokenizer = try Subtokenizer(vocabularyFile: fixtureURL("vocab.ding.8k"))
        let names = CorpusPreparer.shardNames(name: "ding", tag: "train", count: 3)
        XCTAssertEqual(names, ["ding-train-00001-of-00003", "ding-train-00002-of-00003", "ding-train-00003-of-00003"])
        let shards = try CorpusPreparer.writeShards(
            source: fixtureURL("test.en"), target: fixtureURL("test.de"), tokenizer: tokenizer, directory: directory,
            name: "ding", tag: "train", shards: 3, shuffleSeed: 11)
        let perShard = try shards.map { try TFRecordReader(url: $0).readAll().map { try TranslationExample(serialized: $0) } }
        XCTAssertEqual(perShard.map(\.count), [336, 335, 335], "1006 examples round-robin")
        let golden = try TranslationExample.readAll(from: fixtureURL("ding-test.tf_written.tfrecord"))
        // Shard 1 holds examples 0, 3, 6, ... in a seeded shuffled order.
        let expectedFirst = stride(from: 0, to: golden.count, by: 3).map { golden[$0] }
        XCTAssertEqual(Set(perShard[0].map { "\($0.inputs)" }), Set(expectedFirst.map { "\($0.inputs)" }))
        XCTAssertNotEqual(perShard[0], expectedFirst, "shuffled")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: directory.path).contains { $0.contains(".incomplete") })
        // Complete shards are kept as they are on a second run.
        let modified = try FileManager.default.attributesOfItem(atPath: shards[0].path)[.modificationDate] as? Date
        _ = try CorpusPreparer.writeShards(
            source: fixtureURL("test.en"), target: fixtureURL("test.de"), tokenizer: tokenizer, directory: directory,
            name: "ding", tag: "train", shards: 3, shuffleSeed: 11)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: shards[0].path)[.modificationDate] as? Date, modified)
        // Misaligned files are refused.
        XCTAssertThrowsError(try CorpusPreparer.writeShards(
            source: fixtureURL("test.en"), target: fixtureURL("vocab.ding.8k"), tokenizer: tokenizer, directory: directory,
            name: "bad", tag: "train", shards: 1, shuffleSeed: nil)) { XCTAssertTrue("\($0)".contains("line-aligned"), "\($0)") }
    }
}
