import Foundation

/// Writes TFRecord files: each record is `u64 length (LE) | u32 masked CRC-32C of the
/// length | data | u32 masked CRC-32C of the data`, the framing TensorFlow's
/// `TFRecordWriter` uses, so TensorFlow reads our files and we read its.
public final class TFRecordWriter {
    /// Where the records go.
    public let url: URL
    private let handle: FileHandle
    private var pending = Data()

    /// Creates (or truncates) the file.
    ///
    /// - Throws: ``TFRecordError/cannotOpen(path:reason:)``.
    public init(url: URL) throws(TFRecordError) {
        self.url = url
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw .cannotOpen(path: url.path, reason: "cannot create the file")
        }
        do { handle = try FileHandle(forWritingTo: url) } catch {
            throw .cannotOpen(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Appends one record.
    public func write(_ record: Data) throws(TFRecordError) {
        var length = UInt64(record.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Data($0) }
        pending.append(lengthBytes)
        appendLittleEndian(CRC32C.mask(lengthBytes.withUnsafeBytes { CRC32C.checksum($0) }))
        pending.append(record)
        appendLittleEndian(CRC32C.mask(record.withUnsafeBytes { CRC32C.checksum($0) }))
        if pending.count >= 1 << 20 { try flush() }
    }

    private func appendLittleEndian(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { pending.append(contentsOf: $0) }
    }

    /// Writes buffered records to the file.
    public func flush() throws(TFRecordError) {
        guard !pending.isEmpty else { return }
        do { try handle.write(contentsOf: pending) } catch {
            throw .writeFailed(path: url.path, reason: error.localizedDescription)
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushes and closes the file.
    public func close() throws(TFRecordError) {
        try flush()
        do { try handle.close() } catch { throw .writeFailed(path: url.path, reason: error.localizedDescription) }
    }
}
