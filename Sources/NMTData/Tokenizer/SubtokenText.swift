/// Text handling of the subword tokenizer, on Unicode code points with Python 3
/// semantics: lengths count code points and ordering compares code points, never
/// Swift `Character`s (grapheme clusters) or `String <`, which would give a different
/// vocabulary. Text is held as `[UInt32]`.
enum SubtokenText {
    /// The reserved tokens, ids 0 and 1.
    static let padding: [UInt32] = Array("<pad>".unicodeScalars.map(\.value))
    static let endOfSentence: [UInt32] = Array("<EOS>".unicodeScalars.map(\.value))
    /// `_ESCAPE_CHARS`: always in the alphabet so that any character can be escaped.
    static let escapeCharacters: Set<UInt32> = Set("\\_u;0123456789".unicodeScalars.map(\.value))
    /// `_UNDEFINED_UNICODE`, what an unrepresentable `\N;` escape decodes to.
    static let undefined: UInt32 = 0x3013

    static let underscore: UInt32 = 0x5F, backslash: UInt32 = 0x5C, space: UInt32 = 0x20, newline: UInt32 = 0x0A
    static let letterU: UInt32 = 0x75, semicolon: UInt32 = 0x3B

    /// Whether a code point is in `_ALPHANUMERIC_CHAR_SET`: general category L* or N*.
    @inline(__always)
    static func isAlphanumeric(_ c: UInt32) -> Bool {
        // ASCII fast path; the table below is exact for it.
        if c < 0x80 { return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
        guard let scalar = Unicode.Scalar(c) else { return false }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    /// Code points of a string.
    static func codePoints(_ text: some StringProtocol) -> [UInt32] { text.unicodeScalars.map(\.value) }

    /// A string from code points (all valid scalars by construction).
    static func string(_ codePoints: some Sequence<UInt32>) -> String {
        var view = String.UnicodeScalarView()
        for c in codePoints { view.append(Unicode.Scalar(c) ?? Unicode.Scalar(undefined)!) }
        return String(view)
    }

    /// `_split_string_to_tokens`: split at every alphanumeric/non-alphanumeric boundary,
    /// dropping single-space tokens except at the start.
    static func splitToTokens(_ text: [UInt32]) -> [ArraySlice<UInt32>] {
        guard !text.isEmpty else { return [] }
        var tokens: [ArraySlice<UInt32>] = []
        var start = 0
        var previous = isAlphanumeric(text[0])
        for position in 1..<text.count {
            let current = isAlphanumeric(text[position])
            if current != previous {
                let token = text[start..<position]
                if !(token.count == 1 && token.first == space) || start == 0 { tokens.append(token) }
                start = position
            }
            previous = current
        }
        tokens.append(text[start...])
        return tokens
    }

    /// `_join_tokens_to_string`: a space between two tokens that both start alphanumeric.
    static func joinTokens(_ tokens: [[UInt32]]) -> [UInt32] {
        var out: [UInt32] = []
        var previousIsAlphanumeric = false
        for (i, token) in tokens.enumerated() {
            let isAlnum = token.first.map(isAlphanumeric) ?? false
            if i > 0 && previousIsAlphanumeric && isAlnum { out.append(space) }
            out += token
            previousIsAlphanumeric = isAlnum
        }
        return out
    }

    /// `_escape_token`: `\` → `\\`, `_` → `\u`, characters outside the alphabet (and
    /// newline) → `\<decimal>;`, then a final `_`.
    static func escape(_ token: some Collection<UInt32>, alphabet: Set<UInt32>) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(token.count + 1)
        for c in token {
            // Replacements first, then the alphabet check on the replaced text, as the
            // reference does (`\` and `u` are always in the alphabet).
            let pieces: [UInt32] = c == backslash ? [backslash, backslash] : c == underscore ? [backslash, letterU] : [c]
            for p in pieces {
                if alphabet.contains(p) && p != newline {
                    out.append(p)
                } else {
                    out.append(backslash)
                    out += String(p).unicodeScalars.map(\.value)
                    out.append(semicolon)
                }
            }
        }
        out.append(underscore)
        return out
    }

    /// `_unescape_token`: `\u` → `_`, `\\` → `\`, `\N;` → code point N (〓 when N is not a
    /// valid scalar: too large, or a surrogate, which Swift strings cannot hold), applied
    /// left to right like the reference's regular expression.
    static func unescape(_ token: some Collection<UInt32>) -> [UInt32] {
        let text = Array(token)
        var out: [UInt32] = []
        var i = 0
        while i < text.count {
            if text[i] == backslash && i + 1 < text.count {
                let next = text[i + 1]
                if next == letterU {
                    out.append(underscore)
                    i += 2
                    continue
                }
                if next == backslash {
                    out.append(backslash)
                    i += 2
                    continue
                }
                // \[0-9]+; (ASCII digits, as Python's [0-9]).
                var j = i + 1
                while j < text.count && text[j] >= 0x30 && text[j] <= 0x39 { j += 1 }
                if j > i + 1 && j < text.count && text[j] == semicolon {
                    var value: UInt64 = 0
                    var overflow = false
                    for d in text[(i + 1)..<j] {
                        value = value * 10 + UInt64(d - 0x30)
                        if value > 0x10FFFF { overflow = true }
                        if overflow { break }
                    }
                    out.append(!overflow && Unicode.Scalar(UInt32(value)) != nil ? UInt32(value) : undefined)
                    i = j + 1
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }
}
