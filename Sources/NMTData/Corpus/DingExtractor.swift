import Foundation

/// Extracts English-German sentence pairs from the Ding dictionary (Debian's
/// `trans-de-en`, `/usr/share/trans/de-en`, GPL-2+), the corpus of the main job.
///
/// A dictionary line reads `DE1 | DE2 ... :: EN1 | EN2 ...`: sub-entries are aligned by
/// position and synonyms within one are separated by `; `. Example sentences are the
/// sub-entries that, once markup (`{...}`, `[...]`, `(...)`, `/abbr/`) is removed, are
/// sentences on both sides: at least 3 words, capitalized, ending in `.`, `!`, `?` or `…`,
/// and free of placeholders such as `etw.`, `jdn.`, `sth.`, `sb.`. The first synonym of
/// each side is taken. Pairs are deduplicated, and a deterministic hash of the English
/// sentence puts about 1 in 18 into the test split, so no test source occurs in train.
public enum DingExtractor {
    /// Where Debian installs the dictionary.
    public static let defaultPath = "/usr/share/trans/de-en"

    /// A sentence pair.
    public struct Pair: Equatable, Hashable, Sendable {
        /// The English sentence.
        public var english: String
        /// The German sentence.
        public var german: String
    }

    /// The train and test pairs of a dictionary file, in file order.
    ///
    /// - Throws: ``CorpusError`` when the file cannot be read or yields no pair.
    public static func extract(from url: URL) throws(CorpusError) -> (train: [Pair], test: [Pair]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw .unreadable(path: url.path, reason: "\(error.localizedDescription); install Debian's trans-de-en package")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .invalidUTF8(path: url.path) }
        var seen = Set<Pair>()
        var train: [Pair] = [], test: [Pair] = []
        for line in TextLines.split(text) where !line.isEmpty && !line.hasPrefix("#") {
            for pair in pairs(inLine: String(line)) where seen.insert(pair).inserted {
                if isTest(pair.english) { test.append(pair) } else { train.append(pair) }
            }
        }
        guard !train.isEmpty, !test.isEmpty else { throw .noPairs(path: url.path) }
        return (train, test)
    }

    /// Carves a development split out of training pairs: the pairs whose English sentence
    /// falls into one of `every` buckets of a hash independent of the test split's (about
    /// 1 in `every`; 19 gives about 1,000 of the Ding pairs). All pairs of one English
    /// sentence land on the same side, so no source is shared between train and dev, and
    /// none with test (test sources never occur in train).
    ///
    /// - Parameters:
    ///   - pairs: the training pairs.
    ///   - every: one in how many English sentences goes to dev; must be at least 2.
    /// - Returns: the remaining training pairs and the development pairs, in input order.
    public static func splitDevelopment(_ pairs: [Pair], every: Int = 19) -> (train: [Pair], dev: [Pair]) {
        precondition(every >= 2, "DingExtractor.splitDevelopment: every must be at least 2, not \(every)")
        var train: [Pair] = [], dev: [Pair] = []
        for pair in pairs {
            // The test split used hash % 18; dividing first makes this bucket independent of it.
            if (fnv1a(pair.english) / 18) % UInt64(every) == 0 { dev.append(pair) } else { train.append(pair) }
        }
        return (train, dev)
    }

    /// The sentence pairs of one dictionary line.
    static func pairs(inLine line: String) -> [Pair] {
        let sides = line.components(separatedBy: " :: ")
        guard sides.count == 2 else { return [] }
        let german = sides[0].components(separatedBy: " | "), english = sides[1].components(separatedBy: " | ")
        guard german.count == english.count else { return [] }
        return zip(german, english).compactMap { de, en in
            guard let deSentence = sentence(de), let enSentence = sentence(en) else { return nil }
            return Pair(english: enSentence, german: deSentence)
        }
    }

    static let placeholders = ["etw.", "jdn.", "jdm.", "jds.", "jd.", "sth.", "sb.", "sb's", "sb’s", "so.", "s.o."]

    /// The cleaned first synonym of a sub-entry if it is a sentence, else nil.
    static func sentence(_ entry: String) -> String? {
        guard let first = entry.components(separatedBy: "; ").first else { return nil }
        let cleaned = stripMarkup(first)
        let words = cleaned.split(separator: " ")
        guard words.count >= 3, let initial = cleaned.first, initial.isUppercase,
            let last = cleaned.last, ".!?…".contains(last)
        else { return nil }
        for word in words where placeholders.contains(where: { word.hasPrefix($0) || word.hasSuffix($0) }) { return nil }
        return cleaned
    }

    /// Removes `{...}`, `[...]`, `(...)` and `/.../` spans (no nesting across types), then
    /// collapses spaces and removes spaces before final punctuation.
    static func stripMarkup(_ text: String) -> String {
        var out = ""
        var closer: Character?
        var depth = 0
        let scalars = Array(text)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if let open = closer {
                if c == open {
                    depth -= 1
                    if depth == 0 { closer = nil }
                } else if (open == "}" && c == "{") || (open == "]" && c == "[") || (open == ")" && c == "(") {
                    depth += 1
                }
                i += 1
                continue
            }
            switch c {
            case "{": closer = "}"; depth = 1
            case "[": closer = "]"; depth = 1
            case "(": closer = ")"; depth = 1
            case "/":
                // An abbreviation marker like /Abk./: a slash, no spaces, a slash.
                if let end = scalars[(i + 1)...].firstIndex(where: { $0 == "/" || $0 == " " }), scalars[end] == "/",
                    end > i + 1, i == 0 || scalars[i - 1] == " "
                {
                    i = end + 1
                    continue
                }
                out.append(c)
            default: out.append(c)
            }
            i += 1
        }
        var collapsed = out.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        for mark in [" .", " !", " ?", " ,", " …"] where collapsed.hasSuffix(mark) {
            collapsed = String(collapsed.dropLast(2)) + String(mark.last!)
        }
        return collapsed
    }

    /// Whether an English sentence goes to the test split: FNV-1a (64-bit) of its UTF-8
    /// bytes modulo 18 is 0. Stable across platforms and runs.
    static func isTest(_ english: String) -> Bool { fnv1a(english) % 18 == 0 }

    /// The 64-bit FNV-1a hash of a sentence's UTF-8 bytes.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}

/// A corpus that cannot be prepared.
public enum CorpusError: Error, Equatable, CustomStringConvertible {
    /// A file cannot be read.
    case unreadable(path: String, reason: String)
    /// A file is not UTF-8.
    case invalidUTF8(path: String)
    /// The dictionary yielded no sentence pairs.
    case noPairs(path: String)
    /// Source and target files are not line-aligned.
    case lineCountMismatch(source: String, sourceLines: Int, target: String, targetLines: Int)
    /// Writing the output failed.
    case writeFailed(path: String, reason: String)

    /// A sentence naming the file and the problem.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path) cannot be read: \(reason)"
        case .invalidUTF8(let path): return "\(path) is not valid UTF-8"
        case .noPairs(let path): return "\(path) yielded no sentence pairs; is it the Ding de-en dictionary?"
        case .lineCountMismatch(let source, let sourceLines, let target, let targetLines):
            return "\(source) has \(sourceLines) lines but \(target) has \(targetLines); they must be line-aligned"
        case .writeFailed(let path, let reason): return "cannot write \(path): \(reason)"
        }
    }
}
