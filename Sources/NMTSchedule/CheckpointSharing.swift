import Foundation
import Logging
import NMTAccelerator

/// Process 0's newest checkpoint on every process, so that the model directory need not
/// be shared between hosts: process 0 chooses it and sends its files, and the others
/// load a copy in a temporary folder.
enum CheckpointSharing {
    /// The checkpoint every process resumes from (nil: none, start afresh) and, on the
    /// processes that received a copy, the temporary folder to remove once it is loaded.
    ///
    /// - Throws: checkpoint errors on process 0, the group's errors, or file errors
    ///   writing the copy.
    static func newest(in modelDirectory: URL, group: ProcessGroup, logger: Logger) throws -> (checkpoint: URL?, temporary: URL?) {
        var archive: [UInt8] = []
        var newest: URL?
        if group.isPrimary {
            let (latest, skipped) = try Checkpoint.newestUsable(in: modelDirectory)
            for (checkpoint, reason) in skipped { logger.warning("skipping \(checkpoint.lastPathComponent): \(reason)") }
            newest = latest
            if let latest { archive = try pack(latest) }
        }
        archive = try group.broadcast(bytes: archive, from: 0)
        guard !group.isPrimary, !archive.isEmpty else { return (newest, nil) }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("nmt-checkpoint-\(group.rank)-\(UUID().uuidString)")
        do {
            return (try unpack(archive, into: temporary), temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// A checkpoint folder's files in one buffer: a JSON header (the folder's name and
    /// each file's name and size), its length as 8 bytes before it, then the files.
    static func pack(_ checkpoint: URL) throws -> [UInt8] {
        let names = try FileManager.default.contentsOfDirectory(atPath: checkpoint.path).sorted()
        let contents = try names.map { try Data(contentsOf: checkpoint.appendingPathComponent($0)) }
        let header = ArchiveHeader(folder: checkpoint.lastPathComponent, files: names, sizes: contents.map(\.count))
        let headerBytes = try JSONEncoder().encode(header)
        var archive = withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) } + Array(headerBytes)
        for data in contents { archive += data }
        return archive
    }

    /// Writes the files of ``pack(_:)``'s buffer into a new checkpoint folder under
    /// `directory` and returns that folder.
    ///
    /// The buffer comes from another process (or a damaged transfer), so nothing in it is
    /// trusted: every length is checked against what the buffer holds before it is read,
    /// the sizes must add up to the buffer exactly, and every name must be a plain file
    /// name (no `/`, no `..`), so that a lying header can neither read past the buffer nor
    /// write outside `directory`. Everything is checked before anything is written.
    ///
    /// - Throws: ``CheckpointError/unreadable(path:reason:)`` naming what is wrong.
    static func unpack(_ archive: [UInt8], into directory: URL) throws -> URL {
        func broken(_ reason: String) -> CheckpointError {
            .unreadable(path: "checkpoint received from process 0", reason: reason)
        }
        guard archive.count >= 8 else { throw broken("\(archive.count) bytes, shorter than the 8-byte header length") }
        let declared = archive.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared <= UInt64(archive.count - 8) else {
            throw broken("the header claims \(declared) bytes; the buffer holds \(archive.count - 8) after the length")
        }
        let headerLength = Int(declared)
        let header: ArchiveHeader
        do { header = try JSONDecoder().decode(ArchiveHeader.self, from: Data(archive[8..<(8 + headerLength)])) } catch {
            throw broken("the header is not valid: \(error)")
        }
        func isPlainName(_ name: String) -> Bool {
            !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
        }
        guard isPlainName(header.folder), Checkpoint.step(ofDirectoryNamed: header.folder) != nil else {
            throw broken("the folder name \"\(header.folder)\" is not a checkpoint name")
        }
        guard header.files.count == header.sizes.count else {
            throw broken("\(header.files.count) file names but \(header.sizes.count) sizes")
        }
        if let bad = header.files.first(where: { !isPlainName($0) }) { throw broken("the file name \"\(bad)\" is not a plain name") }
        if Set(header.files).count != header.files.count { throw broken("a file name repeats") }
        var expected = 8 + headerLength
        for size in header.sizes {
            guard size >= 0, size <= archive.count - expected else {
                throw broken("file sizes \(header.sizes) do not fit the \(archive.count)-byte buffer")
            }
            expected += size
        }
        guard expected == archive.count else {
            throw broken("the files take \(expected) bytes of the \(archive.count)-byte buffer; the rest is unaccounted for")
        }
        let folder = directory.appendingPathComponent(header.folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var offset = 8 + headerLength
        for (name, size) in zip(header.files, header.sizes) {
            try Data(archive[offset..<(offset + size)]).write(to: folder.appendingPathComponent(name))
            offset += size
        }
        return folder
    }

    private struct ArchiveHeader: Codable {
        var folder: String
        var files: [String]
        var sizes: [Int]
    }
}
