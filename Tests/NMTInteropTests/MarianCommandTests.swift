import Foundation
import NMTTestSupport
import XCTest

/// nmt-translate on a Hugging Face Marian directory: no --vocab, generate()'s decoding by
/// default, --greedy for its greedy search, and clear refusals.
final class MarianCommandTests: XCTestCase {
    func testNmtTranslateReadsAMarianDirectory() throws {
        let model = try MarianParityTests.directory("multilingual")
        let sentence = try MarianParityTests.expected("multilingual").sentences[1]
        for (flags, expected) in [([String](), sentence.beam_text), (["--greedy"], sentence.greedy_text)] {
            let result = try runProduct(
                "nmt-translate", ["--model-dir", model.path, "--text", sentence.source] + flags, testCase: Self.self)
            XCTAssertEqual(result.status, 0, result.error)
            XCTAssertEqual(result.output, expected + "\n", "\(flags)")
        }
    }

    func testNmtTranslateRefusesAVocabularyForAMarianDirectoryAndAMissingOneForOurs() throws {
        let model = try MarianParityTests.directory("swish-tied")
        let refused = try runProduct(
            "nmt-translate", ["--model-dir", model.path, "--vocab", model.appendingPathComponent("vocab.json").path, "--text", "x"],
            testCase: Self.self)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.error.contains("leave out the vocabulary"), refused.error)
        let empty = try temporaryDirectory(for: self)
        let needed = try runProduct("nmt-translate", ["--model-dir", empty.path, "--text", "x"], testCase: Self.self)
        XCTAssertNotEqual(needed.status, 0)
        XCTAssertTrue(needed.error.contains("--vocab"), needed.error)
    }
}
