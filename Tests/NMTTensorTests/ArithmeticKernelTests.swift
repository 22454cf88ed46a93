import CNMTKernels
import NMTTensor
import NMTTestSupport
import XCTest

/// `nmt_arithmetic` (add, subtract, multiply, divide with an optional broadcast scalar) at
/// every width, bit for bit against Swift's own operators, tails and special values
/// included; `nmt_sum_of_squares` at every width against its lanes computed here.
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

    /// The documented sum: element i in double lane i mod 8, each lane in order, the lanes
    /// combined as ((0+1)+(2+3))+((4+5)+(6+7)). Lengths that end on a vector and that leave
    /// tails of 1 to 7; large and tiny values, so that the order of the additions shows.
    func testSumOfSquaresIsTheDocumentedLaneSumAtEveryWidth() {
        for count in [0, 1, 7, 8, 9, 23, 100, 1001] {
            var x = patternTensor([count], frequency: 0.9, amplitude: 5).scalars
            for i in stride(from: 0, to: count, by: 5) { x[i] *= 1e6 }
            for i in stride(from: 2, to: count, by: 7) { x[i] *= 1e-7 }
            var lanes = [Double](repeating: 0, count: 8)
            for (i, v) in x.enumerated() { lanes[i % 8] += Double(v) * Double(v) }
            let expected = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
            for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                XCTAssertEqual(nmt_sum_of_squares(x, count).bitPattern, expected.bitPattern, "\(count) values, width \(bits)")
            }
        }
    }
}
