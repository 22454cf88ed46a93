import Foundation
import NMTData
import Synchronization
import NMTTestSupport
import XCTest

/// SentencePiece through Debian's libsentencepiece: the ids, pieces and text of the
/// Python package (the same library, version 0.1.97; Scripts/reference/sentencepiece_reference.py)
/// on the Ding test sentences and a stress file, for a unigram and a BPE model; training
/// through the library; sampling; and refusals.
final class SentencePieceTests: XCTestCase {
    struct Expected: Decodable {
        struct Row: Decodable {
            var text: String
            var ids: [Int32]
            var pieces: [String]
            var decoded: String
        }
        var vocabulary_size: Int
        var unknown_id: Int32
        var begin_id: Int32
        var end_id: Int32
        var rows: [Row]
    }

    func fixture(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/sentencepiece"), name)
    }

    func expected() throws -> [String: Expected] {
        try JSONDecoder().decode([String: Expected].self, from: Data(contentsOf: fixture("expected.json")))
    }

    /// Every line (the stress file's NFKC-sensitive characters, space runs, tabs, emoji,
    /// CJK, combining marks and an empty line, then 200 Ding sentences) encodes to the
    /// Python package's ids and pieces and decodes to its text, for both model types.
    func testEncodesAndDecodesAsThePythonPackage() throws {
        for (type, expected) in try expected().sorted(by: { $0.key < $1.key }) {
            let model = try SentencePiece(modelFile: fixture("\(type).model"))
            XCTAssertEqual(model.vocabularySize, expected.vocabulary_size, type)
            XCTAssertEqual(model.unknownID, expected.unknown_id, type)
            XCTAssertEqual(model.beginID, expected.begin_id, type)
            XCTAssertEqual(model.endID, expected.end_id, type)
            XCTAssertNil(model.paddingID, type)
            XCTAssertEqual(expected.rows.count, 210)
            for row in expected.rows {
                XCTAssertEqual(try model.encode(row.text), row.ids, "\(type): \(row.text)")
                XCTAssertEqual(try model.pieces(row.text), row.pieces, "\(type): \(row.text)")
                XCTAssertEqual(try model.decode(row.ids), row.decoded, "\(type): \(row.text)")
            }
            let word = try model.piece(of: expected.rows[0].ids[0])
            XCTAssertEqual(model.id(of: word), expected.rows[0].ids[0])
            XCTAssertEqual(model.id(of: "no such piece"), model.unknownID)
        }
    }

    /// A whole file in one call gives the Python package's ids line by line, with an empty
    /// line as no ids; pieces join as the library joins them.
    func testEncodesAFileInOneCallAndJoinsPieces() throws {
        let expected = try expected()["unigram"]!
        let model = try SentencePiece(modelFile: fixture("unigram.model"))
        // The stress file's tab and space lines hold no newline, so each row is one line.
        let text = expected.rows.map(\.text).joined(separator: "\n") + "\n"
        let encoded = try model.encodeLines(Data(text.utf8))
        XCTAssertEqual(encoded.count, expected.rows.count)
        for (i, row) in expected.rows.enumerated() { XCTAssertEqual(Array(encoded[i]), row.ids, row.text) }
        XCTAssertEqual(try model.encodeLines(Data("a\n\nb".utf8)).count, 3, "no final newline: the last line still counts")
        XCTAssertEqual(try model.encodeLines(Data()).count, 0)
        // Without unknown pieces, joining pieces gives the ids' text (an unknown piece is kept
        // as its own text there, where its id decodes to " ⁇ ").
        let known = expected.rows.filter { !$0.ids.contains(expected.unknown_id) }
        XCTAssertGreaterThan(known.count, 100)
        for row in known { XCTAssertEqual(try model.decode(pieces: row.pieces), row.decoded, row.text) }
    }

    /// A model trained here with the settings of the fixture script encodes every line as
    /// the Python-trained fixture does: the trainer is the library's too.
    func testTrainsTheLibrarysModel() throws {
        let directory = try temporaryDirectory(for: self, prefix: "nmt-sentencepiece")
        let corpus = Bundle.module.url(forResource: "test", withExtension: "en", subdirectory: "Fixtures")!
        let german = Bundle.module.url(forResource: "test", withExtension: "de", subdirectory: "Fixtures")!
        let trained = try SentencePiece.train(
            inputs: [corpus, german], modelPrefix: directory.appendingPathComponent("unigram"), vocabularySize: 400,
            options: ["num_threads": "1", "minloglevel": "1"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("unigram.vocab").path))
        let expected = try XCTUnwrap(try expected()["unigram"])
        for row in expected.rows { XCTAssertEqual(try trained.encode(row.text), row.ids, row.text) }
        XCTAssertThrowsError(
            try SentencePiece.train(inputs: [corpus], modelPrefix: directory.appendingPathComponent("x"), vocabularySize: 100_000)
        ) { XCTAssertTrue("\($0)".contains("training failed"), "\($0)") }
        XCTAssertThrowsError(
            try SentencePiece.train(
                inputs: [corpus], modelPrefix: directory.appendingPathComponent("y"), vocabularySize: 100,
                options: ["input_sentence_size": "1 --model_type=bpe"])
        ) { XCTAssertTrue("\($0)".contains("cannot be passed"), "\($0)") }
    }

