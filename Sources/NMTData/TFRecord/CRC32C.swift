import Foundation
/// CRC-32C (Castagnoli), the checksum of TFRecord framing, and TensorFlow's masking of it.
///
/// Reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF.
public enum CRC32C {
    /// Eight 256-entry tables for slicing-by-8: the checksum advances 8 bytes per step.
    private static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][byte] = crc
        }
        for byte in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[slice - 1][byte]
                tables[slice][byte] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The CRC-32C of `bytes`, continuing from `crc` (0 starts a new checksum).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var state = ~crc
        var index = 0
        let count = bytes.count
        tables.withUnsafeBufferPointer { t in
            let (t0, t1, t2, t3) = (t[0], t[1], t[2], t[3])
            let (t4, t5, t6, t7) = (t[4], t[5], t[6], t[7])
            while index + 8 <= count {
                let low = state ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8
                    | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24)
                state = t7[Int(low & 0xFF)] ^ t6[Int((low >> 8) & 0xFF)] ^ t5[Int((low >> 16) & 0xFF)]
                    ^ t4[Int(low >> 24)] ^ t3[Int(bytes[index + 4])] ^ t2[Int(bytes[index + 5])]
                    ^ t1[Int(bytes[index + 6])] ^ t0[Int(bytes[index + 7])]
                index += 8
            }
            while index < count {
                state = (state >> 8) ^ t0[Int((state ^ UInt32(bytes[index])) & 0xFF)]
                index += 1
            }
        }
        return ~state
    }

    /// The CRC-32C of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// The CRC-32C of a whole file, read in 4 MiB pieces, and its size in bytes.
    ///
    /// - Throws: the file error when it cannot be opened or read.
    public static func checksum(ofFile url: URL) throws -> (crc: UInt32, size: Int) {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var (crc, size): (UInt32, Int) = (0, 0)
        while let piece = try handle.read(upToCount: 4 << 20), !piece.isEmpty {
            crc = piece.withUnsafeBytes { checksum($0, continuing: crc) }
            size += piece.count
        }
        return (crc, size)
    }

    /// ``checksum(ofFile:)`` as 8 hex digits (how manifests and records store it).
    public static func hexChecksum(ofFile url: URL) throws -> String {
        String(format: "%08x", try checksum(ofFile: url).crc)
    }

    /// TensorFlow's masked CRC, `((crc >> 15) | (crc << 17)) + 0xA282EAD8`, stored in
    /// TFRecord files so that a CRC of data containing CRCs stays well distributed.
    public static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// The inverse of ``mask(_:)``.
    public static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- 0xA282_EAD8
        return (rotated >> 17) | (rotated << 15)
    }
}
