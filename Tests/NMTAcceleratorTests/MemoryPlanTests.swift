@testable import NMTAccelerator
import NMTTensor
import XCTest

final class MemoryPlanTests: XCTestCase {
    func testBuffersShareMemoryOnlyWhenTheirLifetimesDoNotOverlap() {
        let a = KernelBuffer(byteCount: 100), b = KernelBuffer(byteCount: 64), c = KernelBuffer(byteCount: 100)
        let d = KernelBuffer(byteCount: 10)
        func id(_ buffer: KernelBuffer) -> ObjectIdentifier { ObjectIdentifier(buffer) }
        // a lives over launches 0-2, b over 1-3, c over 3-4 (after a), d over 2 (touches a's end).
        let plan = MemoryPlan(buffers: [
            (id(a), 100, 0, 2), (id(b), 64, 1, 3), (id(c), 100, 3, 4), (id(d), 10, 2, 2),
        ])
        func range(_ buffer: KernelBuffer, _ bytes: Int) -> Range<Int> {
            let start = plan.offsets[id(buffer)]!
            XCTAssertEqual(start % 64, 0, "64-byte aligned")
            return start..<(start + bytes)
        }
        XCTAssertFalse(range(a, 100).overlaps(range(b, 64)))
        XCTAssertFalse(range(a, 100).overlaps(range(d, 10)), "lifetimes sharing launch 2 must not share memory")
        XCTAssertFalse(range(b, 64).overlaps(range(c, 100)))
        XCTAssertFalse(range(b, 64).overlaps(range(d, 10)))
        XCTAssertEqual(plan.offsets[id(c)], plan.offsets[id(a)], "c reuses a's memory once a is dead")
        XCTAssertEqual(plan.unsharedBytes, 128 + 64 + 128 + 64)
        XCTAssertLessThan(plan.arenaBytes, plan.unsharedBytes)
    }
}
