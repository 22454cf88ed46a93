import Foundation
import NMTData
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// A SentencePiece vocabulary through the whole pipeline: `nmt-prepare corpus
/// --tokenizer sentencepiece` trains the model with swift-nmt's ids and writes shards,
/// `nmt-train --vocab NAME.model` trains on them, `nmt-translate` translates with it, and a
/// model with other ids is refused with the flags to use.
final class SentencePiecePipelineTests: XCTestCase {
    func testPrepareTrainAndTranslateWithASentencePieceModel() throws {
        let directory = try temporaryDirectory(for: self, prefix: "nmt-spm-pipeline")
        let source = try SampleCorpus.fixture("sample.en").path
        let data = directory.appendingPathComponent("data")
        let prepared = try prepareSampleCorpus(into: data, ["--tokenizer", "sentencepiece"])
        XCTAssertEqual(prepared.status, 0, prepared.error)
        let vocabulary = data.appendingPathComponent("spm.model")
        let model = try SentencePiece(modelFile: vocabulary)
        XCTAssertEqual(model.vocabularySize, 300)
        XCTAssertEqual([model.paddingID, model.endID, model.unknownID], [Int32(0), 1, 2])
        XCTAssertNil(model.beginID)
        let configuration = directory.appendingPathComponent("configuration.json")
        try JSONEncoder().encode(SampleCorpus.configuration).write(to: configuration)
        let modelDirectory = directory.appendingPathComponent("model")
        let trained = try runProduct(
            "nmt-train",
            ["--data-dir", data.path, "--model-dir", modelDirectory.path, "--vocab", vocabulary.path, "--config", configuration.path,
             "--batch-size", "400", "--max-length", "40", "--train-steps", "3", "--steps-between-evals", "3", "--warmup-steps", "2"],
            testCase: Self.self)
        XCTAssertEqual(trained.status, 0, trained.error)
        XCTAssertTrue(trained.error.contains("training 32-hidden"), trained.error)
        let translated = try runProduct(
            "nmt-translate", ["--model-dir", modelDirectory.path, "--vocab", vocabulary.path, "--text", "Good morning.", "--extra-length", "5"],
            testCase: Self.self)
        XCTAssertEqual(translated.status, 0, translated.error)
        // An untrained model's output (possibly empty), decoded by SentencePiece: one line.
        XCTAssertEqual(translated.output.filter { $0 == "\n" }.count, 1, translated.output)

        // A SentencePiece model with its own default ids (unknown 0, begin 1, end 2) cannot
        // feed the model: refused, naming the flags that make a usable one.
        let other = try SentencePiece.train(
            inputs: [URL(fileURLWithPath: source)], modelPrefix: directory.appendingPathComponent("defaults"), vocabularySize: 300,
            options: ["minloglevel": "1"])
        XCTAssertThrowsError(
            try Translator(
                model: Transformer(configuration: SampleCorpus.configuration.withVocabularySize(300), key: RandomKey(seed: 1)),
                tokenizer: other)
        ) { XCTAssertTrue("\($0)".contains("--pad_id=0 --eos_id=1"), "\($0)") }
    }

