@testable import NMTAccelerator
import NMTTensor
import XCTest

/// The exchange buffer's sums, split across the cores, are the floats of adding every
/// term in order value by value on one thread.
final class GradientExchangeBufferTests: XCTestCase {
    /// Parameters of 3, 70,000 (five blocks, spread across the cores) and 5 values.
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

    /// The summaries' gradient norm: blocks of `normBlockSize` values per parameter, each
    /// summed in 8 double lanes, the blocks added in order (written out here), and within
    /// one float rounding of the norm computed in one pass in double.
    func testGlobalNormIsTheBlockSumInOrder() {
        let gradients = gradients(4)
        var blockSums: [Double] = []
        for name in names {
            let values = gradients[name]!.scalars
            for start in stride(from: 0, to: values.count, by: CPUDevice.normBlockSize) {
                var lanes = [Double](repeating: 0, count: 8)
                for (i, v) in values[start..<min(start + CPUDevice.normBlockSize, values.count)].enumerated() {
                    lanes[i % 8] += Double(v) * Double(v)
                }
                blockSums.append(((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))
            }
        }
        XCTAssertEqual(blockSums.count, 5, "b's 70,000 values make 3 blocks")
        let norm = CPUDevice.globalNorm(gradients)
        XCTAssertEqual(norm.bitPattern, Float(blockSums.reduce(0, +).squareRoot()).bitPattern)
        let onePass = names.flatMap { gradients[$0]!.scalars }.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertEqual(Double(norm), onePass, accuracy: onePass * 0x1p-23)
    }
}
