import NMTTensor
import XCTest

final class BufferPoolTests: XCTestCase {
    func testLargeBuffersAreRecycledAndTrimmed() {
        let pool = BufferPool.shared
        pool.trim()
        XCTAssertEqual(pool.cachedBytes, 0)
        do {
            let large = Tensor.zeros([1024, 64])  // 256 KiB: pooled on release
            XCTAssertEqual(large.scalarCount, 65536)
        }
        XCTAssertEqual(pool.cachedBytes, 262_144)
        // The same size is served from the cache; its contents are overwritten by the kernel.
        let reused = Tensor(repeating: 3, shape: [64, 1024])
        XCTAssertEqual(pool.cachedBytes, 0)
        XCTAssertTrue(reused.scalars.allSatisfy { $0 == 3 })
        do { _ = Tensor.zeros([8, 8]) }  // 256 bytes: below the pooling threshold
        XCTAssertEqual(pool.cachedBytes, 0)

        let previousCapacity = pool.capacityBytes
        defer { pool.capacityBytes = previousCapacity }
        pool.capacityBytes = 100_000
        do { _ = Tensor.zeros([1024, 64]) }
        XCTAssertEqual(pool.cachedBytes, 0, "buffers beyond the capacity are freed")
    }
}