    /// `--sample-copies K` writes K sampled segmentations of every training pair (the same
    /// shards again from the same seed, others from another) and the development shard
    /// once, with the best segmentation; it needs a SentencePiece tokenizer and an alpha in
    /// (0, 1] given with it.
    func testSampledCopiesInTheTrainingShards() throws {
        let directory = try temporaryDirectory(for: self, prefix: "nmt-spm-sampled")
        let source = try SampleCorpus.fixture("sample.en").path
        func prepare(_ output: String, _ flags: [String]) throws -> (output: String, error: String, status: Int32) {
            try prepareSampleCorpus(into: directory.appendingPathComponent(output), flags)
        }
        func records(_ output: String, _ tag: String) throws -> [TranslationExample] {
            try TFRecordReader(url: directory.appendingPathComponent("\(output)/spm-\(tag)-00001-of-00001")).readAll()
                .map { try TranslationExample(serialized: $0) }
        }
        let plain = try prepare("plain", ["--tokenizer", "sentencepiece"])
        XCTAssertEqual(plain.status, 0, plain.error)
        let model = directory.appendingPathComponent("plain/spm.model").path
        for (output, seed) in [("a", "5"), ("b", "5"), ("c", "6")] {
            let sampled = try prepare(output, ["--tokenizer", "sentencepiece", "--sentencepiece-model", model, "--sample-copies", "3", "--sample-alpha", "0.5", "--seed", seed])
            XCTAssertEqual(sampled.status, 0, sampled.error)
        }
        let lines = try String(contentsOfFile: source, encoding: .utf8).split(separator: "\n").count
        XCTAssertEqual(try records("a", "train").count, 3 * lines)
        XCTAssertEqual(try records("a", "train"), try records("b", "train"), "same seed, same draws")
        XCTAssertNotEqual(try records("a", "train"), try records("c", "train"))
        XCTAssertEqual(try records("a", "dev"), try records("plain", "dev"), "development data: the best segmentation")
        let plainInputs = Set(try records("plain", "train").map(\.inputs))
        XCTAssertGreaterThan(Set(try records("a", "train").map(\.inputs)).subtracting(plainInputs).count, lines / 2)

        let subword = try prepare("refused", ["--sample-copies", "2", "--sample-alpha", "0.5"])
        XCTAssertNotEqual(subword.status, 0)
        XCTAssertTrue(subword.error.contains("--sample-copies needs --tokenizer sentencepiece"), subword.error)
        let alpha = try prepare("refused", ["--tokenizer", "sentencepiece", "--sample-copies", "2", "--sample-alpha", "0"])
        XCTAssertNotEqual(alpha.status, 0)
        XCTAssertTrue(alpha.error.contains("--sample-alpha must be in (0, 1]"), alpha.error)
        let noAlpha = try prepare("refused", ["--tokenizer", "sentencepiece", "--sample-copies", "2"])
        XCTAssertNotEqual(noAlpha.status, 0)
        XCTAssertTrue(noAlpha.error.contains("--sample-copies needs --sample-alpha"), noAlpha.error)
    }

    /// `--model-type bpe` trains a BPE model; `--sentencepiece-model` adopts a given model
    /// (the one just trained, into a new folder: the same ids, so the same shards) and
    /// refuses one with other ids, naming the flags.
    func testPrepareWithABPEModelAndAGivenModel() throws {
        let directory = try temporaryDirectory(for: self, prefix: "nmt-spm-given")
        let source = try SampleCorpus.fixture("sample.en").path
        func prepare(_ output: URL, _ flags: [String]) throws -> (output: String, error: String, status: Int32) {
            try prepareSampleCorpus(into: output, ["--tokenizer", "sentencepiece"] + flags)
        }
        let first = directory.appendingPathComponent("bpe")
        let trained = try prepare(first, ["--model-type", "bpe"])
        XCTAssertEqual(trained.status, 0, trained.error)
        let model = first.appendingPathComponent("spm.model")
        XCTAssertEqual(try SentencePiece(modelFile: model).vocabularySize, 300)
        let second = directory.appendingPathComponent("given")
        let adopted = try prepare(second, ["--sentencepiece-model", model.path])
        XCTAssertEqual(adopted.status, 0, adopted.error)
        XCTAssertEqual(try Data(contentsOf: second.appendingPathComponent("spm.model")), try Data(contentsOf: model))
        XCTAssertEqual(
            try Data(contentsOf: second.appendingPathComponent("spm-dev-00001-of-00001")),
            try Data(contentsOf: first.appendingPathComponent("spm-dev-00001-of-00001")))
        let defaults = try SentencePiece.train(
            inputs: [URL(fileURLWithPath: source)], modelPrefix: directory.appendingPathComponent("defaults"), vocabularySize: 300,
            options: ["minloglevel": "1"])
        _ = defaults
        let refused = try prepare(directory.appendingPathComponent("refused"), ["--sentencepiece-model", directory.appendingPathComponent("defaults.model").path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.error.contains("--pad_id=0 --eos_id=1"), refused.error)
    }

    /// `nmt-prepare corpus` on the sample corpus (train and dev alike, one shard, 300 ids)
    /// into `output`, with `flags` added.
    private func prepareSampleCorpus(into output: URL, _ flags: [String]) throws -> (output: String, error: String, status: Int32) {
        let (source, target) = (try SampleCorpus.fixture("sample.en").path, try SampleCorpus.fixture("sample.de").path)
        return try runProduct(
            "nmt-prepare",
            ["corpus", "--train-source", source, "--train-target", target, "--dev-source", source, "--dev-target", target,
             "--output", output.path, "--name", "spm", "--shards", "1", "--target-size", "300"] + flags,
            testCase: Self.self)
    }
}
