import Foundation

/// Builds a subword vocabulary from text files exactly as the reference's
/// `Subtokenizer.init_from_files` does under Python 3.
public enum VocabularyBuilder {
    /// Token counts of the sampled lines of `files` (`_count_tokens`).
    ///
    /// Each file contributes at most about `fileByteLimit` characters: when a file is
    /// larger than twice the limit (in bytes), only every (size / 2·limit + 1)-th line is
    /// read, and reading stops once the budget, decreased by each stripped line's length
    /// in code points, is below zero.
    ///
    /// - Throws: ``VocabularyBuildError`` when a file cannot be read or is not UTF-8.
    public static func countTokens(files: [URL], fileByteLimit: Int = 1_000_000) throws(VocabularyBuildError) -> [[UInt32]: Int] {
        var counts: [[UInt32]: Int] = [:]
        for url in files {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw .unreadable(path: url.path, reason: error.localizedDescription)
            }
            guard let text = String(data: data, encoding: .utf8) else { throw .invalidUTF8(path: url.path) }
            var budget = Double(fileByteLimit)
            let linesToSkip = Int(Double(data.count) / (Double(fileByteLimit) * 2))
            var counter = 0
            for line in TextLines.split(text).map(\.unicodeScalars) {
                if counter < linesToSkip {
                    counter += 1
                    continue
                }
                if budget < 0 { break }
                let stripped = pythonStripped(line.map(\.value))
                budget -= Double(stripped.count)
                counter = 0
                for token in SubtokenText.splitToTokens(Array(stripped)) { counts[Array(token), default: 0] += 1 }
            }
        }
        return counts
    }

    /// Every character of the tokens and reserved tokens, plus the escape characters
    /// (`_generate_alphabet_dict`).
    static func alphabet(of tokenCounts: [[UInt32]: Int]) -> Set<UInt32> {
        var alphabet = SubtokenText.escapeCharacters
        for token in tokenCounts.keys { alphabet.formUnion(token) }
        alphabet.formUnion(SubtokenText.padding)
        alphabet.formUnion(SubtokenText.endOfSentence)
        return alphabet
    }

    /// Builds a vocabulary.
    ///
    /// - Parameters:
    ///   - files: text files, read in this order.
    ///   - targetSize: the wanted number of subtokens (binary search over min_count).
    ///   - threshold: the search stops when the size is within this distance of the target.
    ///   - minCount: a fixed minimum subtoken count instead of the search.
    ///   - fileByteLimit: bytes of each file read (the reference reads about 1 MB each).
    ///   - progress: called with a line of text after each candidate vocabulary.
    public static func build(
        files: [URL], targetSize: Int, threshold: Int, minCount: Int? = nil, fileByteLimit: Int = 1_000_000,
        progress: ((String) -> Void)? = nil
    ) throws(VocabularyBuildError) -> Subtokenizer {
        let counts = try countTokens(files: files, fileByteLimit: fileByteLimit)
        guard !counts.isEmpty else { throw .noText(paths: files.map(\.path)) }
        let alphabet = alphabet(of: counts)
        let escaped = counts.map { (token: SubtokenText.escape($0.key, alphabet: alphabet), count: $0.value) }
        let table = SubstringTable(tokens: escaped)
        let firstRound = substringCounts(table, vocabulary: nil, maximumLength: 1)
        func generate(_ minCount: Int) -> [[UInt32]] {
            let list = generateSubtokens(table, alphabet: alphabet, minCount: minCount, firstRoundCounts: firstRound)
            progress?("min_count \(minCount): \(list.count) subtokens")
            return list
        }
        if let minCount { return Subtokenizer(subtokens: generate(minCount)) }
        // `bisect(1, 1000)` of the reference.
        func bisect(_ low: Int, _ high: Int) -> [[UInt32]] {
            let current = (low + high) / 2
            let list = generate(current)
            let value = list.count
            if abs(value - targetSize) < threshold || low >= high || current < 2 { return list }
            let other = value > targetSize ? bisect(current + 1, high) : bisect(low, current - 1)
            return abs(other.count - targetSize) < abs(value - targetSize) ? other : list
        }
        return Subtokenizer(subtokens: bisect(1, 1000))
    }

    /// `_generate_subtokens`: four rounds of counting every substring that starts at a
    /// subtoken boundary of the current segmentation, then keeping frequent ones.
    ///
    /// The first round segments into single characters whatever `minCount` is, so its
    /// counts can be computed once and passed in as `firstRoundCounts` for every
    /// candidate of the binary search.
    static func generateSubtokens(
        _ table: SubstringTable, alphabet: Set<UInt32>, minCount: Int, firstRoundCounts: [Int]? = nil, rounds: Int = 4,
        reserved: [[UInt32]] = [SubtokenText.padding, SubtokenText.endOfSentence]
    ) -> [[UInt32]] {
        var counts = firstRoundCounts ?? substringCounts(table, vocabulary: nil, maximumLength: 1)
        var result = (list: [[UInt32]](), vocabulary: [Bool](), maximumLength: 1)
        for round in 0..<rounds {
            if round > 0 { counts = substringCounts(table, vocabulary: result.vocabulary, maximumLength: result.maximumLength) }
            result = newSubtokenList(table, counts: counts, minCount: minCount, alphabet: alphabet, reserved: reserved)
        }
        return result.list
    }

    /// `_count_and_gen_subtokens`: for every token, segment it greedily (longest match
    /// first) with the substrings marked in `vocabulary` (single characters when nil) and
    /// add the token's count to every substring that starts at a segment boundary.
    ///
    /// - Returns: counts by substring id.
    static func substringCounts(_ table: SubstringTable, vocabulary: [Bool]?, maximumLength: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: table.count)
        for (t, token) in table.tokens.enumerated() {
            let count = table.tokenCounts[t]
            var start = 0
            while start < token.count {
                var end = start + 1
                if let vocabulary {
                    end = min(token.count, start + maximumLength)
                    while end > start + 1 && !vocabulary[Int(table.id(token: t, start: start, end: end))] { end -= 1 }
                }
                for e in (start + 1)...token.count { counts[Int(table.id(token: t, start: start, end: e))] += count }
                start = end
            }
        }
        return counts
    }

    /// `_gen_new_subtoken_list`: longest subtokens first, each kept if its count (after
    /// longer ones have claimed theirs from their prefixes) reaches `minCount`; then the
    /// alphabet; sorted by descending (count, code points); reserved tokens first.
    ///
    /// - Returns: the list, the same subtokens marked by substring id (for the next
    ///   round's segmentation) and the longest length that reached `minCount`.
    static func newSubtokenList(
        _ table: SubstringTable, counts original: [Int], minCount: Int, alphabet: Set<UInt32>,
        reserved: [[UInt32]] = [SubtokenText.padding, SubtokenText.endOfSentence]
    ) -> (list: [[UInt32]], vocabulary: [Bool], maximumLength: Int) {
        var counts = original
        var buckets: [[Int32]] = []
        for id in counts.indices where counts[id] >= minCount {
            let length = Int(table.lengths[id])
            while buckets.count <= length { buckets.append([]) }
            buckets[length].append(Int32(id))
        }
        let maximumLength = buckets.count - 1
        var candidates: [(count: Int, id: Int32)] = []
        var inVocabulary = [Bool](repeating: false, count: table.count)
        for length in stride(from: maximumLength, through: 1, by: -1) {
            for id in buckets[length] {
                let count = counts[Int(id)]
                if count < minCount { continue }
                let isAlphabet = length == 1 && alphabet.contains(table.contents(id).first!)
                if !isAlphabet && !reserved.contains(where: { $0.elementsEqual(table.contents(id)) }) {
                    candidates.append((count, id))
                }
                for end in 1..<length { counts[Int(table.prefix(of: id, length: end))] -= count }
            }
        }
        var entries = candidates.map { (count: $0.count, text: Array(table.contents($0.id)), id: $0.id) }
        for c in alphabet {
            let id = table.characterIDs[c]
            entries.append((id.map { counts[Int($0)] } ?? 0, [c], id ?? -1))
        }
        // Python's sorted(reverse=True) on (count, string): count descending, then the
        // string in descending code-point order.
        entries.sort { a, b in
            a.count != b.count ? a.count > b.count : b.text.lexicographicallyPrecedes(a.text)
        }
        for entry in entries where entry.id >= 0 { inVocabulary[Int(entry.id)] = true }
        for r in reserved where r.count == 1 { if let id = table.characterIDs[r[0]] { inVocabulary[Int(id)] = true } }
        return (reserved + entries.map(\.text), inVocabulary, max(maximumLength, 1))
    }
}

/// A vocabulary that cannot be built.
public enum VocabularyBuildError: Error, Equatable, CustomStringConvertible {
    /// A corpus file cannot be read.
    case unreadable(path: String, reason: String)
    /// A corpus file is not UTF-8.
    case invalidUTF8(path: String)
    /// The files contain no text.
    case noText(paths: [String])

    /// A sentence naming the file and the problem.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "corpus file \(path) cannot be read: \(reason)"
        case .invalidUTF8(let path): return "corpus file \(path) is not valid UTF-8"
        case .noText(let paths): return "no text to build a vocabulary from in \(paths.joined(separator: ", "))"
        }
    }
}
