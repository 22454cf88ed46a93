// nmt-bleu: scores a translation file against a reference file with the reference
// compute_bleu (international tokenization by default), printing a sacreBLEU-style
// signature, or just the number with --score-only.
import ArgumentParser
import Foundation
import NMT

@main
struct NMTBleu: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-bleu", abstract: "Corpus BLEU of a translation against one reference, as compute_bleu.py.")

    enum Variant: String, ExpressibleByArgument, CaseIterable { case both, cased, uncased }

    @Option(help: "The translations, one per line.") var translation: String
    @Option(help: "The reference translations, line-aligned.") var reference: String
    @Option(help: "Tokenization: intl (the reference's) or 13a (sacreBLEU's default).") var tokenize: String = "intl"
    @Option(help: "Which scores: both, cased or uncased.") var variant: Variant = .both
    @Flag(help: "Print only the score(s), like sacrebleu -b.") var scoreOnly = false

    func validate() throws {
        guard BLEU.Tokenization(rawValue: tokenize) != nil else { throw ValidationError("--tokenize must be intl or 13a, not '\(tokenize)'") }
        for path in [translation, reference] where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(path) does not exist")
        }
    }

    func run() throws {
        let tokenization = BLEU.Tokenization(rawValue: tokenize)!
        let hypothesis = try TextLines.text(of: URL(fileURLWithPath: translation))
        let referenceText = try TextLines.text(of: URL(fileURLWithPath: reference))
        let cases: [Bool] = variant == .both ? [false, true] : [variant == .cased]
        for caseSensitive in cases {
            let score = try BLEU.corpusScore(
                reference: referenceText, translation: hypothesis, caseSensitive: caseSensitive, tokenization: tokenization)
            if scoreOnly {
                print(String(format: "%.2f", score))
            } else {
                print("BLEU|\(BLEU.signature(caseSensitive: caseSensitive, tokenization: tokenization)) = \(String(format: "%.2f", score))")
            }
        }
    }
}
