import CNMTKernels
import NMTTensor
import NMTTestSupport
import XCTest

/// `nmt_arithmetic` (add, subtract, multiply, divide with an optional broadcast scalar) at
/// every width, bit for bit against Swift's own operators, tails and special values included.
final class ArithmeticKernelTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    func testEveryWidthEqualsSwiftsOperatorsBitForBit() {
        // 37 elements: two full 16-lane vectors (four of 8) and a tail; zeros, infinities
        // and NaN among them, so 0/0, x/0 and inf - inf all occur.
        var a = patternTensor([37], frequency: 0.7, amplitude: 3).scalars
        var b = patternTensor([37], frequency: 1.3, amplitude: 2).scalars
        (a[3], a[9], a[20], a[36]) = (0, .infinity, .nan, -.infinity)
        (b[3], b[9], b[21], b[36]) = (0, .infinity, 0, -.infinity)
        let operations: [(Int32, (Float, Float) -> Float)] = [(0, { $0 + $1 }), (1, { $0 - $1 }), (2, { $0 * $1 }), (3, { $0 / $1 })]
        for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
            for (code, operation) in operations {
                for (strideA, strideB) in [(1, 1), (1, 0), (0, 1)] {
                    var out = [Float](repeating: 42, count: a.count)
                    nmt_arithmetic(code, a, strideA, b, strideB, &out, a.count)
                    let expected = (0..<a.count).map { operation(a[$0 * strideA], b[$0 * strideB]) }
                    XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "op \(code), strides \(strideA), \(strideB), width \(bits)")
                }
            }
        }
    }
}
