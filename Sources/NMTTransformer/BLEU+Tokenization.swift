import Foundation

/// The tokenizers of ``BLEU``, written over Unicode scalars to mirror the regular
/// expressions of the reference (`compute_bleu.UnicodeRegex`) and of sacreBLEU's 13a.
extension BLEU {
    /// Python's `str.isspace()` characters: what `str.split()` splits on.
    static func isPythonWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    static func isSymbol(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: return true
        default: return false
        }
    }

    /// Python 3's `\d`: a Unicode decimal digit (Nd).
    static func isDecimalDigit(_ s: Unicode.Scalar) -> Bool { s.properties.generalCategory == .decimalNumber }

    /// One left-to-right `re.sub` pass of a two-character pattern `(a)(b)`: where
    /// `first` and `second` match adjacent scalars, both are replaced by `replace`'s output
    /// and scanning resumes after them (matches do not overlap, as in Python).
    static func substitutePairs(
        _ scalars: [Unicode.Scalar], first: (Unicode.Scalar) -> Bool, second: (Unicode.Scalar) -> Bool,
        _ replace: (Unicode.Scalar, Unicode.Scalar, inout [Unicode.Scalar]) -> Void
    ) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count + scalars.count / 2)
        var i = 0
        while i < scalars.count {
            if i + 1 < scalars.count && first(scalars[i]) && second(scalars[i + 1]) {
                replace(scalars[i], scalars[i + 1], &out)
                i += 2
            } else {
                out.append(scalars[i])
                i += 1
            }
        }
        return out
    }

    /// Splits on runs of Python whitespace, dropping empty pieces (`str.split()`).
    static func pythonSplit(_ scalars: [Unicode.Scalar]) -> [String] {
        var tokens: [String] = [], current = String.UnicodeScalarView()
        for s in scalars {
            if isPythonWhitespace(s) {
                if !current.isEmpty { tokens.append(String(current)) }
                current = String.UnicodeScalarView()
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { tokens.append(String(current)) }
        return tokens
    }

    /// The reference's `bleu_tokenize` (mteval-v14 international tokenization).
    ///
    /// In order: a non-digit followed by punctuation becomes `"c p "`; punctuation followed
    /// by a non-digit becomes `" p c"`; every symbol becomes `" s "`; then the text is split
    /// on whitespace. So punctuation between digits stays (`3,000.50`), and a number's final
    /// period does too (`2014.`), as in the original script.
    public static func internationalTokens(_ text: String) -> [String] {
        let space: Unicode.Scalar = " "
        var s = Array(text.unicodeScalars)
        s = substitutePairs(s, first: { !isDecimalDigit($0) }, second: isPunctuation) { a, b, out in
            out += [a, space, b, space]
        }
        s = substitutePairs(s, first: isPunctuation, second: { !isDecimalDigit($0) }) { a, b, out in
            out += [space, a, space, b]
        }
        var spaced: [Unicode.Scalar] = []
        for c in s { if isSymbol(c) { spaced += [space, c, space] } else { spaced.append(c) } }
        return pythonSplit(spaced)
    }

    /// sacreBLEU's '13a' tokenization (mteval-v13a).
    public static func thirteenATokens(_ text: String) -> [String] {
        var line = text.replacingOccurrences(of: "<skipped>", with: "").replacingOccurrences(of: "-\n", with: "")
            .replacingOccurrences(of: "\n", with: " ")
        if line.contains("&") {
            line = line.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        }
        let space: Unicode.Scalar = " "
        func isASCIIDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }
        // [{-~[-` -&(-+:-@/]: ASCII punctuation except ' , - .
        func isSplitPunctuation(_ c: Unicode.Scalar) -> Bool {
            switch c.value {
            case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F: return true
            default: return false
            }
        }
        func isPeriodOrComma(_ c: Unicode.Scalar) -> Bool { c == "." || c == "," }
        var s: [Unicode.Scalar] = []
        for c in (" " + line + " ").unicodeScalars {
            if isSplitPunctuation(c) { s += [space, c, space] } else { s.append(c) }
        }
        s = substitutePairs(s, first: { !isASCIIDigit($0) }, second: isPeriodOrComma) { a, b, out in
            out += [a, space, b, space]
        }
        s = substitutePairs(s, first: isPeriodOrComma, second: { !isASCIIDigit($0) }) { a, b, out in
            out += [space, a, space, b]
        }
        s = substitutePairs(s, first: isASCIIDigit, second: { $0 == "-" }) { a, b, out in out += [a, space, b, space] }
        return pythonSplit(s)
    }
}

extension String {
    /// Python's `str.splitlines()`: splits at \n, \r\n, \r, \v, \f, \x1c-\x1e, \x85,
    /// U+2028 and U+2029, without keeping the breaks or a final empty line.
    func splitPythonLines() -> [String] {
        var lines: [String] = [], current = String.UnicodeScalarView()
        var previousWasCR = false
        for s in unicodeScalars {
            if s == "\n" && previousWasCR {
                previousWasCR = false
                continue
            }
            previousWasCR = s == "\r"
            switch s.value {
            case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
                lines.append(String(current))
                current = String.UnicodeScalarView()
            default:
                current.append(s)
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }
}

/// Python's `str.strip()`: removes leading and trailing Python whitespace.
func pythonStrip(_ text: String) -> String {
    let scalars = Array(text.unicodeScalars)
    guard let start = scalars.firstIndex(where: { !BLEU.isPythonWhitespace($0) }),
        let end = scalars.lastIndex(where: { !BLEU.isPythonWhitespace($0) })
    else { return "" }
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars[start...end])
    return String(view)
}
