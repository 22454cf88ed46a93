@testable import NMTAccelerator
import NMTTensor
import XCTest

/// The exchange buffer's sums, split across the cores, are the floats of adding every
/// term in order value by value on one thread.
final class GradientExchangeBufferTests: XCTestCase {
    /// Parameters of 3, 70,000 (split across the cores) and 5 values.
    let shapes: [String: [Int]] = ["a": [3], "b": [700, 100], "c": [5]]
    let names = ["a", "b", "c"]

    func gradients(_ seed: UInt64) -> ParameterGradients {
        var tensors: [String: Tensor] = [:]
        for (index, name) in names.enumerated() {
            var values = Tensor.randomNormal(shapes[name]!, key: RandomKey(seed: seed).split(UInt64(index))).scalars
            // Zeros of both signs: -0 · scale added to the zeroed buffer gives +0.
            values[0] = -0.0
            values[1] = 0
            tensors[name] = Tensor(shape: shapes[name]!, scalars: values)
        }
        return ParameterGradients(names: names, tensors: tensors)
    }

    func testSumsAreTheFloatsOfAddingEachTermInOrder() {
        let terms: [(scale: Float, loss: Float, gradients: ParameterGradients)] = [
            (0.37, 4.25, gradients(1)), (0.41, 3.5, gradients(2)), (0.22, 5.75, gradients(3)),
        ]
        let buffer = GradientExchangeBuffer(for: terms[0].gradients.tensors)
        buffer.clear()
        for term in terms { buffer.add(loss: term.loss, gradients: term.gradients, scale: term.scale) }
        var loss: Float = 0
        for term in terms { loss += term.loss * term.scale }
        XCTAssertEqual(buffer.loss.bitPattern, loss.bitPattern)
        let sum = buffer.gradients()
        XCTAssertEqual(sum.names, names)
        for name in names {
            var expected = [Float](repeating: 0, count: shapes[name]!.reduce(1, *))
            for term in terms {
                for (i, value) in term.gradients[name]!.scalars.enumerated() { expected[i] += value * term.scale }
            }
            XCTAssertEqual(sum[name]!.shape, shapes[name]!)
            XCTAssertEqual(sum[name]!.scalars.map(\.bitPattern), expected.map(\.bitPattern), name)
            XCTAssertEqual(sum[name]!.scalars[0].sign, .plus, "\(name): -0 becomes +0 as in the zeroed buffer")
        }
        // The sum is not one term's values: every term counts.
        XCTAssertNotEqual(sum["b"]!.scalars, terms[0].gradients["b"]!.scalars)
    }
}
