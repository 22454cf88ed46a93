import Foundation

/// Corpus BLEU as the reference computes it (`utils/metrics.compute_bleu` and
/// `compute_bleu.py`), with its tokenizations.
public enum BLEU {
    /// How text is split into tokens before n-grams are counted.
    public enum Tokenization: String, Sendable, CaseIterable, Codable {
        /// mteval-v14 `--international-tokenization`, the reference's `bleu_tokenize`:
        /// punctuation (Unicode P*) split off unless between digits, symbols (S*) split off.
        case intl
        /// sacreBLEU's default '13a' (mteval-v13a): ASCII punctuation split off, periods and
        /// commas kept inside numbers.
        case thirteenA = "13a"
    }

    /// BLEU over a corpus of token lists (words, or ids for the approximate metric; one
    /// reference per sentence), 0...1.
    ///
    /// The reference's arithmetic exactly: clipped n-gram matches for n = 1...4; an order
    /// with matches gets `matches / possible`; one without gets `1 / (2^k · possible)` for
    /// the k-th such order; an order with no possible n-grams gets 0, which is skipped in
    /// the geometric mean although the log sum is still divided by 4; brevity penalty
    /// `exp(1 - 1/ratio)` when the translation is shorter. The result is rounded to
    /// float32, as the reference returns `np.float32`. An empty translation scores 0.
    public static func score<Token: Hashable>(references: [[Token]], translations: [[Token]], maxOrder: Int = 4) -> Float {
        precondition(references.count == translations.count, "BLEU.score: \(references.count) references vs \(translations.count) translations")
        var matches = [Int](repeating: 0, count: maxOrder), possible = [Int](repeating: 0, count: maxOrder)
        var referenceLength = 0, translationLength = 0
        for (reference, translation) in zip(references, translations) {
            referenceLength += reference.count
            translationLength += translation.count
            let referenceCounts = ngramCounts(reference, maxOrder: maxOrder)
            let translationCounts = ngramCounts(translation, maxOrder: maxOrder)
            for (ngram, count) in referenceCounts {
                matches[ngram.count - 1] += min(count, translationCounts[ngram] ?? 0)
            }
            for (ngram, count) in translationCounts { possible[ngram.count - 1] += count }
        }
        var precisions = [Double](repeating: 0, count: maxOrder)
        var smooth = 1.0
        for i in 0..<maxOrder where possible[i] > 0 {
            if matches[i] > 0 {
                precisions[i] = Double(matches[i]) / Double(possible[i])
            } else {
                smooth *= 2
                precisions[i] = 1 / (smooth * Double(possible[i]))
            }
        }
        var geometricMean = 0.0
        if precisions.max()! > 0 {
            let logSum = precisions.filter { $0 > 0 }.reduce(0) { $0 + Foundation.log($1) }
            geometricMean = Foundation.exp(logSum / Double(maxOrder))
        }
        guard translationLength > 0 else { return 0 }
        let ratio = referenceLength == 0 ? Double.infinity : Double(translationLength) / Double(referenceLength)
        let brevityPenalty = ratio < 1 ? Foundation.exp(1 - 1 / ratio) : 1
        return Float(geometricMean * brevityPenalty)
    }

    /// Counts of every n-gram of order 1...maxOrder.
    static func ngramCounts<T: Hashable>(_ tokens: [T], maxOrder: Int) -> [ArraySlice<T>: Int] {
        var counts: [ArraySlice<T>: Int] = [:]
        for order in 1...maxOrder where order <= tokens.count {
            for start in 0...(tokens.count - order) { counts[tokens[start..<(start + order)], default: 0] += 1 }
        }
        return counts
    }

    /// BLEU × 100 of line-aligned hypothesis and reference texts, as `compute_bleu.py`'s
    /// `bleu_wrapper`: each text is split into lines; case-insensitive scoring lowercases
    /// both sides.
    ///
    /// Unlike the reference, which strips each whole text first, blank lines are kept as
    /// (empty) sentences, and only trailing blank lines beyond the other text's line count
    /// are dropped: a translation file of empty lines (a model that emits EOS at once)
    /// scores 0 instead of failing, and a blank first line does not shift the alignment.
    ///
    /// - Throws: ``BLEUError/lineCountMismatch(references:translations:)`` when the texts
    ///   have different numbers of lines.
    public static func corpusScore(
        reference: String, translation: String, caseSensitive: Bool, tokenization: Tokenization = .intl
    ) throws(BLEUError) -> Float {
        var referenceLines = reference.splitPythonLines()
        var translationLines = translation.splitPythonLines()
        func dropTrailingBlankLines(_ lines: inout [String], downTo count: Int) {
            while lines.count > count, let last = lines.last, pythonStrip(last).isEmpty { lines.removeLast() }
        }
        dropTrailingBlankLines(&referenceLines, downTo: translationLines.count)
        dropTrailingBlankLines(&translationLines, downTo: referenceLines.count)
        guard referenceLines.count == translationLines.count else {
            throw .lineCountMismatch(references: referenceLines.count, translations: translationLines.count)
        }
        if !caseSensitive {
            referenceLines = referenceLines.map { $0.lowercased() }
            translationLines = translationLines.map { $0.lowercased() }
        }
        let tokenize = { (line: String) in tokenization == .intl ? internationalTokens(line) : thirteenATokens(line) }
        return score(references: referenceLines.map(tokenize), translations: translationLines.map(tokenize)) * 100
    }

    /// A sacreBLEU-style signature naming what was measured, e.g.
    /// `nrefs:1|case:mixed|eff:no|tok:intl|smooth:reference|version:swift-nmt`.
    public static func signature(caseSensitive: Bool, tokenization: Tokenization) -> String {
        "nrefs:1|case:\(caseSensitive ? "mixed" : "lc")|eff:no|tok:\(tokenization.rawValue)|smooth:reference|version:swift-nmt"
    }
}

/// A problem with texts given to BLEU.
public enum BLEUError: Error, Equatable, CustomStringConvertible {
    /// The reference and the translation have different numbers of lines.
    case lineCountMismatch(references: Int, translations: Int)

    /// A sentence saying what is wrong.
    public var description: String {
        switch self {
        case .lineCountMismatch(let references, let translations):
            return "reference has \(references) lines but translation has \(translations); they must be line-aligned"
        }
    }
}
