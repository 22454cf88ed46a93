import Foundation
import NMTAccelerator
import NMTLayers
import XCTest

final class DeviceCapabilitiesTests: XCTestCase {
    func testPlansOfTheTwoDeviceKinds() throws {
        XCTAssertEqual(DeviceCapabilities.cpu.executionPlan, ExecutionPlan(embeddingMethod: .gather, removesPadding: true))
        XCTAssertEqual(ExecutionPlan.staticShapes, ExecutionPlan(embeddingMethod: .matmul, removesPadding: false))
        let staticDevice = try StaticShardedDevice(shards: 2, batchTokens: 64, maxLength: 8)
        XCTAssertEqual(staticDevice.capabilities.executionPlan, .staticShapes)
        XCTAssertEqual(staticDevice.capabilities.staticBatchShape, [8, 8])
        XCTAssertTrue(staticDevice.capabilities.requiresStaticShapes)
    }

    func testCapabilitiesRoundTripThroughJSON() throws {
        let staticDevice = DeviceCapabilities(
            shardCount: 2, requiresStaticShapes: true, executionPlan: .staticShapes, hostMetrics: false,
            staticBatchShape: [4, 16])
        let decoded = try JSONDecoder().decode(DeviceCapabilities.self, from: JSONEncoder().encode(staticDevice))
        XCTAssertEqual(decoded, staticDevice)
        XCTAssertNotEqual(decoded, .cpu)
    }
}
