import Foundation
import NMTTransformer
import XCTest

final class BLEUTests: XCTestCase {
    func bleu(_ reference: String, _ translation: String, caseSensitive: Bool) throws -> Float {
        try BLEU.corpusScore(reference: reference, translation: translation, caseSensitive: caseSensitive)
    }

    /// compute_bleu_test.py cases with the values computed from the reference (Documentation/Reference.md, "BLEU").
    func testReferenceCases() throws {
        let same = "test 1 two 3\nmore tests!"
        XCTAssertEqual(try bleu(same, same, caseSensitive: false), 100, accuracy: 1e-4)
        XCTAssertEqual(try bleu(same, same, caseSensitive: true), 100, accuracy: 1e-4)
        let reference = "Test 1 two 3\nmore tests!", translation = "test 1 two 3\nMore tests!"
        XCTAssertEqual(try bleu(reference, translation, caseSensitive: false), 100, accuracy: 1e-4)
        XCTAssertEqual(try bleu(reference, translation, caseSensitive: true), 51.697315, accuracy: 1e-4)
        // Dog/Cat: zero precisions are skipped but the log sum is still divided by 4.
        XCTAssertEqual(try bleu("Testing\nmore tests!", "Dog\nCat", caseSensitive: true), 26.013004, accuracy: 1e-4)
        XCTAssertEqual(try bleu("Testing\nmore tests!", "Dog\nCat", caseSensitive: false), 26.013004, accuracy: 1e-4)
        XCTAssertThrowsError(try bleu("a\nb", "a", caseSensitive: true)) {
            XCTAssertEqual($0 as? BLEUError, .lineCountMismatch(references: 2, translations: 1))
        }
        XCTAssertEqual(BLEU.score(references: [["a", "b"]], translations: [[String]()]), 0)
        // Empty translations (every line blank) score 0; trailing blank lines do not count.
        XCTAssertEqual(try bleu("Ein Satz.\nNoch einer.\n", "\n\n", caseSensitive: true), 0)
        XCTAssertEqual(try bleu("test 1 two 3\n\n", "test 1 two 3\n", caseSensitive: true), 100, accuracy: 1e-4)
    }

    func testInternationalTokenization() {
        // Documentation/Reference.md, "BLEU": compute_bleu_test.py test_bleu_tokenize and its examples.
        let cases: [(String, [String])] = [
            ("Test0, 1 two, 3", ["Test0", ",", "1", "two", ",", "3"]),
            ("It costs $3,000.50 (approx.) in 2014.", ["It", "costs", "$", "3,000.50", "(", "approx", ".", ")", "in", "2014."]),
            ("U.S.A. is big.", ["U", ".", "S", ".", "A", ".", "is", "big", "."]),
            ("Don't stop", ["Don", "'", "t", "stop"]),
            ("5% of x", ["5", "%", "of", "x"]),
            // sacreBLEU's intl tokenizer agrees except on "½!": it treats ½ (No) as a number,
            // the reference's \d (Nd only) does not, so the reference splits the "!" off.
            ("Straße „Zitat“ — 3–4 × 2 = 6 € ½!", ["Straße", "„", "Zitat", "“", "—", "3–4", "×", "2", "=", "6", "€", "½", "!"]),
        ]
        for (text, tokens) in cases { XCTAssertEqual(BLEU.internationalTokens(text), tokens, text) }
    }

    func test13aTokenization() {
        // sacreBLEU 2.x Tokenizer13a on the same strings (Scripts/reference/bleu_reference.py).
        let cases: [(String, [String])] = [
            ("It costs $3,000.50 (approx.) in 2014.", ["It", "costs", "$", "3,000.50", "(", "approx", ".", ")", "in", "2014", "."]),
            ("Don't stop", ["Don't", "stop"]),
            ("Straße „Zitat“ — 3–4 × 2 = 6 € ½!", ["Straße", "„Zitat“", "—", "3–4", "×", "2", "=", "6", "€", "½", "!"]),
            ("a-b 1-2 x.y 3.5, &amp; &lt;tag&gt; (ok)?",
             ["a-b", "1", "-", "2", "x", ".", "y", "3.5", ",", "&", "<", "tag", ">", "(", "ok", ")", "?"]),
        ]
        for (text, tokens) in cases { XCTAssertEqual(BLEU.thirteenATokens(text), tokens, text) }
    }

    /// 300 German sentences against a perturbed copy, scored by sacreBLEU 2.x
    /// (Scripts/reference/bleu_reference.py).
    func testCorpusScoresMatchSacreBLEU() throws {
        func fixture(_ name: String) throws -> String {
            let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "de", subdirectory: "Fixtures"))
            return try String(contentsOf: url, encoding: .utf8)
        }
        let reference = try fixture("bleu.ref"), translation = try fixture("bleu.hyp")
        let expected: [(BLEU.Tokenization, Bool, Float)] = [
            (.intl, true, 83.630247), (.intl, false, 85.247544), (.thirteenA, true, 83.474696), (.thirteenA, false, 85.107271),
        ]
        for (tokenization, caseSensitive, score) in expected {
            XCTAssertEqual(
                try BLEU.corpusScore(
                    reference: reference, translation: translation, caseSensitive: caseSensitive, tokenization: tokenization),
                score, accuracy: 1e-4, "\(tokenization) cased \(caseSensitive)")
        }
        XCTAssertEqual(
            BLEU.signature(caseSensitive: false, tokenization: .intl),
            "nrefs:1|case:lc|eff:no|tok:intl|smooth:reference|version:swift-nmt")
    }
}
