@testable import NMTAccelerator
import NMTTensor
import XCTest

/// The replicas' gradients summed straight into new tensors are the floats the exchange
/// buffer gives when each replica is added into it in turn.
final class WeightedGradientSumTests: XCTestCase {
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

    func testTheSumIsTheExchangeBuffersBitForBit() {
        let terms = [
            WeightedGradients(scale: 0.37, loss: 4.25, gradients: gradients(1)),
            WeightedGradients(scale: 0.41, loss: 3.5, gradients: gradients(2)),
            WeightedGradients(scale: 0.22, loss: 5.75, gradients: gradients(3)),
        ]
        let buffer = GradientExchangeBuffer(for: terms[0].gradients.tensors)
        buffer.clear()
        for term in terms { buffer.add(loss: term.loss, gradients: term.gradients, scale: term.scale) }
        let expected = buffer.gradients()
        let (loss, sum) = ParameterGradients.weightedSum(terms)
        XCTAssertEqual(loss.bitPattern, buffer.loss.bitPattern)
        XCTAssertEqual(sum.names, names)
        for name in names {
            XCTAssertEqual(sum[name]!.shape, shapes[name]!)
            XCTAssertEqual(sum[name]!.scalars.map(\.bitPattern), expected[name]!.scalars.map(\.bitPattern), name)
            XCTAssertEqual(sum[name]!.scalars[0].sign, .plus, "\(name): -0 becomes +0 as in the zeroed buffer")
        }
        // The sum is not one term's values: every term counts.
        XCTAssertNotEqual(sum["b"]!.scalars, terms[0].gradients["b"]!.scalars)
    }
}
