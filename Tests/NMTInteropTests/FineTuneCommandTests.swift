import Foundation
import NMTTestSupport
import XCTest

/// `nmt-train --init-from`: a Marian directory fine-tuned on raw text from the command
/// line, whose model directory then translates and exports without `--vocab`; and the
/// flag combinations it refuses.
final class FineTuneCommandTests: XCTestCase {
    func testNmtTrainFineTunesAMarianDirectoryThatThenTranslatesAndExports() throws {
        let model = try MarianParityTests.directory("swish-tied")
        let sentences = try MarianParityTests.expected("swish-tied").sentences
        let directory = try temporaryDirectory(for: self)
        let (source, target) = (directory.appendingPathComponent("train.en"), directory.appendingPathComponent("train.de"))
        try Data((sentences.map(\.source).joined(separator: "\n") + "\n").utf8).write(to: source)
        try Data((sentences.map(\.beam_text).joined(separator: "\n") + "\n").utf8).write(to: target)
        let run = directory.appendingPathComponent("run")
        let trained = try runProduct(
            "nmt-train",
            ["--init-from", model.path, "--train-source", source.path, "--train-target", target.path, "--model-dir", run.path,
             "--train-steps", "4", "--steps-between-evals", "4", "--checkpoint-every", "4", "--batch-size", "256", "--max-length", "64"],
            testCase: Self.self)
        XCTAssertEqual(trained.status, 0, trained.error)
        XCTAssertTrue(trained.error.contains("before fine-tuning: BLEU uncased"), trained.error + trained.output)
        XCTAssertTrue(trained.error.contains("held out"), trained.error)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoint-00000004").path))

        let translated = try runProduct("nmt-translate", ["--model-dir", run.path, "--text", sentences[0].source], testCase: Self.self)
        XCTAssertEqual(translated.status, 0, translated.error)
        XCTAssertFalse(translated.output.isEmpty)
        let exported = try runProduct(
            "nmt-export", ["--model-dir", run.path, "--format", "huggingface", "--output", directory.appendingPathComponent("hf").path],
            testCase: Self.self)
        XCTAssertEqual(exported.status, 0, exported.error)
        XCTAssertTrue(exported.error.contains("at step 4"), exported.error)
    }

    func testNmtTrainRefusesMixedFlags() throws {
        let model = try MarianParityTests.directory("swish-tied")
        let text = model.appendingPathComponent("vocab.json").path
        let cases: [([String], String)] = [
            (["--train-source", text, "--train-target", text, "--model-dir", "/tmp/x"], "--train-source is for fine-tuning"),
            (["--init-from", model.path, "--model-dir", "/tmp/x"], "--init-from needs --train-source and --train-target"),
            (["--init-from", model.path, "--train-source", text, "--train-target", text, "--data-dir", "/tmp", "--model-dir", "/tmp/x"],
             "--init-from writes its own shards"),
            (["--init-from", model.path, "--train-source", text, "--train-target", text, "--dev-source", text, "--model-dir", "/tmp/x"],
             "give --dev-source and --dev-target together"),
            (["--model-dir", "/tmp/x"], "give --data-dir"),
        ]
        for (arguments, message) in cases {
            let result = try runProduct("nmt-train", arguments, testCase: Self.self)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertTrue(result.error.contains(message), "\(arguments): \(result.error)")
        }
    }
}
