import Foundation
import NMTInterop
import NMTTensor
import XCTest
import ZIPFoundation

/// pytorch_model.bin files read without running code: the fixtures of
/// Scripts/reference/malicious_checkpoints.py, made with torch.save.
final class TorchCheckpointTests: XCTestCase {
    /// Where the malicious files' commands would leave a file if anything ran them.
    static let marker = "/tmp/swift-nmt-pickle-ran-code"

    func fixture(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "bin", subdirectory: "Fixtures/malicious"), name)
    }

    override func setUp() { try? FileManager.default.removeItem(atPath: Self.marker) }

    func testAStateDictReadsWithItsValuesStridesAndHalfPrecision() throws {
        let tensors = try TorchCheckpoint.read(from: fixture("good"))
        XCTAssertEqual(tensors["weight"]?.shape, [2, 3])
        XCTAssertEqual(tensors["weight"]?.scalars, [0, 1, 2, 3, 4, 5])
        // weight.t(): the same storage read through strides (1, 3).
        XCTAssertEqual(tensors["transposed"]?.shape, [3, 2])
        XCTAssertEqual(tensors["transposed"]?.scalars, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(tensors["half"]?.scalars, [0, 1, 2, 3, 4, 5])
    }

    func testEveryGlobalOutsideAStateDictIsRefusedByName() throws {
        let cases = [
            ("os-system", "posix.system"), ("protocol-4", "posix.system"), ("builtins-eval", "__builtin__.eval"),
            ("getattr-chain", "__builtin__.getattr"),
        ]
        for (name, global) in cases {
            let url = try fixture(name)
            XCTAssertThrowsError(try TorchCheckpoint.read(from: url), name) { error in
                XCTAssertEqual(error as? TorchCheckpointError, .forbiddenGlobal(path: url.path, global: global))
                XCTAssertTrue("\(error)".contains(global) && "\(error)".contains(url.path), "\(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: Self.marker), "\(name) ran its command")
        }
    }

    func testTheFormatBeforePyTorch16IsRefusedWithWhatToDo() throws {
        XCTAssertThrowsError(try TorchCheckpoint.read(from: fixture("legacy"))) { error in
            XCTAssertTrue("\(error)".contains("before 1.6"), "\(error)")
        }
    }

    /// Hand-made pickles inside a zip laid out as torch.save lays it out.
    func checkpoint(pickle: [UInt8], storages: [String: [Float]] = [:]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pickle-\(UUID().uuidString).bin")
        var files = [("archive/data.pkl", Data(pickle)), ("archive/byteorder", Data("little".utf8))]
        for (key, values) in storages { files.append(("archive/data/\(key)", values.withUnsafeBytes { Data($0) })) }
        try TorchZipWriter.write(files, to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// `{"w": _rebuild_tensor_v2(storage "0" of `count` floats, offset, size, stride, False, OrderedDict())}`.
    func statePickle(count: UInt8, offset: UInt8, size: [UInt8], stride: [UInt8]) -> [UInt8] {
        var p: [UInt8] = [0x80, 2, 0x7D, 0x28] + unicode("w")
        p += Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28, 0x28] + unicode("storage")
        p += Array("ctorch\nFloatStorage\n".utf8) + unicode("0") + unicode("cpu") + [0x4B, count, 0x74, 0x51]
        p += [0x4B, offset, 0x28] + size.flatMap { [0x4B, $0] } + [0x74, 0x28] + stride.flatMap { [0x4B, $0] } + [0x74]
        p += [0x89] + Array("ccollections\nOrderedDict\n".utf8) + [0x29, 0x52, 0x74, 0x52, 0x75, 0x2E]
        return p
    }

    func unicode(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }

    func testAHandMadeStateDictReads() throws {
        let url = try checkpoint(pickle: statePickle(count: 4, offset: 1, size: [3], stride: [1]), storages: ["0": [9, 1, 2, 3]])
        XCTAssertEqual(try TorchCheckpoint.read(from: url)["w"]?.scalars, [1, 2, 3])
    }

    func testAViewPastItsStorageIsRefused() throws {
        let url = try checkpoint(pickle: statePickle(count: 4, offset: 2, size: [3], stride: [1]), storages: ["0": [0, 1, 2, 3]])
        XCTAssertThrowsError(try TorchCheckpoint.read(from: url)) { XCTAssertTrue("\($0)".contains("reaches past its storage"), "\($0)") }
    }

    func testAStorageOfTheWrongSizeIsRefused() throws {
        let url = try checkpoint(pickle: statePickle(count: 8, offset: 0, size: [3], stride: [1]), storages: ["0": [0, 1, 2, 3]])
        XCTAssertThrowsError(try TorchCheckpoint.read(from: url)) { XCTAssertTrue("\($0)".contains("not 8 × 4"), "\($0)") }
    }

    func testCallingAnAllowedGlobalOtherwiseIsRefused() throws {
        // OrderedDict([("a", 1)]): a state dict's OrderedDict is always built empty.
        let pickle: [UInt8] = [0x80, 2] + Array("ccollections\nOrderedDict\n".utf8) + [0x5D] + unicode("a") + [0x4B, 1, 0x86, 0x61, 0x85, 0x52, 0x2E]
        XCTAssertThrowsError(try TorchCheckpoint.read(from: checkpoint(pickle: pickle))) {
            XCTAssertTrue("\($0)".contains("OrderedDict from arguments"), "\($0)")
        }
    }

    func testOpcodesOutsideAStateDictAreRefused() throws {
        // INST (0x69) creates an instance of a named class without GLOBAL.
        let pickle: [UInt8] = [0x80, 2, 0x28] + Array("iposix\nsystem\n".utf8) + [0x2E]
        XCTAssertThrowsError(try TorchCheckpoint.read(from: checkpoint(pickle: pickle))) {
            XCTAssertTrue("\($0)".contains("opcode 0x69"), "\($0)")
        }
    }

    func testTruncatedAndEmptyPicklesAreRefused() throws {
        for pickle: [UInt8] in [[], [0x80], [0x80, 2, 0x58, 0xFF, 0xFF, 0, 0], [0x80, 2, 0x2E]] {
            XCTAssertThrowsError(try TorchCheckpoint.read(from: checkpoint(pickle: pickle)), "\(pickle)") {
                XCTAssertNotNil($0 as? TorchCheckpointError)
            }
        }
    }

    func testAFileThatIsNotAZipIsRefused() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-zip-\(UUID().uuidString).bin")
        try Data("hello".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try TorchCheckpoint.read(from: url)) { XCTAssertTrue("\($0)".contains("not a zip"), "\($0)") }
    }
}

/// Writes a zip of stored (uncompressed) entries, as torch.save does.
enum TorchZipWriter {
    static func write(_ files: [(String, Data)], to url: URL) throws {
        let archive = try Archive(url: url, accessMode: .create)
        for (path, data) in files {
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .none) {
                position, size in data.subdata(in: Int(position)..<(Int(position) + size))
            }
        }
    }
}
