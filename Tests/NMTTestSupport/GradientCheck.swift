import NMTTensor
import XCTest

/// Checks the autodiff gradients of `function` against central finite differences.
///
/// The function's output is reduced to a scalar `L = Σ f(x) ⊙ w` with fixed random
/// weights `w` (so every output element and every direction of the Jacobian is
/// exercised, not only the sum). For each input element the numeric derivative
/// `(L(x + ε) - L(x - ε)) / 2ε` is accumulated in Double from the Float outputs.
///
/// Tolerances: with ε = 1e-2 the truncation error of the central difference is about
/// ε²/6 · |f'''| ≈ 2e-5 for the smooth, order-one functions tested, and Float32
/// rounding of the outputs (≈ 6e-8 · |f|) divided by 2ε contributes ≈ 3e-6 · |f| per
/// element, summed over up to a few hundred outputs. Hence the defaults: 2e-3 absolute
/// plus 1e-2 relative to the analytic value.
///
/// - Parameters:
///   - inputs: the points at which to differentiate (keep them away from kinks such as
///     ReLU's 0 or ties of a maximum).
///   - function: the function under test.
public func checkGradients(
    _ inputs: [Tensor], epsilon: Float = 1e-2, absoluteTolerance: Float = 2e-3, relativeTolerance: Float = 1e-2,
    file: StaticString = #filePath, line: UInt = #line, _ function: ([Tensor]) -> Tensor
) {
    let probe = function(inputs)
    let weights = Tensor.randomUniform(probe.shape, lowerBound: -1, upperBound: 1, key: RandomKey(seed: 1234))
    let weightValues = weights.scalars.map(Double.init)
    func loss(_ x: [Tensor]) -> Double {
        zip(function(x).scalars, weightValues).reduce(0) { $0 + Double($1.0) * $1.1 }
    }
    let (_, analytic) = valueAndGradient(at: inputs) { x in (function(x) * weights).sum() }
    for (inputIndex, input) in inputs.enumerated() {
        var numeric = [Float](repeating: 0, count: input.scalarCount)
        for element in 0..<input.scalarCount {
            var plus = inputs, minus = inputs
            plus[inputIndex].withUnsafeMutableBufferPointer { $0[element] += epsilon }
            minus[inputIndex].withUnsafeMutableBufferPointer { $0[element] -= epsilon }
            numeric[element] = Float((loss(plus) - loss(minus)) / (2 * Double(epsilon)))
        }
        assertClose(
            analytic[inputIndex].scalars, numeric, absoluteTolerance: absoluteTolerance,
            relativeTolerance: relativeTolerance, "gradient of input \(inputIndex) (analytic vs numeric)",
            file: file, line: line)
    }
}

/// Checks the gradients of `function` with respect to every parameter of `container`
/// against finite differences (see ``checkGradients(_:epsilon:absoluteTolerance:relativeTolerance:file:line:_:)``).
public func checkParameterGradients<Container: ParameterContainer>(
    of container: Container, epsilon: Float = 1e-2, absoluteTolerance: Float = 2e-3, relativeTolerance: Float = 1e-2,
    file: StaticString = #filePath, line: UInt = #line, _ function: @escaping (Container) -> Tensor
) {
    let named = container.namedParameters
    checkGradients(
        named.map(\.tensor), epsilon: epsilon, absoluteTolerance: absoluteTolerance,
        relativeTolerance: relativeTolerance, file: file, line: line
    ) { tensors in
        var copy = container
        var index = 0
        copy.visitParameters { _, tensor in
            tensor = tensors[index]
            index += 1
        }
        return function(copy)
    }
}
