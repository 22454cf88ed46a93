import NMTAccelerator
import NMTLayers
import XCTest

final class DeviceCapabilitiesTests: XCTestCase {
    let staticDevice = DeviceCapabilities(
        shardCount: 2, requiresStaticShapes: true, embeddingMethod: .matmul, allowsPaddingRemoval: false,
        hostMetrics: false)

    func testCPUAcceptsEitherEmbeddingAndPaddingRemoval() throws {
        try DeviceCapabilities.cpu.validate(embeddingMethod: .gather, paddingRemoval: true)
        try DeviceCapabilities.cpu.validate(embeddingMethod: .matmul, paddingRemoval: false)
    }

    func testStaticDeviceRejectsGatherAndPaddingRemoval() throws {
        try staticDevice.validate(embeddingMethod: .matmul, paddingRemoval: false)
        XCTAssertThrowsError(try staticDevice.validate(embeddingMethod: .gather, paddingRemoval: false)) { error in
            XCTAssertTrue("\(error)".contains("'gather'") && "\(error)".contains("'matmul'"), "\(error)")
        }
        XCTAssertThrowsError(try staticDevice.validate(embeddingMethod: .matmul, paddingRemoval: true)) { error in
            XCTAssertTrue("\(error)".contains("padding removal"), "\(error)")
        }
    }
}
