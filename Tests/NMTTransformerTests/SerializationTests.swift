import Foundation
import NMTTensor
import NMTTransformer
import NMTTestSupport
import XCTest

final class SerializationTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try temporaryDirectory(for: self, prefix: "nmt-serialization")
    }


    let configuration = TransformerConfiguration(vocabularySize: 9, hiddenSize: 8, layerCount: 1, headCount: 2, filterSize: 12)

    func testModelRoundTripsExactly() throws {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 5))
        try model.save(to: directory)
        let loaded = try Transformer.load(from: directory)
        XCTAssertEqual(loaded.configuration, configuration)
        let original = model.namedParameters, restored = loaded.namedParameters
        XCTAssertEqual(original.map(\.name), restored.map(\.name))
        for (a, b) in zip(original, restored) { XCTAssertEqual(a.tensor.scalars, b.tensor.scalars, a.name) }
    }

    func testFileLayoutFollowsTheSafetensorsFormat() throws {
        let url = directory.appendingPathComponent("t.safetensors")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try SafeTensors.write(["b": Tensor([1, 2]), "a": Tensor(shape: [1, 1], scalars: [3])], metadata: ["k": "v"], to: url)
        let bytes = [UInt8](try Data(contentsOf: url))
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
        XCTAssertEqual(headerLength % 8, 0, "header padded to a multiple of 8")
        XCTAssertEqual(bytes.count, 8 + headerLength + 12)
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.contains(#""a":{"data_offsets":[0,4],"dtype":"F32","shape":[1,1]}"#), header)
        XCTAssertTrue(header.contains(#""b":{"data_offsets":[4,12]"#), header)
        // "a" (3.0) first, then "b" (1.0, 2.0), little-endian float32.
        XCTAssertEqual(Array(bytes[(8 + headerLength)...]), [0, 0, 0x40, 0x40, 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40])
        let (tensors, metadata) = try SafeTensors.read(from: url)
        XCTAssertEqual(tensors["b"]?.scalars, [1, 2])
        XCTAssertEqual(metadata, ["k": "v"])
    }

    func testCorruptFilesAreRejectedWithTheirPath() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent("bad.safetensors")
        try SafeTensors.write(["w": Tensor([1, 2, 3])], to: url)
        let good = try Data(contentsOf: url)
        for (bytes, fragment) in [
            (good.prefix(good.count - 4), "outside"), (good.prefix(5), "shorter"), (Data([255, 0, 0, 0, 0, 0, 0, 0]), "exceeds"),
        ] {
            try bytes.write(to: url)
            XCTAssertThrowsError(try SafeTensors.read(from: url)) { error in
                XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains(fragment), "\(error)")
            }
        }
    }

    /// A header whose shape's element count overflows Int is an error, not a trap.
    func testOverflowingShapeIsRejected() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent("huge.safetensors")
        for shape in ["[4294967296, 4294967296]", "[3037000500, 3037000500]", "[2305843009213693952, 4]"] {
            var header = Data("{\"w\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,12]}}".utf8)
            while header.count % 8 != 0 { header.append(0x20) }
            var file = Data()
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
            file.append(header)
            file.append(Data(count: 12))
            try file.write(to: url)
            XCTAssertThrowsError(try SafeTensors.read(from: url)) { error in
                XCTAssertTrue("\(error)".contains("too many elements"), "\(shape): \(error)")
            }
        }
    }

    func testMismatchedWeightsAreRefused() throws {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 5))
        try model.save(to: directory)
        var other = configuration
        other.filterSize = 10
        let configurationData = try JSONEncoder().encode(other)
        try configurationData.write(to: directory.appendingPathComponent(Transformer.configurationFileName))
        XCTAssertThrowsError(try Transformer.load(from: directory)) { error in
            XCTAssertTrue("\(error)".contains("model.safetensors") && "\(error)".contains("shape"), "\(error)")
        }
    }
}
