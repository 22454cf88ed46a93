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

    /// Sizes round up to an eighth of their power of two, so a decoder cache that grows by
    /// a position a step is served from the buffer the previous step released.
    func testSizeClassesServeGrowingBuffers() {
        XCTAssertEqual(BufferPool.sizeClass(ofBytes: 100), 100, "below the threshold: exact")
        XCTAssertEqual(BufferPool.sizeClass(ofBytes: 65_536), 65_536)
        XCTAssertEqual(BufferPool.sizeClass(ofBytes: 65_537), 65_536 + 8_192)
        XCTAssertEqual(BufferPool.sizeClass(ofBytes: 1_000_000), 1_048_576, "524,288 < n ≤ 1,048,576: steps of 65,536")
        XCTAssertEqual(BufferPool.sizeClass(ofBytes: 983_041), 1_048_576)
        XCTAssertEqual(BufferPool.sizeClass(ofBytes: 983_040), 983_040)
        for bytes in stride(from: 65_536, through: 50_000_000, by: 99_991) {
            let size = BufferPool.sizeClass(ofBytes: bytes)
            XCTAssertTrue(size >= bytes && Double(size) <= Double(bytes) * 1.125, "\(bytes) → \(size)")
        }

        let pool = BufferPool.shared
        pool.trim()
        do { _ = Tensor.zeros([10, 2_750]) }  // 110,000 bytes: class 114,688
        XCTAssertEqual(pool.cachedBytes, 114_688)
        let other = Tensor(repeating: 2, shape: [10, 3_000])  // 120,000 bytes: class 122,880
        XCTAssertEqual(pool.cachedBytes, 114_688, "another class: not served from the cache")
        let next = Tensor(repeating: 5, shape: [10, 2_850])  // 114,000 bytes: class 114,688
        XCTAssertEqual(pool.cachedBytes, 0, "served from the released buffer of its class")
        XCTAssertTrue(next.scalars.allSatisfy { $0 == 5 } && other.scalars.allSatisfy { $0 == 2 })
    }
}
