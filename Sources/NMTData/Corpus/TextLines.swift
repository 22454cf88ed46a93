import Foundation

/// The one way swift-nmt splits text into lines, for every file it reads (corpora,
/// vocabularies, sentences to translate, references).
///
/// `"\n"` and `"\r\n"` end a line alike, a final line without a newline is a line, and the
/// final newline does not start an empty line. Swift's `Character`-level split cannot be
/// used: `"\r\n"` is a single `Character`, so splitting on `"\n"` never finds it and a
/// Windows file would read as one line.
public enum TextLines {
    /// The lines of `text`, without their line endings.
    public static func split(_ text: String) -> [Substring] {
        var lines: [Substring] = []
        let bytes = text.utf8
        var start = bytes.startIndex
        var index = start
        while index != bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\n") {
                // "\r" and "\n" are ASCII, so these indices fall on Character boundaries.
                var end = index
                if end > start, bytes[bytes.index(before: end)] == UInt8(ascii: "\r") { end = bytes.index(before: end) }
                lines.append(text[start..<end])
                start = bytes.index(after: index)
            }
            index = bytes.index(after: index)
        }
        if start != bytes.endIndex { lines.append(text[start..<bytes.endIndex]) }
        return lines
    }

    /// The lines of a UTF-8 text file.
    ///
    /// - Throws: ``CorpusError/unreadable(path:reason:)`` or ``CorpusError/invalidUTF8(path:)``.
    public static func read(_ url: URL) throws(CorpusError) -> [Substring] { split(try text(of: url)) }

    /// The whole text of a UTF-8 file; errors name the file.
    ///
    /// - Throws: ``CorpusError/unreadable(path:reason:)`` or ``CorpusError/invalidUTF8(path:)``.
    public static func text(of url: URL) throws(CorpusError) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .unreadable(path: url.path, reason: "it is a directory, not a text file")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            // Foundation's own text for a missing file or a permission error is often just
            // "(NSCocoaErrorDomain error 256.)": say what the system says instead.
            let reason = (error as NSError).userInfo[NSUnderlyingErrorKey].map { "\($0)" } ?? error.localizedDescription
            throw .unreadable(path: url.path, reason: FileManager.default.fileExists(atPath: url.path) ? reason : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .invalidUTF8(path: url.path) }
        return text
    }
}