    /// Sampling draws other segmentations of the same text (which decode back to it), the
    /// same ones again on a new thread after the same seed (the library keeps a generator
    /// per thread, seeded when the thread first samples).
    func testSamplingIsSeededAndDecodesBack() throws {
        let model = try SentencePiece(modelFile: fixture("unigram.model"))
        let text = "The weather is nice today and the station is not far."
        /// 20 draws on a thread that has not sampled before, after seeding with `seed`.
        func draws(seed: UInt32) -> [[Int32]] {
            SentencePiece.seedRandomGenerator(seed)
            let result = Mutex<[[Int32]]>([])
            let done = DispatchSemaphore(value: 0)
            let thread = Thread {
                let drawn = (0..<20).map { _ in (try? model.sample(text, nbest: -1, alpha: 0.5)) ?? [] }
                result.withLock { $0 = drawn }
                done.signal()
            }
            thread.start()
            done.wait()
            return result.withLock { $0 }
        }
        let first = draws(seed: 7)
        XCTAssertEqual(draws(seed: 7), first)
        XCTAssertNotEqual(draws(seed: 8), first)
        XCTAssertGreaterThan(Set(first).count, 1, "sampling varies the segmentation")
        XCTAssertTrue(first.contains { $0 != (try? model.encode(text)) })
        for ids in first { XCTAssertEqual(try model.decode(ids), text) }
    }

    /// `SampledSentencePiece` draws segmentations of both model types (subword sampling,
    /// BPE-dropout) that decode back to the text, and `writeShards(copies:)` writes every
    /// pair once per copy, each copy another draw, round robin over the shards.
    func testSampledCopiesAreOtherSegmentationsOfEveryPair() throws {
        let directory = try temporaryDirectory(for: self, prefix: "nmt-spm-copies")
        let lines = try String(contentsOf: fixtureURL("test.en"), encoding: .utf8).split(separator: "\n").prefix(40).map(String.init)
        for name in ["unigram.model", "bpe.model"] {
            let model = try SentencePiece(modelFile: fixture(name))
            let sampled = SampledSentencePiece(model: model, alpha: 0.3)
            XCTAssertEqual(sampled.vocabularySize, model.vocabularySize)
            let shards = try CorpusPreparer.writeShards(
                sourceLines: lines, targetLines: lines, tokenizer: sampled, directory: directory, name: name, tag: "train",
                shards: 2, shuffleSeed: nil, copies: 3)
            let examples = try shards.flatMap { try TFRecordReader(url: $0).readAll().map { try TranslationExample(serialized: $0) } }
            XCTAssertEqual(examples.count, 120, name)
            // Unshuffled round robin: shard 1 holds examples 0, 2, 4, ... of the 3 × 40.
            let inOrder: [TranslationExample] = (0..<120).map { (i: Int) -> TranslationExample in
                i % 2 == 0 ? examples[i / 2] : examples[60 + i / 2]
            }
            var differing = 0
            for (index, example) in inOrder.enumerated() {
                // The best segmentation, and the text it decodes to (normalized, unknown
                // characters as ⁇).
                let best = try model.encode(lines[index % 40])
                let text = try model.decode(best)
                XCTAssertEqual(example.inputs.last, model.endID, "end of sentence")
                XCTAssertEqual(try model.decode(example.inputs.dropLast()), text, "\(name) line \(index % 40)")
                XCTAssertEqual(try model.decode(example.targets.dropLast()), text)
                if Array(example.inputs.dropLast()) != best { differing += 1 }
            }
            XCTAssertGreaterThan(differing, 20, "\(name): sampling changes many segmentations")
        }
    }

    /// A file that is not a model, and ids outside the vocabulary, are refused with the
    /// reason.
    func testBadModelsAndIdsAreRefused() throws {
        let directory = try temporaryDirectory(for: self, prefix: "nmt-sentencepiece-bad")
        let garbage = directory.appendingPathComponent("garbage.model")
        try Data("not a model".utf8).write(to: garbage)
        XCTAssertThrowsError(try SentencePiece(modelFile: garbage)) {
            XCTAssertTrue("\($0)".contains("cannot load the SentencePiece model \(garbage.path)"), "\($0)")
        }
        XCTAssertThrowsError(try SentencePiece(modelFile: directory.appendingPathComponent("missing.model")))
        let model = try SentencePiece(modelFile: fixture("bpe.model"))
        XCTAssertThrowsError(try model.decode([5, 400])) { XCTAssertTrue("\($0)".contains("id 400 at position 1"), "\($0)") }
        XCTAssertThrowsError(try model.decode([-1])) { XCTAssertTrue("\($0)".contains("id -1"), "\($0)") }
        XCTAssertThrowsError(try model.piece(of: 400))
    }
}
