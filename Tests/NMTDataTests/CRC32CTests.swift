import NMTData
import XCTest

/// Values from Documentation/Reference.md, "Data" (checked against TensorFlow).
final class CRC32CTests: XCTestCase {
    func testKnownChecksums() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum([]), 0)
    }

    func testMasking() {
        XCTAssertEqual(CRC32C.mask(CRC32C.checksum([])), 0xA282_EAD8)
        XCTAssertEqual(CRC32C.mask(CRC32C.checksum(Array("123456789".utf8))), 0xC78A_B0E5)
        for value: UInt32 in [0, 1, 0xDEAD_BEEF, 0xFFFF_FFFF] {
            XCTAssertEqual(CRC32C.unmask(CRC32C.mask(value)), value)
        }
    }

    func testIncrementalAndSlicingPathsAgree() {
        // Lengths around the 8-byte stride; continuing a checksum equals one pass.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        for split in [0, 1, 7, 8, 9, 500, 999] {
            let first = CRC32C.checksum(Array(bytes[..<split]))
            let whole = bytes[split...].withUnsafeBytes { CRC32C.checksum($0, continuing: first) }
            XCTAssertEqual(whole, CRC32C.checksum(bytes), "split at \(split)")
        }
        // Bit-by-bit definition for a short input.
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes.prefix(13) {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        XCTAssertEqual(CRC32C.checksum(Array(bytes.prefix(13))), ~crc)
    }
}
