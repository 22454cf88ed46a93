import Foundation

/// The reference's invertible subword tokenizer (`utils/tokenizer.Subtokenizer`).
///
/// Text is split into tokens at alphanumeric boundaries, each token is escaped (so that
/// any character can be represented) and split greedily, longest match first, into
/// subtokens of the vocabulary. `decode(encode(s)) == s` for every string. Ids 0 and 1
/// are `<pad>` and `<EOS>`.
public struct Subtokenizer: Sendable {
    /// The padding id.
    public static let paddingID: Int32 = 0
    /// The end-of-sentence id.
    public static let endOfSentenceID: Int32 = 1

    /// Subtokens by id, as code points.
    let subtokens: [[UInt32]]
    /// Ids by subtoken.
    let ids: [[UInt32]: Int32]
    /// Every character of the vocabulary, of the reserved tokens and the escape characters.
    let alphabet: Set<UInt32>
    /// The longest subtoken, in code points.
    let maximumSubtokenLength: Int
    /// Ids of tokens already split (text repeats its words; the reference memoizes too).
    let cache = TokenCache()

    /// The number of ids (the model's vocabulary size V).
    public var vocabularySize: Int { subtokens.count }

    /// The subtoken of an id, as text.
    public func subtoken(_ id: Int32) -> String { SubtokenText.string(subtokens[Int(id)]) }

    /// Creates a tokenizer from a subtoken list whose first entries are the reserved
    /// tokens `<pad>` and `<EOS>`.
    init(subtokens list: [[UInt32]]) {
        subtokens = list
        var ids: [[UInt32]: Int32] = [:]
        for (i, s) in list.enumerated() { ids[s] = Int32(i) }
        self.ids = ids
        var alphabet = SubtokenText.escapeCharacters
        for s in list { alphabet.formUnion(s) }
        self.alphabet = alphabet
        maximumSubtokenLength = list.map(\.count).max() ?? 1
    }

    /// Loads a vocabulary file: one subtoken per line in single quotes, UTF-8, as the
    /// reference's `_save_vocab_file` writes. Lines equal to a reserved token are skipped
    /// and the reserved tokens are given ids 0 and 1, as the reference's loader does.
    ///
    /// - Throws: ``VocabularyError`` with the file and line number for a line that is not
    ///   a quoted subtoken, a duplicate subtoken, invalid UTF-8, or an empty file.
    public init(vocabularyFile url: URL) throws(VocabularyError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .unreadable(path: url.path, reason: error.localizedDescription) }
        try self.init(vocabularyData: data, path: url.path)
    }

    /// Loads a vocabulary from the bytes of a vocabulary file (see ``init(vocabularyFile:)``);
    /// `path` names it in errors.
    ///
    /// - Throws: ``VocabularyError`` as ``init(vocabularyFile:)``.
    public init(vocabularyData data: Data, path: String) throws(VocabularyError) {
        guard let text = String(data: data, encoding: .utf8) else { throw .invalidUTF8(path: path) }
        var list = [SubtokenText.padding, SubtokenText.endOfSentence]
        var seen = Set(list)
        for (index, rawLine) in TextLines.split(text).map(\.unicodeScalars).enumerated() {
            let line = pythonStripped(rawLine.map(\.value))
            guard line.count >= 3, line.first == 0x27, line.last == 0x27 else {
                throw .malformedLine(path: path, line: index + 1, text: SubtokenText.string(rawLine.prefix(80).map(\.value)))
            }
            let subtoken = Array(line.dropFirst().dropLast())
            if subtoken == SubtokenText.padding || subtoken == SubtokenText.endOfSentence { continue }
            guard seen.insert(subtoken).inserted else {
                throw .duplicateSubtoken(path: path, line: index + 1, subtoken: SubtokenText.string(subtoken))
            }
            list.append(subtoken)
        }
        guard list.count > 2 else { throw .empty(path: path) }
        self.init(subtokens: list)
    }

    /// Writes the vocabulary in the reference's format (`'subtoken'` per line).
    public func write(to url: URL) throws {
        var text = ""
        for s in subtokens { text += "'" + SubtokenText.string(s) + "'\n" }
        try Data(text.utf8).write(to: url, options: .atomic)
    }

    /// The ids of `text`, with EOS appended when asked.
    ///
    /// - Throws: ``EncodingError`` when a token cannot be split into the vocabulary's
    ///   subtokens (only possible with a hand-made vocabulary lacking the escape
    ///   characters or single characters).
    public func encode(_ text: String, addEOS: Bool = false) throws(EncodingError) -> [Int32] {
        var result: [Int32] = []
        for token in SubtokenText.splitToTokens(SubtokenText.codePoints(text)) {
            try appendIDs(of: token, to: &result)
        }
        if addEOS { result.append(Self.endOfSentenceID) }
        return result
    }

    /// Escapes a token and splits it greedily, longest subtoken first (through the cache).
    func appendIDs(of token: ArraySlice<UInt32>, to result: inout [Int32]) throws(EncodingError) {
        let key = Array(token)
        if let cached = cache.ids(of: key) {
            result += cached
            return
        }
        var ids: [Int32] = []
        try splitIntoIDs(token, &ids)
        cache.store(ids, for: key)
        result += ids
    }

    private func splitIntoIDs(_ token: ArraySlice<UInt32>, _ result: inout [Int32]) throws(EncodingError) {
        let escaped = SubtokenText.escape(token, alphabet: alphabet)
        var start = 0
        while start < escaped.count {
            var end = min(escaped.count, start + maximumSubtokenLength)
            var found: Int32?
            while end > start {
                if let id = ids[Array(escaped[start..<end])] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { throw EncodingError(token: SubtokenText.string(escaped)) }
            result.append(id)
            start = end
        }
    }

    /// The text of `ids`; ids beyond the vocabulary are skipped, as in the reference, and
    /// ids 0 and 1 decode to the literal `<pad>` and `<EOS>`.
    public func decode(_ ids: [Int32]) -> String {
        var escaped: [UInt32] = []
        for id in ids where id >= 0 && Int(id) < subtokens.count { escaped += subtokens[Int(id)] }
        let tokens = escaped.split(separator: SubtokenText.underscore, omittingEmptySubsequences: true)
            .map { SubtokenText.unescape($0) }
        return SubtokenText.string(SubtokenText.joinTokens(tokens))
    }
}

