import CNMTKernels
import NMTTensor
import NMTTestSupport
import XCTest

/// Products against packed weights (`PackedMatrix`, `Tensor.matmul(_:packed:addingRow:)`):
/// bit for bit against the fused multiply-add chain computed here, at every width the CPU
/// has, and within float rounding of the BLAS product.
final class PackedMatrixTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    /// The documented arithmetic, written here independently: per output, fused
    /// multiply-adds over the depth in order from +0, then plus the bias.
    private func expectedProduct(_ x: Tensor, _ w: Tensor, bias: [Float]?) -> [Float] {
        let (m, k, n) = (x.shape[0], x.shape[1], w.shape[0])
        let xs = x.scalars, ws = w.scalars
        var out = [Float](repeating: 0, count: m * n)
        for r in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for i in 0..<k { sum.addProduct(xs[r * k + i], ws[j * k + i]) }
                out[r * n + j] = bias.map { sum + $0[j] } ?? sum
            }
        }
        return out
    }

    /// Row counts that use the 8-row and 4-row blocks and leave single rows (13 = 8 + 4 + 1,
    /// 7 = 4 + 3), outputs not a multiple of 16 (the last panel's tail), more panels than
    /// one 128 KiB group (600 outputs of depth 70: two groups, and two cores' chunks), an
    /// empty depth (the bias alone) and empty sides; with and without bias. Depths of 256
    /// and more, where AVX-512 computes three panels at a time: 7 panels (two blocks of
    /// three and one alone), 38 panels in groups of 6 (the last group 2, the last panel 8
    /// columns wide) and a depth whose panel alone overfills a group (groups of 3).
    func testEveryWidthMatchesTheFusedMultiplyAddChainBitForBit() {
        let shapes = [
            (1, 1, 1), (3, 5, 17), (8, 64, 16), (13, 64, 100), (7, 33, 49), (12, 70, 600), (2, 0, 3), (3, 4, 0), (0, 5, 7),
            (13, 256, 100), (5, 300, 600), (9, 2100, 35),
        ]
        for (index, (m, k, n)) in shapes.enumerated() {
            let x = patternTensor([m, k], frequency: 0.61 + Double(index) * 0.1, amplitude: 3)
            let w = patternTensor([n, k], frequency: 0.29 + Double(index) * 0.07, amplitude: 0.5)
            let bias = patternTensor([n], frequency: 1.3, amplitude: 0.2)
            let matrix = PackedMatrix(transposing: w)
            XCTAssertEqual([matrix.inputSize, matrix.outputSize], [k, n])
            for withBias in [false, true] {
                let expected = expectedProduct(x, w, bias: withBias ? bias.scalars : nil)
                for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                    let actual = Tensor.matmul(x, packed: matrix, addingRow: withBias ? bias : nil)
                    XCTAssertEqual(actual.shape, [m, n])
                    XCTAssertEqual(
                        actual.scalars.map(\.bitPattern), expected.map(\.bitPattern),
                        "[\(m), \(k)]·[\(n), \(k)]ᵀ, bias \(withBias), width \(bits)")
                }
            }
        }
    }

    /// `nmt_panel_pack` at every width puts weight (j, i) at panel j / 16, depth i, lane
    /// j % 16 and zero past the last column: depths around the 16- and 8-deep register
    /// blocks (1, 7, 8, 15, 16, 17, 64, 70) and column counts with and without a partial
    /// last panel. The values are distinct, so a misplaced float cannot go unnoticed.
    func testPackingPutsEveryWeightInItsPanelSlotAtEveryWidth() {
        for k in [1, 7, 8, 15, 16, 17, 64, 70] {
            for n in [1, 16, 17, 40, 64] {
                let w = (0..<(n * k)).map { Float($0) + 0.5 }
                let panels = nmt_panel_count(n)
                var expected = [Float](repeating: 0, count: panels * 16 * k)
                for j in 0..<n {
                    for i in 0..<k { expected[((j / 16) * k + i) * 16 + j % 16] = w[j * k + i] }
                }
                for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                    var packed = [Float](repeating: .nan, count: panels * 16 * k)
                    nmt_panel_pack(w, n, k, &packed)
                    XCTAssertEqual(packed.map(\.bitPattern), expected.map(\.bitPattern), "[\(n), \(k)], width \(bits)")
                }
            }
        }
    }

    /// Leading axes are rows: [2, 3, k] gives [2, 3, n], the same values as [6, k].
    func testLeadingAxesAreRows() {
        let x = patternTensor([2, 3, 20], frequency: 0.41, amplitude: 1)
        let matrix = PackedMatrix(transposing: patternTensor([35, 20], frequency: 0.23, amplitude: 0.4))
        let batched = Tensor.matmul(x, packed: matrix)
        XCTAssertEqual(batched.shape, [2, 3, 35])
        XCTAssertEqual(batched.scalars, Tensor.matmul(x.reshaped(to: [6, 20]), packed: matrix).scalars)
    }

    /// Against BLAS (`x · wᵀ + bias`), which may sum in another order on another CPU: two
    /// k-term float sums each differ from the exact one by at most about k·2⁻²⁴·Σ|x_i·w_i|,
    /// and the bias adds one rounding of the result, so they agree within twice that plus
    /// 2⁻²³ relative.
    func testAgreesWithTheBLASProductWithinRounding() {
        let (m, k, n) = (9, 64, 300)
        let x = patternTensor([m, k], frequency: 0.53, amplitude: 2)
        let w = patternTensor([n, k], frequency: 0.19, amplitude: 0.3)
        let bias = patternTensor([n], frequency: 0.7, amplitude: 0.5)
        let packed = Tensor.matmul(x, packed: PackedMatrix(transposing: w), addingRow: bias).scalars
        let blas = (Tensor.matmul(x, w, transposeB: true) + bias).scalars
        let xs = x.scalars, ws = w.scalars
        for r in 0..<m {
            for j in 0..<n {
                let magnitude = (0..<k).reduce(Float(0)) { $0 + abs(xs[r * k + $1] * ws[j * k + $1]) }
                let bound = 2 * Float(k) * 0x1p-24 * magnitude + 0x1p-23 * abs(blas[r * n + j])
                XCTAssertLessThanOrEqual(abs(packed[r * n + j] - blas[r * n + j]), bound, "(\(r), \(j))")
            }
        }
    }
}
