import Foundation
import Logging
import NMTAccelerator
import NMTData
import NMTSchedule
import NMTTestSupport
import NMTTransformer
import XCTest

/// The bad-input corpus (`Fixtures/bad-input`, written by `Scripts/robustness/make-bad-inputs.py`)
/// fed to the programs as a user would: each case asserts the exit status, the message,
/// that no output was written and that no earlier work was lost. `runProduct` fails any
/// test whose program dies by a signal.
final class BadInputTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws {
        directory = try temporaryDirectory(for: self, prefix: "nmt-bad-input")
    }

    /// A model directory with checkpoints 1 and 2 of a 2-step run on the sample corpus,
    /// trained once for the whole class; tests that break it work on a copy.
    static let trainedModel: Result<URL, Error> = Result {
        let model = SampleCorpus.directory.appendingPathComponent("bad-input-model")
        var options = try SampleCorpus.options(modelDirectory: model, steps: 2)
        options.checkpointEvery = 1
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        _ = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger).run()
        return model
    }

    var vocabulary: String { get throws { try SampleCorpus.prepared.get().appendingPathComponent("sample.vocab").path } }

    func badInput(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/bad-input")).path
    }

    /// A copy of the trained model directory that a test may break.
    func modelCopy() throws -> URL {
        let copy = directory.appendingPathComponent("model")
        try FileManager.default.copyItem(at: Self.trainedModel.get(), to: copy)
        return copy
    }

    /// A data directory holding the sample corpus's training shards and `dev` as its dev shard.
    func dataDirectory(dev: String) throws -> URL {
        let data = directory.appendingPathComponent("data"), sample = try SampleCorpus.prepared.get().appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: sample.path) where name.contains("train") {
            try FileManager.default.copyItem(at: sample.appendingPathComponent(name), to: data.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(atPath: dev, toPath: data.appendingPathComponent("sample-dev-00001-of-00001").path)
        return data
    }

    /// `nmt-train` arguments for the sample model (its configuration as a --config file).
    func trainArguments(data: URL, model: URL, steps: Int, extra: [String] = []) throws -> [String] {
        let configuration = directory.appendingPathComponent("configuration.json")
        try JSONEncoder().encode(SampleCorpus.configuration).write(to: configuration)
        return ["--data-dir", data.path, "--model-dir", model.path, "--vocab", try vocabulary, "--config", configuration.path,
                "--batch-size", "400", "--max-length", "40", "--train-steps", "\(steps)", "--steps-between-evals", "\(steps)",
                "--warmup-steps", "20", "--checkpoint-every", "1"] + extra
    }

    func run(_ product: String, _ arguments: [String]) throws -> (output: String, error: String, status: Int32) {
        try runProduct(product, arguments, testCase: Self.self)
    }

    func assertFails(
        _ result: (output: String, error: String, status: Int32), saying reason: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertNotEqual(result.status, 0, "exit status", file: file, line: line)
        XCTAssertTrue(result.error.contains(reason), "stderr was: \(result.error)", file: file, line: line)
    }

    func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }

    // MARK: - Text

    func testCRLFLinesStaySeparate() throws {
        let model = try Self.trainedModel.get(), output = directory.appendingPathComponent("out.de")
        let translated = try run("nmt-translate", ["--model-dir", model.path, "--vocab", try vocabulary, "--file", try badInput("crlf.en"),
                                                   "--output", output.path, "--extra-length", "3"])
        XCTAssertEqual(translated.status, 0, translated.error)
        XCTAssertEqual(try String(contentsOf: output, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).count, 5,
                       "four translations, each ending in a newline")
        let encoded = try run("nmt-prepare", ["encode", "--vocab", try vocabulary, try badInput("crlf.en")])
        XCTAssertEqual(encoded.status, 0, encoded.error)
        XCTAssertEqual(encoded.output.split(separator: "\n").count, 4)
        XCTAssertFalse(encoded.output.contains("\r"))
    }

    func testInvalidUTF8IsRefusedNamingTheFile() throws {
        let model = try Self.trainedModel.get(), output = directory.appendingPathComponent("out.de"), bad = try badInput("invalid-utf8.en")
        assertFails(try run("nmt-translate", ["--model-dir", model.path, "--vocab", try vocabulary, "--file", bad, "--output", output.path]),
                    saying: bad)
        XCTAssertFalse(exists(output))
        assertFails(try run("nmt-bleu", ["--translation", bad, "--reference", try badInput("crlf.en")]), saying: bad)
    }

    // MARK: - Records

    /// A broken dev shard is found when training starts, before any step, and nothing is written.
    func testBrokenRecordsAreRefusedBeforeTraining() throws {
        let cases = [("truncated.tfrecord", "is truncated at byte 58"), ("crc-bad.tfrecord", "CRC mismatch in the data"),
                     ("short-tail.tfrecord", "is truncated at byte 58 (record of 67 bytes)")]
        for (name, reason) in cases {
            let bad = try badInput(name)
            assertFails(try run("nmt-prepare", ["dump", bad]), saying: reason)
            assertFails(try run("nmt-evaluate", ["--model-dir", try Self.trainedModel.get().path, "--data", bad]),
                        saying: reason)
            let data = try dataDirectory(dev: bad), model = directory.appendingPathComponent("model-\(name)")
            let trained = try run("nmt-train", try trainArguments(data: data, model: model, steps: 2))
            assertFails(trained, saying: reason)
            XCTAssertFalse(trained.error.contains("step 1"), "no step ran: \(trained.error)")
            XCTAssertEqual((try? Checkpoint.checkpoints(in: model)) ?? [], [], "no checkpoint written for \(name)")
            try FileManager.default.removeItem(at: data)
        }
    }

    func testIdsOutsideTheVocabularyAreReported() throws {
        let bad = try badInput("out-of-range-ids.tfrecord")
        let dumped = try run("nmt-prepare", ["dump", bad, "--vocab", try vocabulary])
        XCTAssertEqual(dumped.status, 0, dumped.error)
        XCTAssertEqual(dumped.output.split(separator: "\n").count, 3)
        XCTAssertTrue(dumped.error.contains("record 3: inputs id 99999 is outside the vocabulary"), dumped.error)
        XCTAssertTrue(dumped.error.contains("record 3: targets id -3 is negative"), dumped.error)
        assertFails(try run("nmt-evaluate", ["--model-dir", try Self.trainedModel.get().path, "--data", bad]),
                    saying: "99999")
    }

    func testEvaluationWithoutTargetTokensSaysSo() throws {
        let result = try run("nmt-evaluate", ["--model-dir", try Self.trainedModel.get().path, "--data", try badInput("no-targets.tfrecord")])
        assertFails(result, saying: "hold no example with a target token")
        XCTAssertFalse(result.error.contains("nan"), result.error)
    }

    // MARK: - Checkpoints

    func testWeightsWithAnOverflowingShapeAreRefused() throws {
        let model = try modelCopy()
        for step in ["checkpoint-00000001", "checkpoint-00000002"] {
            let weights = model.appendingPathComponent(step).appendingPathComponent("model.safetensors")
            try FileManager.default.removeItem(at: weights)
            try FileManager.default.copyItem(atPath: try badInput("overflow-shape.safetensors"), toPath: weights.path)
        }
        assertFails(try run("nmt-translate", ["--model-dir", model.path, "--vocab", try vocabulary, "--text", "Hello."]),
                    saying: "model.safetensors is damaged")
        // Without the checksums (a checkpoint from before them), the header check catches it.
        for step in ["checkpoint-00000001", "checkpoint-00000002"] { try removeFileChecksums(fromCheckpoint: model.appendingPathComponent(step)) }
        assertFails(try run("nmt-translate", ["--model-dir", model.path, "--vocab", try vocabulary, "--text", "Hello."]),
                    saying: "too many elements to address")
    }

    /// Broken newer checkpoints are skipped with a warning; the newest usable one translates
    /// (a plain file named like a checkpoint is not a checkpoint and is ignored).
    func testBrokenNewestCheckpointsFallBackToTheNewestUsable() throws {
        let model = try modelCopy()
        try FileManager.default.createDirectory(at: model.appendingPathComponent("checkpoint-00000700"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: model.appendingPathComponent("checkpoint-00000800"))
        let result = try run("nmt-translate", ["--model-dir", model.path, "--vocab", try vocabulary, "--text", "Hello.", "--extra-length", "3"])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.error.contains("warning: skipping checkpoint-00000700: checkpoint file"), result.error)
        XCTAssertTrue(result.error.contains("manifest.json cannot be read: missing"), result.error)
        XCTAssertEqual(result.output.filter { $0 == "\n" }.count, 1, "one translation")
    }

    func testContradictoryCheckpointsAreRefused() throws {
        let model = try modelCopy()
        try FileManager.default.removeItem(at: model.appendingPathComponent("checkpoint-00000001"))
        let checkpoint = model.appendingPathComponent("checkpoint-00000002")
        // Checked behind the file checksums, as in a checkpoint written before them.
        try removeFileChecksums(fromCheckpoint: checkpoint)
        // configuration.json describing another model than the manifest.
        let configurationURL = checkpoint.appendingPathComponent("configuration.json")
        let original = try Data(contentsOf: configurationURL)
        var configuration = try JSONSerialization.jsonObject(with: original) as! [String: Any]
        configuration["hiddenSize"] = 64
        try JSONSerialization.data(withJSONObject: configuration).write(to: configurationURL)
        assertFails(try run("nmt-translate", ["--model-dir", model.path, "--vocab", try vocabulary, "--text", "Hello."]),
                    saying: "different models")
        try original.write(to: configurationURL)

        // A manifest with a negative step.
        let manifestURL = checkpoint.appendingPathComponent("manifest.json")
        var manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
        manifest["step"] = -5
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        assertFails(try run("nmt-translate", ["--model-dir", model.path, "--vocab", try vocabulary, "--text", "Hello."]),
                    saying: "step")
    }

    /// A vocabulary of the right size but other subtokens is refused by its hash.
    func testAnotherVocabularyOfTheSameSizeIsRefused() throws {
        let lines = try String(contentsOfFile: try vocabulary, encoding: .utf8).split(separator: "\n")
        let swapped = directory.appendingPathComponent("swapped.vocab")
        try (lines.prefix(2) + lines.dropFirst(2).reversed()).map { $0 + "\n" }.joined().write(to: swapped, atomically: true, encoding: .utf8)
        let result = try run("nmt-translate", ["--model-dir", try Self.trainedModel.get().path, "--vocab", swapped.path, "--text", "Hello."])
        assertFails(result, saying: "vocabulary")
        XCTAssertEqual(result.output, "")
    }

    /// A learning rate that makes the loss non-finite stops training with an error; the
    /// checkpoints from before are kept and no non-finite one is written.
    func testNonFiniteTrainingKeepsEarlierCheckpoints() throws {
        let model = try modelCopy(), data = try dataDirectory(dev: try SampleCorpus.prepared.get().path + "/data/sample-dev-00001-of-00001")
        let before = try Data(contentsOf: model.appendingPathComponent("checkpoint-00000002/model.safetensors"))
        let result = try run("nmt-train", try trainArguments(data: data, model: model, steps: 8, extra: ["--learning-rate=1e12"]))
        assertFails(result, saying: "training stopped, and the last checkpoint (before it) is kept")
        let checkpoints = try Checkpoint.checkpoints(in: model).map(\.lastPathComponent)
        XCTAssertTrue(checkpoints.contains("checkpoint-00000001") && checkpoints.contains("checkpoint-00000002"), "\(checkpoints)")
        XCTAssertEqual(try Data(contentsOf: model.appendingPathComponent("checkpoint-00000002/model.safetensors")), before)
        for checkpoint in try Checkpoint.checkpoints(in: model) {
            let weights = try Checkpoint.load(from: checkpoint).model.namedParameters.flatMap(\.tensor.scalars)
            XCTAssertTrue(weights.allSatisfy(\.isFinite), checkpoint.lastPathComponent)
        }
    }
}
