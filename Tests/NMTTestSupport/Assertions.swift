import NMTTensor
import XCTest

/// Asserts that two tensors have the same shape and elements within a tolerance.
///
/// The shape is compared first; on a value mismatch the message gives the largest
/// absolute difference, where it occurs and both values there. An element passes when
/// `|a - e| <= absoluteTolerance + relativeTolerance * |e|` (so tolerances follow the
/// magnitude of the expected value).
public func assertClose(
    _ actual: Tensor, _ expected: Tensor, absoluteTolerance: Float = 1e-5, relativeTolerance: Float = 1e-5,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.shape == expected.shape else {
        XCTFail("shape \(actual.shape) != expected \(expected.shape). \(message())", file: file, line: line)
        return
    }
    assertClose(
        actual.scalars, expected.scalars, absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance,
        message(), file: file, line: line)
}

/// Asserts that two arrays have the same length and elements within a tolerance (see the
/// tensor overload).
public func assertClose(
    _ actual: [Float], _ expected: [Float], absoluteTolerance: Float = 1e-5, relativeTolerance: Float = 1e-5,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("\(actual.count) elements != expected \(expected.count). \(message())", file: file, line: line)
        return
    }
    var worst = (index: -1, difference: Float(0), excess: -Float.infinity)
    for i in actual.indices {
        let difference = abs(actual[i] - expected[i])
        let excess = difference - (absoluteTolerance + relativeTolerance * abs(expected[i]))
        if excess > worst.excess || difference.isNaN { worst = (i, difference, difference.isNaN ? .infinity : excess) }
    }
    if worst.index >= 0 && worst.excess > 0 {
        XCTFail(
            "max abs diff \(worst.difference) at element \(worst.index): \(actual[worst.index]) vs expected "
                + "\(expected[worst.index]) (atol \(absoluteTolerance), rtol \(relativeTolerance)). \(message())",
            file: file, line: line)
    }
}

/// A deterministic tensor with elements `sin(i * frequency + phase) * amplitude`, computed
/// in Double and rounded once (the same formula as Scripts/reference/tensor_reference.py).
public func patternTensor(_ shape: [Int], frequency: Double, amplitude: Double, phase: Double = 0) -> Tensor {
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: (0..<count).map { Float(sin(Double($0) * frequency + phase) * amplitude) })
}
