import Foundation
import Logging
import NMTAccelerator
import NMTData
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// What a careless or hostile user does to training and translation: blank lines, an
/// output that is the input, two trainings in one directory, shards of another vocabulary,
/// no data at all, a time budget shorter than a step.
final class TrainingAbuseTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws { directory = try temporaryDirectory(for: self, prefix: "nmt-abuse") }

    var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    func translator() throws -> Translator {
        let root = try SampleCorpus.prepared.get()
        let tokenizer = try Subtokenizer(vocabularyFile: root.appendingPathComponent("sample.vocab"))
        let model = try Transformer(configuration: SampleCorpus.configuration.withVocabularySize(tokenizer.vocabularySize), key: RandomKey(seed: 9))
        var translator = try Translator(model: model, tokenizer: tokenizer)
        translator.extraDecodeLength = 3
        return translator
    }

    /// An empty or whitespace-only line translates to an empty line (three blank lines
    /// once came out as "Die Sache." three times); the other lines are translated as they
    /// would be without the blank ones (the same batch, so exactly).
    func testBlankLinesTranslateToBlankLines() throws {
        let translator = try translator()
        let lines = ["", "Good morning.", "   ", "\t", "Where is the station?", ""]
        let translated = try translator.translate(lines)
        XCTAssertEqual(translated.count, 6)
        for i in [0, 2, 3, 5] { XCTAssertEqual(translated[i], "", "line \(i)") }
        XCTAssertEqual([translated[1], translated[4]], try translator.translate(["Good morning.", "Where is the station?"]))
        XCTAssertTrue(translated[1].count > 0)
        XCTAssertEqual(try translator.translate(["", "  "]), ["", ""], "nothing to decode at all")
        XCTAssertEqual(try translator.translate([]), [])
    }

    /// An output that is the input (the same path, a hard link, a symbolic link) is refused
    /// before anything is written, and the input keeps its text (it was truncated).
    func testAnOutputThatIsTheInputIsRefused() throws {
        let translator = try translator()
        let input = directory.appendingPathComponent("input.txt")
        let text = "Good morning.\nWhere is the station?\n"
        try Data(text.utf8).write(to: input)
        let hard = directory.appendingPathComponent("hard.txt"), soft = directory.appendingPathComponent("soft.txt")
        try FileManager.default.linkItem(at: input, to: hard)
        try FileManager.default.createSymbolicLink(at: soft, withDestinationURL: input)
        for output in [input, hard, soft, URL(fileURLWithPath: directory.path + "/./input.txt")] {
            XCTAssertThrowsError(try translator.translateFile(input: input, output: output)) { error in
                XCTAssertEqual(error as? TranslatorError, .outputIsInput(output.path))
            }
        }
        XCTAssertEqual(try String(contentsOf: input, encoding: .utf8), text)
        let output = directory.appendingPathComponent("output.txt")
        XCTAssertEqual(try translator.translateFile(input: input, output: output), 2)
    }

    /// A directory given as the text to translate is named as such (it said only
    /// "(NSCocoaErrorDomain error 256.)"), and a missing file as missing.
    func testADirectoryOrMissingFileAsInputIsNamed() throws {
        XCTAssertThrowsError(try CorpusPreparer.lines(of: directory)) { error in
            XCTAssertEqual("\(error)", "\(directory.path) cannot be read: it is a directory, not a text file")
        }
        let missing = directory.appendingPathComponent("missing.txt")
        XCTAssertThrowsError(try CorpusPreparer.lines(of: missing)) { error in
            XCTAssertEqual("\(error)", "\(missing.path) cannot be read: no such file")
        }
    }

    /// A second writer of a model directory is refused, naming the holder; the claim ends
    /// with its holder.
    func testASecondTrainerOfOneModelDirectoryIsRefused() throws {
        let model = directory.appendingPathComponent("model")
        let options = try SampleCorpus.options(modelDirectory: model, steps: 2)
        var first: Trainer? = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
        XCTAssertThrowsError(try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)) {
            error in
            guard case .modelDirectoryInUse(let path, let holder)? = error as? TrainingError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, model.path)
            XCTAssertTrue(holder.hasPrefix("process \(getpid()) on "), holder)
        }
        XCTAssertNotNil(first)
        first = nil
        XCTAssertNoThrow(try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger))
    }

    /// Shards recorded with another vocabulary are refused (a run with a vocabulary of 508
    /// lines on shards of 286 once trained to its end).
    func testShardsOfAnotherVocabularyAreRefused() throws {
        let root = try SampleCorpus.prepared.get()
        let data = directory.appendingPathComponent("data")
        try FileManager.default.copyItem(at: root.appendingPathComponent("data"), to: data)
        let other = directory.appendingPathComponent("other.vocab")
        try Data("'<pad>'\n'<EOS>'\n'a'\n'b'\n".utf8).write(to: other)
        try ShardVocabularyRecord(vocabularyFile: other).write(in: data)
        var options = try SampleCorpus.options(modelDirectory: directory.appendingPathComponent("model"), steps: 2)
        options.dataDirectory = data
        XCTAssertThrowsError(try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)) {
            guard case .dataVocabularyMismatch(let path, let shards, _)? = $0 as? TrainingError else { return XCTFail("\($0)") }
            XCTAssertEqual(path, data.path)
            XCTAssertTrue(shards.hasSuffix("4 subtokens"), shards)
        }
    }

    /// Shards without a single example are an error naming the directory (a division by
    /// zero trapped).
    func testAnEmptyShardSetIsAnError() throws {
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        for name in ["empty-train-00001-of-00001", "empty-dev-00001-of-00001"] {
            try TFRecordWriter(url: data.appendingPathComponent(name)).close()
        }
        var options = try SampleCorpus.options(modelDirectory: directory.appendingPathComponent("model"), steps: 2)
        options.dataDirectory = data
        let trainer = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
        XCTAssertThrowsError(try trainer.run()) { XCTAssertEqual($0 as? TrainingError, .noTrainingExamples(directory: data.path)) }
    }

    /// A time budget shorter than a step still trains one step (it saved an untrained
    /// checkpoint and reported "final loss nan").
    func testATinyTimeBudgetTrainsOneStep() throws {
        var options = try SampleCorpus.options(modelDirectory: directory.appendingPathComponent("model"), steps: 20)
        options.maximumSeconds = 1e-6
        let report = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger).run()
        XCTAssertEqual(report.stepsThisRun, 1)
        XCTAssertTrue(report.finalLoss.isFinite, "\(report.finalLoss)")
    }

    /// Resuming with another configuration names what differs; with another vocabulary,
    /// the vocabulary.
    func testResumingWithAnotherModelNamesTheDifference() throws {
        let model = directory.appendingPathComponent("model")
        let options = try SampleCorpus.options(modelDirectory: model, steps: 1)
        _ = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger).run()
        var other = SampleCorpus.configuration
        other.filterSize = 48
        XCTAssertThrowsError(try Trainer(options: options, configuration: other, device: CPUDevice(), logger: logger)) {
            XCTAssertTrue("\($0)".contains("filterSize: saved 64, now 48"), "\($0)")
        }
    }
}
