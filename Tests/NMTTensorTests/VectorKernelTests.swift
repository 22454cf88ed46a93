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

    /// Layer normalization and its gradients (input, scale, bias) at a width with a tail
    /// (515), rows of different means and spreads. Relative 1e-5 (absolute 1e-5): 16 partial
    /// sums and fused multiply-adds against serial sums.
    func testLayerNormMatchesTheSwiftKernel() {
        let x = patternTensor([41, 515], frequency: 0.13, amplitude: 3) + patternTensor([41, 1], frequency: 0.9, amplitude: 5)
        let scale = patternTensor([515], frequency: 0.5, amplitude: 1) + 1.5
        let bias = patternTensor([515], frequency: 0.2, amplitude: 0.5)
        let weights = patternTensor([41, 515], frequency: 0.071, amplitude: 1)
        compareWidths({
            let (_, gradients) = valueAndGradient(at: [x, scale, bias]) { p in
                (p[0].layerNormalized(scale: p[1], bias: p[2]) * weights).sum()
            }
            return [x.layerNormalized(scale: scale, bias: bias)] + gradients
        }, tolerance: 1e-5, "layer norm")
    }
}
