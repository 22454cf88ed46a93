import Foundation

/// Reads the records of a TFRecord file, verifying both CRCs of every record.
///
/// A corrupt or truncated record is a thrown ``TFRecordError`` naming the file and the
/// record's byte offset. With `skipsCorruptRecords`, a record whose data CRC fails is
/// skipped and counted instead; a bad length CRC or a truncated tail ends the file (the
/// next record's position cannot be trusted), also counted.
public struct TFRecordReader: Sequence {
    /// The file.
    public let url: URL
    /// Whether corrupt records are skipped (and counted) rather than thrown.
    public let skipsCorruptRecords: Bool
    private let data: Data

    /// Opens a file (memory-mapped).
    ///
    /// - Throws: ``TFRecordError/cannotOpen(path:reason:)``.
    public init(url: URL, skipsCorruptRecords: Bool = false) throws(TFRecordError) {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw .cannotOpen(path: url.path, reason: error.localizedDescription)
        }
        self.init(data: data, url: url, skipsCorruptRecords: skipsCorruptRecords)
    }

    /// Reads records from bytes already in memory; `url` names them in errors.
    public init(data: Data, url: URL, skipsCorruptRecords: Bool = false) {
        self.url = url
        self.skipsCorruptRecords = skipsCorruptRecords
        self.data = data
    }

    /// Iterates the records; `next()` returns nil at the end and throws on corruption.
    public struct Records: IteratorProtocol {
        let reader: TFRecordReader
        /// Byte offset of the next record.
        public private(set) var offset = 0
        /// Corrupt records skipped so far.
        public private(set) var corruptRecordsSkipped = 0

        /// The next record, nil at the end; throws ``TFRecordError`` on corruption.
        public mutating func nextRecord() throws(TFRecordError) -> Data? {
            let data = reader.data, path = reader.url.path
            while offset < data.count {
                let start = offset
                guard data.count - start >= 12 else {
                    return try fail(.truncated(path: path, offset: start, reason: "header of \(data.count - start) bytes"), end: true)
                }
                let length = data.readLittleEndian(UInt64.self, at: start)
                let lengthCRC = data.readLittleEndian(UInt32.self, at: start + 8)
                let expectedLengthCRC = data.withUnsafeBytes { CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + 8)]))) }
                guard lengthCRC == expectedLengthCRC else {
                    return try fail(.corruptLength(path: path, offset: start), end: true)
                }
                // Header, data and the 4-byte data CRC must all fit; a 12-15 byte tail
                // with a valid length CRC has room for no record at all.
                let room = data.count - start - 16
                guard room >= 0, length <= UInt64(room) else {
                    return try fail(.truncated(path: path, offset: start, reason: "record of \(length) bytes"), end: true)
                }
                let dataStart = start + 12, dataEnd = dataStart + Int(length)
                let dataCRC = data.readLittleEndian(UInt32.self, at: dataEnd)
                offset = dataEnd + 4
                let expected = data.withUnsafeBytes { CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[dataStart..<dataEnd]))) }
                guard dataCRC == expected else {
                    if reader.skipsCorruptRecords {
                        corruptRecordsSkipped += 1
                        continue
                    }
                    throw .corruptData(path: path, offset: start)
                }
                return data.subdata(in: dataStart..<dataEnd)
            }
            return nil
        }

        private mutating func fail(_ error: TFRecordError, end: Bool) throws(TFRecordError) -> Data? {
            guard reader.skipsCorruptRecords else { throw error }
            corruptRecordsSkipped += 1
            offset = reader.data.count
            return nil
        }

        /// The next record; a corrupt file ends the iteration (use ``nextRecord()`` to see errors).
        public mutating func next() -> Data? { try? nextRecord() }
    }

    /// An iterator over the records.
    public func makeIterator() -> Records { Records(reader: self) }

    /// Every record of the file.
    ///
    /// - Throws: ``TFRecordError`` on the first corrupt record (unless skipping).
    public func readAll() throws(TFRecordError) -> [Data] {
        var iterator = makeIterator()
        var records: [Data] = []
        while let record = try iterator.nextRecord() { records.append(record) }
        return records
    }
}

extension Data {
    /// A little-endian integer at a byte offset.
    func readLittleEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(self[startIndex + offset + i]) << (8 * i) }
        return value
    }
}

/// A TFRecord file that cannot be read or written.
public enum TFRecordError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be opened or created.
    case cannotOpen(path: String, reason: String)
    /// Writing failed.
    case writeFailed(path: String, reason: String)
    /// The file ends inside a record.
    case truncated(path: String, offset: Int, reason: String)
    /// A record's length does not match its CRC.
    case corruptLength(path: String, offset: Int)
    /// A record's data does not match its CRC.
    case corruptData(path: String, offset: Int)

    /// A sentence naming the file, the byte offset and the problem.
    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "TFRecord file \(path) cannot be opened: \(reason)"
        case .writeFailed(let path, let reason): return "TFRecord file \(path): write failed: \(reason)"
        case .truncated(let path, let offset, let reason):
            return "TFRecord file \(path) is truncated at byte \(offset) (\(reason))"
        case .corruptLength(let path, let offset):
            return "TFRecord file \(path): CRC mismatch in the length of the record at byte \(offset)"
        case .corruptData(let path, let offset):
            return "TFRecord file \(path): CRC mismatch in the data of the record at byte \(offset)"
        }
    }
}