/// A thread-safe memo of token → ids, bounded so that it cannot grow without limit on an
/// endless stream of new words (it is emptied when full).
///
/// Sendable: `entries`, its only mutable state, is read and written only under `lock`.
final class TokenCache: @unchecked Sendable {
    private var entries: [[UInt32]: [Int32]] = [:]
    private let lock = NSLock()
    private let capacity = 1 << 20

    func ids(of token: [UInt32]) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[token]
    }

    func store(_ ids: [Int32], for token: [UInt32]) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[token] = ids
    }
}

/// Python's `str.strip()` on code points (Unicode whitespace at both ends).
func pythonStripped(_ line: [UInt32]) -> ArraySlice<UInt32> {
    guard let first = line.firstIndex(where: { !pythonIsSpace($0) }), let last = line.lastIndex(where: { !pythonIsSpace($0) })
    else { return [] }
    return line[first...last]
}

/// Python's `str.isspace()` for one code point.
func pythonIsSpace(_ c: UInt32) -> Bool {
    switch c {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
    default: return false
    }
}

/// A vocabulary file that cannot be used.
public enum VocabularyError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be read.
    case unreadable(path: String, reason: String)
    /// The file is not UTF-8.
    case invalidUTF8(path: String)
    /// A line is not a single-quoted subtoken.
    case malformedLine(path: String, line: Int, text: String)
    /// A subtoken appears twice.
    case duplicateSubtoken(path: String, line: Int, subtoken: String)
    /// The file holds no subtokens.
    case empty(path: String)

    /// A sentence naming the file, the line and the problem.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "vocabulary \(path) cannot be read: \(reason)"
        case .invalidUTF8(let path): return "vocabulary \(path) is not valid UTF-8"
        case .malformedLine(let path, let line, let text):
            return "vocabulary \(path), line \(line): expected a subtoken in single quotes, found \"\(text)\""
        case .duplicateSubtoken(let path, let line, let subtoken):
            return "vocabulary \(path), line \(line): subtoken '\(subtoken)' appears twice"
        case .empty(let path): return "vocabulary \(path) holds no subtokens"
        }
    }
}

/// Text that the vocabulary cannot represent.
public struct EncodingError: Error, Equatable, CustomStringConvertible {
    /// The escaped token that could not be split.
    public var token: String

    /// A sentence naming the token.
    public var description: String {
        "cannot split token \"\(token)\" into subtokens of this vocabulary (it lacks single characters or escapes)"
    }
}
