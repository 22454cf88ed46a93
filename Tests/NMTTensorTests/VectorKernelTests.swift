import CNMTKernels
import NMTTensor
import NMTTestSupport
import XCTest

/// The C vector kernels (CNMTKernels) against the Swift kernels they stand in for, which
/// run when the vector width is limited to 0: results agree to a stated tolerance, since
/// the vector kernels sum in another order and use fused multiply-adds.
final class VectorKernelTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    /// Runs `body` once per vector width this CPU has, the portable Swift path (0) first.
    func compareWidths(_ body: () -> [Tensor], tolerance: Float, _ what: String) {
        _ = nmt_kernels_limit_vector_bits(0)
        let reference = body()
        for bits in [256, 512] where nmt_kernels_limit_vector_bits(Int32(bits)) == bits {
            let vector = body()
            for (actual, expected) in zip(vector, reference) {
                assertClose(actual, expected, absoluteTolerance: tolerance, relativeTolerance: tolerance, "\(what), \(bits)-bit")
            }
        }
    }

    /// Label-smoothed cross entropy and its gradient: a width with a tail (1003), large and
    /// small logits, labels 0 and 1002 among them. Relative 2e-6: the sums of 1003 exponentials
    /// differ by a few ulp between 8 and 16 partial sums.
    func testCrossEntropyMatchesTheSwiftKernel() {
        let logits = patternTensor([37, 1003], frequency: 0.37, amplitude: 9)
        let labels = IndexTensor((0..<36).map { Int32($0 * 27 % 1003) } + [1002])
        compareWidths({
            let (loss, gradients) = valueAndGradient(at: [logits]) { x in
                x[0].softmaxCrossEntropy(labels: labels, onValue: 0.9, offValue: 0.1 / 1002).sum()
            }
            return [logits.softmaxCrossEntropy(labels: labels, onValue: 0.9, offValue: 0.1 / 1002), loss, gradients[0]]
        }, tolerance: 2e-6, "cross entropy")
    }

    /// The fused bias + ReLU + dropout gives exactly the three operations' values and
    /// gradients, with and without padding-removed rows, at every width.
    func testFusedBiasReLUDropoutEqualsTheThreeOperations() {
        let keys = RandomKeyBuffer(RandomKey(seed: 9))
        let bias = patternTensor([70], frequency: 0.4, amplitude: 0.5)
        for rows in [nil, IndexTensor([5, 0, 20, 13])] as [IndexTensor?] {
            let x = patternTensor(rows == nil ? [3, 7, 70] : [4, 70], frequency: 0.23, amplitude: 1)
            let weights = patternTensor(x.shape, frequency: 0.71, amplitude: 1)
            func run(fused: Bool) -> [[Float]] {
                let apply = { (p: [Tensor]) -> Tensor in
                    fused
                        ? p[0].addingBiasReLUDropout(p[1], rate: 0.3, keyBuffer: keys, split: 5, elementOffset: 11, rows: rows)
                        : (p[0] + p[1]).relu().dropout(rate: 0.3, keyBuffer: keys, split: 5, elementOffset: 11, rows: rows)
                }
                let (_, gradients) = valueAndGradient(at: [x, bias]) { p in (apply(p) * weights).sum() }
                return [apply([x, bias]).scalars] + gradients.map(\.scalars)
            }
            for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                let fused = run(fused: true), plain = run(fused: false)
                XCTAssertEqual(fused, plain, "\(bits)-bit, rows \(rows?.scalars ?? [])")
                XCTAssertTrue(fused[0].contains(0) && fused[0].contains { $0 > 0 }, "some elements dropped or cut, some kept")
            }
        }
    }
}
