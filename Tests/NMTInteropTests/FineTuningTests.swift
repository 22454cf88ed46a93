import Foundation
import Logging
import NMTAccelerator
import NMTData
import NMTInterop
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// Fine-tuning a Marian model (`FineTuning`, `nmt-train --init-from`): the run keeps the
/// model's tokenizer as its vocabulary, writes transformers' ids as shards, trains from
/// the model's weights, and the result translates and exports as a Marian model.
final class FineTuningTests: XCTestCase {
    var directory: URL!
    var train: FineTuning.TextPair!
    let fixtureName = "swish-tied"

    override func setUpWithError() throws {
        directory = try temporaryDirectory(for: self, prefix: "nmt-fine-tune")
        let sentences = try MarianParityTests.expected(fixtureName).sentences
        train = FineTuning.TextPair(source: directory.appendingPathComponent("train.en"), target: directory.appendingPathComponent("train.de"))
        try Data((sentences.map(\.source).joined(separator: "\n") + "\n").utf8).write(to: train.source)
        try Data((sentences.map(\.beam_text).joined(separator: "\n") + "\n").utf8).write(to: train.target)
    }

    func testTheRunKeepsTheTokenizerAndWritesTransformersIDs() throws {
        let fixture = try MarianParityTests.directory(fixtureName), run = directory.appendingPathComponent("run")
        let setup = try FineTuning.prepare(initFrom: fixture, vocabulary: nil, modelDirectory: run, train: train, dev: nil, shards: 2)
        XCTAssertEqual(setup.vocabulary.path, run.appendingPathComponent("tokenizer").path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: setup.vocabulary.appendingPathComponent("model.safetensors").path))
        XCTAssertEqual(try TokenizerFile.checksum(of: setup.vocabulary), try TokenizerFile.checksum(of: fixture))
        let tokenizer = try XCTUnwrap(try TokenizerFile.load(setup.vocabulary) as? MarianTokenizer)

        // 48 pairs: one (1 %, at least 1) is held out, the last.
        let sentences = try MarianParityTests.expected(fixtureName).sentences
        XCTAssertEqual(try CorpusPreparer.lines(of: setup.dev.source), [sentences.last!.source])
        XCTAssertEqual(try CorpusPreparer.lines(of: setup.dev.target), [sentences.last!.beam_text])
        var examples: [TranslationExample] = []
        for shard in ["fine-tuning-train-00001-of-00002", "fine-tuning-train-00002-of-00002"] {
            for record in try TFRecordReader(url: setup.dataDirectory.appendingPathComponent(shard)).readAll() {
                examples.append(try TranslationExample(serialized: record))
            }
        }
        XCTAssertEqual(examples.count, 47)
        // Shuffled within shards: each training sentence appears once, with transformers' input ids.
        let original = { (ids: [Int32]) in ids.map { tokenizer.sourcePermutation.originalIDs[Int($0)] } }
        XCTAssertEqual(Set(examples.map { original($0.inputs) }), Set(sentences.dropLast().map(\.input_ids)))
        for example in examples {
            let sentence = try XCTUnwrap(sentences.first { $0.input_ids == original(example.inputs) })
            XCTAssertEqual(example.targets, try tokenizer.encodeTarget(sentence.beam_text, addEOS: true))
        }

        // The weights and decoding are the Marian directory's.
        let marian = try MarianModelDirectory.load(fixture)
        XCTAssertEqual(setup.initialModel.namedParameters.map(\.tensor.scalars), marian.model.namedParameters.map(\.tensor.scalars))
        XCTAssertEqual(setup.decodingOptions, marian.decodingOptions)
        XCTAssertEqual(setup.trainingOptions.bleuSource, setup.dev.source)

