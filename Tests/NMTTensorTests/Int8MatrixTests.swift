import CNMTKernels
import NMTTensor
import NMTTestSupport
import XCTest

/// int8 products (`Int8Matrix`, `Tensor.matmul(_:int8:addingRow:relu:)`): bit for bit
/// against integer arithmetic done here at every width the CPU has, within the rounding
/// bound of the documentation against the float product, and the errors.
final class Int8MatrixTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    /// Symmetric quantization as the documentation states it, written here independently:
    /// scale max|v|/127, values nearest(v · 127/max) clamped to ±127.
    private func quantize(_ values: [Float]) -> (q: [Int32], scale: Float) {
        let largest = values.map(abs).max() ?? 0
        guard largest > 0 else { return (values.map { _ in 0 }, 0) }
        let inverse = 127 / largest
        return (values.map { Int32(max(-127, min(127, ($0 * inverse).rounded(.toNearestOrEven)))) }, largest / 127)
    }

    /// The product as the kernels promise it: exact integer sums, then sum · (sx · sw),
    /// plus the bias, then ReLU.
    private func expectedProduct(_ x: Tensor, _ w: Tensor, bias: [Float]?, relu: Bool) -> [Float] {
        let (m, k, n) = (x.shape[0], x.shape[1], w.shape[1])
        let xs = x.scalars, ws = w.scalars
        let columns = (0..<n).map { j in quantize((0..<k).map { ws[$0 * n + j] }) }
        var out = [Float](repeating: 0, count: m * n)
        for r in 0..<m {
            let row = quantize(Array(xs[(r * k)..<((r + 1) * k)]))
            for j in 0..<n {
                let sum = (0..<k).reduce(Int32(0)) { $0 + row.q[$1] * columns[j].q[$1] }
                var y = Float(sum) * (row.scale * columns[j].scale)
                if let bias { y = y + bias[j] }
                out[r * n + j] = relu ? (y > 0 ? y : 0) : y
            }
        }
        return out
    }

    /// Odd sizes on every side: one element, depths not a multiple of 4, outputs not a
    /// multiple of 16 (tails) and more than four blocks (the 64-column VNNI tiles), row
    /// counts that leave 1, 2 and 3 rows after the 4-row tiles, and empty sides (an empty
    /// depth gives the bias); with and without bias and ReLU.
    func testEveryWidthMatchesIntegerArithmeticBitForBit() throws {
        let shapes = [(1, 1, 1), (3, 5, 17), (4, 64, 16), (6, 63, 100), (9, 130, 33), (2, 8, 80), (2, 0, 3), (3, 4, 0), (0, 5, 7)]
        for (index, (m, k, n)) in shapes.enumerated() {
            let x = patternTensor([m, k], frequency: 0.61 + Double(index) * 0.1, amplitude: 3)
            let w = patternTensor([k, n], frequency: 0.29 + Double(index) * 0.07, amplitude: 0.5)
            let bias = patternTensor([n], frequency: 1.3, amplitude: 0.2)
            let matrix = try Int8Matrix(kernel: w)
            for (withBias, relu) in [(false, false), (true, true), (true, false)] {
                let expected = expectedProduct(x, w, bias: withBias ? bias.scalars : nil, relu: relu)
                for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                    let actual = Tensor.matmul(x, int8: matrix, addingRow: withBias ? bias : nil, relu: relu)
                    XCTAssertEqual(actual.shape, [m, n])
                    XCTAssertEqual(actual.scalars, expected, "[\(m), \(k)]·[\(k), \(n)], bias \(withBias), relu \(relu), int8 width \(nmt_int8_width())")
                }
            }
        }
    }

    /// Against the float product computed here in double precision: within
    /// sw/2·Σ|x| + sx/2·Σ|w| + k·sx·sw/4 (each value moves at most half a step), plus
    /// 1e-5 relative for the float scaling.
    func testStaysWithinTheRoundingBoundOfTheFloatProduct() throws {
        let (m, k, n) = (5, 96, 40)
        let x = patternTensor([m, k], frequency: 0.77, amplitude: 2)
        let w = patternTensor([k, n], frequency: 0.31, amplitude: 0.1)
        let actual = Tensor.matmul(x, int8: try Int8Matrix(kernel: w)).scalars
        let xs = x.scalars, ws = w.scalars
        for r in 0..<m {
            let row = xs[(r * k)..<((r + 1) * k)]
            let sx = Double(row.map(abs).max()!) / 127
            for j in 0..<n {
                let column = (0..<k).map { ws[$0 * n + j] }
                let sw = Double(column.map(abs).max()!) / 127
                let exact = (0..<k).reduce(0.0) { $0 + Double(xs[r * k + $1]) * Double(column[$1]) }
                let bound = sw / 2 * row.reduce(0.0) { $0 + Double(abs($1)) } + sx / 2 * column.reduce(0.0) { $0 + Double(abs($1)) }
                    + Double(k) * sx * sw / 4
                XCTAssertLessThanOrEqual(abs(Double(actual[r * n + j]) - exact), bound + 1e-5 * abs(exact), "(\(r), \(j))")
            }
        }
    }

    /// Leading axes are rows; a table quantized with `transposing:` equals its transpose
    /// quantized as a kernel; `dequantized()` is each weight to within half a step.
    func testBatchAxesTransposedTablesAndDequantizedWeights() throws {
        let table = patternTensor([21, 12], frequency: 0.43, amplitude: 1.5)  // [out, in]
        let kernel = table.transposed()
        let fromKernel = try Int8Matrix(kernel: kernel), fromTable = try Int8Matrix(transposing: table)
        XCTAssertEqual(fromTable.inputSize, 12)
        XCTAssertEqual(fromTable.outputSize, 21)
        XCTAssertEqual(fromTable.dequantized().scalars, fromKernel.dequantized().scalars)
        let x = patternTensor([2, 3, 12], frequency: 0.9, amplitude: 1)
        let batched = Tensor.matmul(x, int8: fromTable)
        XCTAssertEqual(batched.shape, [2, 3, 21])
        XCTAssertEqual(batched.scalars, Tensor.matmul(x.reshaped(to: [6, 12]), int8: fromKernel).scalars)
        let dequantized = fromKernel.dequantized().scalars, original = kernel.scalars
        for j in 0..<21 {
            let step = (0..<12).map { abs(original[$0 * 21 + j]) }.max()! / 127
            for i in 0..<12 { XCTAssertLessThanOrEqual(abs(dequantized[i * 21 + j] - original[i * 21 + j]), step / 2 * 1.0001) }
        }
    }

    /// Activations round to the nearest step, halves to even, at every width: with the
    /// row's maximum 127 the step is 1, and an identity matrix (each column's scale 1/127,
    /// its one value 127) returns the quantized row itself.
    func testActivationsRoundHalvesToEven() throws {
        let row: [Float] = [127, 0.5, 1.5, -2.5, -0.5, 2.4999, 3.5, -126.5, 0.49, 100.5, -3.5, 4.5, 5.5, -0.51, 7, -127]
        let expected: [Float] = [127, 0, 2, -2, -0, 2, 4, -126, 0, 100, -4, 4, 6, -1, 7, -127]
        let identity = Tensor(shape: [16, 16], scalars: (0..<256).map { $0 / 16 == $0 % 16 ? 1 : 0 })
        let matrix = try Int8Matrix(kernel: identity)
        for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
            XCTAssertEqual(Tensor.matmul(Tensor(shape: [1, 16], scalars: row), int8: matrix).scalars, expected, "width \(bits)")
        }
    }

    /// A NaN or infinite weight is refused with its position; an all-zero input row gives
    /// the bias; a row with NaN gives NaN in that row only.
    func testNonFiniteWeightsZeroRowsAndNaNRows() throws {
        var values = [Float](repeating: 0.5, count: 12)
        values[7] = .infinity  // row 1, column 3 of [3, 4]
        XCTAssertThrowsError(try Int8Matrix(kernel: Tensor(shape: [3, 4], scalars: values))) {
            XCTAssertEqual($0 as? Int8MatrixError, .notFinite(row: 1, column: 3))
        }
        values[7] = .nan  // of [4, 3] transposed: output 2, input 1
        XCTAssertThrowsError(try Int8Matrix(transposing: Tensor(shape: [4, 3], scalars: values))) {
            XCTAssertEqual($0 as? Int8MatrixError, .notFinite(row: 1, column: 2))
            XCTAssertTrue("\($0)".contains("row 1, column 2"))
        }
        let matrix = try Int8Matrix(kernel: patternTensor([4, 3], frequency: 0.5, amplitude: 1))
        let bias = Tensor([0.25, -0.5, 1])
        let x = Tensor(shape: [3, 4], scalars: [0, 0, 0, 0, .nan, 1, 2, 3, 1, 2, 3, 4])
        for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
            let y = Tensor.matmul(x, int8: matrix, addingRow: bias).scalars
            XCTAssertEqual(Array(y[0..<3]), [0.25, -0.5, 1])
            XCTAssertTrue(y[3..<6].allSatisfy(\.isNaN))
            XCTAssertTrue(y[6..<9].allSatisfy(\.isFinite))
        }
    }
}