        // Preparing again reuses the shards; other text is refused.
        let again = try FineTuning.prepare(initFrom: fixture, vocabulary: nil, modelDirectory: run, train: train, dev: nil, shards: 2)
        XCTAssertEqual(again.dev, setup.dev)
        try Data("other\n".utf8).write(to: train.target, options: .atomic)
        XCTAssertThrowsError(try FineTuning.prepare(initFrom: fixture, vocabulary: nil, modelDirectory: run, train: train, dev: nil)) {
            XCTAssertEqual($0 as? FineTuningError, .otherText(directory: setup.dataDirectory.path))
        }
        // Another model's tokenizer in the run is refused.
        let other = try MarianParityTests.directory("gelu-separate")
        XCTAssertThrowsError(try FineTuning.prepare(initFrom: other, vocabulary: nil, modelDirectory: run, train: train, dev: nil)) {
            XCTAssertEqual($0 as? FineTuningError, .otherModel(folder: setup.vocabulary.path, given: other.path))
        }
    }

    /// Training lowers the loss on the text trained on; the run's model directory then
    /// translates (no --vocab: its tokenizer folder) with generate()'s search, and exports
    /// as a MarianMTModel directory holding the trained weights.
    func testAFineTunedMarianModelTrainsTranslatesAndExports() throws {
        let fixture = try MarianParityTests.directory(fixtureName), run = directory.appendingPathComponent("run")
        let setup = try FineTuning.prepare(
            initFrom: fixture, vocabulary: nil, modelDirectory: run, train: train, dev: train, shards: 1)
        var options = setup.trainingOptions
        (options.batchTokens, options.maxLength, options.trainSteps, options.stepsBetweenEvals) = (512, 64, 30, 30)
        (options.learningRate, options.warmupSteps, options.checkpointEvery) = (0.05, 10, 30)
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let trainer = try Trainer(
            options: options, configuration: setup.initialModel.configuration, device: CPUDevice(), logger: logger,
            initialModel: setup.initialModel)
        trainer.translationOptions = setup.decodingOptions
        let before = try trainer.evaluate()["loss"]!
        let report = try trainer.run()
        let after = try trainer.evaluate()["loss"]!
        XCTAssertEqual(report.stepsThisRun, 30)
        XCTAssertLessThan(after, before * 0.9, "dev loss \(before) → \(after)")

        let loaded = try TranslationModel.load(run, vocabulary: nil)
        XCTAssertTrue(loaded.tokenizer is MarianTokenizer)
        XCTAssertEqual(loaded.decodingOptions, setup.decodingOptions)
        XCTAssertEqual(loaded.maximumInputTokens, 128)
        let trained = try trainer.evaluationModel()
        XCTAssertEqual(loaded.model.namedParameters.map(\.tensor.scalars), trained.namedParameters.map(\.tensor.scalars))

        let exported = directory.appendingPathComponent("hf")
        let weights = try ModelExport.exportHuggingFace(modelDirectory: run, to: exported)
        XCTAssertEqual(weights.step, 30)
        let reread = try MarianModelDirectory.load(exported)
        XCTAssertEqual(reread.model.namedParameters.map(\.tensor.scalars), trained.namedParameters.map(\.tensor.scalars))
        XCTAssertEqual(reread.decodingOptions, setup.decodingOptions)
        let sources = try CorpusPreparer.lines(of: train.source).prefix(6).map { $0 }
        XCTAssertEqual(try reread.translatorForTest().translate(sources), try loaded.translator().translate(sources))
    }

    /// Rerunning in the same model directory resumes: 4 steps, then a second run to step
    /// 8, end with the weights of 8 steps in one run, bit for bit (the same operations on
    /// the same shapes in the same order, so on every CPU).
    func testAFineTuningRunResumesExactly() throws {
        let fixture = try MarianParityTests.directory(fixtureName)
        func fineTune(_ run: URL, to steps: Int) throws -> Transformer {
            let setup = try FineTuning.prepare(initFrom: fixture, vocabulary: nil, modelDirectory: run, train: train, dev: nil, shards: 2)
            var options = setup.trainingOptions
            (options.batchTokens, options.maxLength, options.trainSteps, options.stepsBetweenEvals) = (256, 64, steps, 4)
            (options.learningRate, options.warmupSteps, options.checkpointEvery) = (0.05, 10, 4)
            options.bleuSource = nil
            options.bleuReference = nil
            var logger = Logger(label: "test")
            logger.logLevel = .error
            let trainer = try Trainer(
                options: options, configuration: setup.initialModel.configuration, device: CPUDevice(), logger: logger,
                initialModel: setup.initialModel)
            _ = try trainer.run()
            return trainer.model
        }
        let straight = try fineTune(directory.appendingPathComponent("straight"), to: 8)
        let resumed = directory.appendingPathComponent("resumed")
        let halfway = try fineTune(resumed, to: 4)
        XCTAssertNotEqual(halfway.namedParameters.map(\.tensor.scalars), straight.namedParameters.map(\.tensor.scalars))
        XCTAssertEqual(try fineTune(resumed, to: 8).namedParameters.map(\.tensor.scalars), straight.namedParameters.map(\.tensor.scalars))
    }

    func testEmptyOrTooShortTextIsRefused() throws {
        let fixture = try MarianParityTests.directory(fixtureName)
        let empty = directory.appendingPathComponent("empty.txt"), one = directory.appendingPathComponent("one.txt")
        try Data().write(to: empty)
        try Data("Hello.\n".utf8).write(to: one)
        let cases: [(FineTuning.TextPair, FineTuning.TextPair?, FineTuningError)] = [
            (.init(source: empty, target: empty), nil, .tooFewPairs(path: empty.path, count: 0)),
            (.init(source: one, target: one), nil, .tooFewPairs(path: one.path, count: 1)),
            (.init(source: empty, target: empty), train, .tooFewPairs(path: empty.path, count: 0)),
        ]
        for (index, (text, dev, expected)) in cases.enumerated() {
            XCTAssertThrowsError(
                try FineTuning.prepare(
                    initFrom: fixture, vocabulary: nil, modelDirectory: directory.appendingPathComponent("run\(index)"), train: text, dev: dev)
            ) { XCTAssertEqual($0 as? FineTuningError, expected, "case \(index)") }
        }
    }

    func testOurVocabularyIsNotCopiedAndAMissingOneIsNamed() throws {
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(
            try FineTuning.prepare(initFrom: empty, vocabulary: nil, modelDirectory: directory.appendingPathComponent("run"), train: train, dev: nil)
        ) { XCTAssertEqual($0 as? TranslationModelError, .vocabularyNeeded(directory: empty.path)) }
        let fixture = try MarianParityTests.directory(fixtureName)
        XCTAssertThrowsError(
            try FineTuning.prepare(
                initFrom: fixture, vocabulary: train.source, modelDirectory: directory.appendingPathComponent("run"), train: train, dev: nil)
        ) { XCTAssertEqual($0 as? TranslationModelError, .vocabularyNotUsed(directory: fixture.path, vocabulary: self.train.source.path)) }
    }
}

extension MarianModelDirectory {
    /// A translator with the directory's decoding.
    fileprivate func translatorForTest() throws -> Translator {
        var translator = try Translator(model: model, tokenizer: tokenizer)
        translator.options = decodingOptions
        return translator
    }
}
