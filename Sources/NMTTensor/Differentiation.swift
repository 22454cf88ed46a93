/// A value holding named parameter tensors, such as a model or a dictionary of weights.
///
/// Names must be stable (for example `encoder.layers.0.selfAttention.query.kernel`): they
/// key gradients, optimizer state and checkpoints. Containers are `Sendable` values: a
/// device hands the same model to replicas on several threads, which only read it.
public protocol ParameterContainer: Sendable {
    /// Calls `body` once for every parameter with its stable name and a mutable reference,
    /// always in the same order.
    mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows
}

extension ParameterContainer {
    /// Every parameter with its name, in visiting order.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        var copy = self
        var result: [(name: String, tensor: Tensor)] = []
        copy.visitParameters { name, tensor in result.append((name, tensor)) }
        return result
    }
}

extension Dictionary: ParameterContainer where Key == String, Value == Tensor {
    /// Visits the entries in ascending name order, so the order never depends on hashing.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        for name in keys.sorted() {
            try body(name, &self[name]!)
        }
    }
}

/// The gradient of a scalar with respect to each parameter of a ``ParameterContainer``.
public struct ParameterGradients: Sendable {
    /// Gradients keyed by parameter name; every parameter has one (zeros when the
    /// parameter did not influence the value).
    public private(set) var tensors: [String: Tensor]
    /// Parameter names in the container's visiting order.
    public let names: [String]

    /// Creates gradients from a name-to-tensor map; `names` gives the order.
    public init(names: [String], tensors: [String: Tensor]) {
        self.names = names
        self.tensors = tensors
    }

    /// The gradient of the parameter called `name`.
    public subscript(name: String) -> Tensor? { tensors[name] }
}

/// Evaluates `body` at `parameters` and differentiates its result with respect to every
/// parameter.
///
/// ```swift
/// let (loss, gradients) = valueAndGradient(of: weights) { w in
///     ((x.matmul(w["w"]!) + w["b"]!).relu() - y).squared().mean()
/// }
/// ```
/// When the value is not a scalar its elements are summed first. Each call uses a fresh
/// tape, so concurrent calls on different threads do not interact.
///
/// - Parameters:
///   - parameters: the values to differentiate with respect to.
///   - recorder: receives every kernel launch of the forward and backward pass (used by
///     devices that trace a step into a replayable program).
///   - body: computes the value from the parameters it is handed (not from copies
///     captured elsewhere, which gradients would not reach).
/// - Returns: the value (detached) and one gradient per parameter.
public func valueAndGradient<Parameters: ParameterContainer>(
    of parameters: Parameters, recorder: KernelRecorder? = nil,
    _ body: (Parameters) throws -> Tensor
) rethrows -> (value: Tensor, gradient: ParameterGradients) {
    try valueAndGradient(of: parameters, attaching: [Tensor](), recorder: recorder) { p, _ in try body(p) }
}

/// Evaluates `body` at `parameters` with data `inputs` and differentiates its result with
/// respect to every parameter (not the inputs).
///
/// The inputs join the tape undifferentiated, so that a `recorder` sees every kernel
/// computed from them: a recorded step can be replayed with new data written into the
/// inputs' buffers.
///
/// - Parameters:
///   - parameters: the values to differentiate with respect to.
///   - inputs: data the body reads (a batch, token ids).
///   - recorder: receives every kernel launch of the forward and backward pass.
///   - body: computes the value from the parameters and inputs it is handed.
/// - Returns: the value (detached) and one gradient per parameter.
public func valueAndGradient<Parameters: ParameterContainer, Inputs: TapeAttachable>(
    of parameters: Parameters, attaching inputs: Inputs, recorder: KernelRecorder? = nil,
    _ body: (Parameters, Inputs) throws -> Tensor
) rethrows -> (value: Tensor, gradient: ParameterGradients) {
    let tape = GradientTape(recorder: recorder)
    // Closures on the tape capture tensors that point back at the tape; dropping the
    // nodes when done breaks that cycle.
    defer { tape.nodes.removeAll() }
    var tracked = parameters
    var leaves: [(name: String, node: Int, shape: [Int])] = []
    tracked.visitParameters { name, tensor in
        tensor = tape.leaf(tensor)
        leaves.append((name, tensor.node, tensor.shape))
    }
    let value = try body(tracked, inputs.attached(to: tape))
    let gradients = tape.backward(from: value)
    var byName: [String: Tensor] = [:]
    for leaf in leaves {
        byName[leaf.name] = gradients[leaf.node]?.detached ?? Tensor.zeros(leaf.shape)
    }
    return (value.detached, ParameterGradients(names: leaves.map(\.name), tensors: byName))
}

/// Differentiates `body` with respect to a list of tensors (a convenience for tests and
/// small programs).
///
/// - Returns: the value and one gradient per input, in order.
public func valueAndGradient(
    at inputs: [Tensor], recorder: KernelRecorder? = nil, _ body: ([Tensor]) throws -> Tensor
) rethrows -> (value: Tensor, gradients: [Tensor]) {
    var named: [String: Tensor] = [:]
    // Zero-padded names keep the dictionary's sorted visiting order equal to input order.
    let names = inputs.indices.map { String(repeating: "0", count: 8 - String($0).count) + String($0) }
    for (name, tensor) in zip(names, inputs) { named[name] = tensor }
    let (value, gradient) = try valueAndGradient(of: named, recorder: recorder) { p in
        try body(names.map { p[$0]! })
    }
    return (value, names.map { gradient[$0]! })
}

/// Runs `body` on `inputs` attached to a fresh tape that records kernel launches but
/// computes no gradients (for tracing inference or an optimizer update).
///
/// - Returns: whatever `body` returns; tensors in it stay attached to the tape, so call
///   ``Tensor/detached`` on results kept beyond the trace.
public func withKernelRecording<Inputs: TapeAttachable, Result>(
    _ inputs: Inputs, recorder: KernelRecorder, _ body: (Inputs) throws -> Result
) rethrows -> Result {
    let tape = GradientTape(recorder: recorder)
    tape.isRecordingGradients = false
    return try body(inputs.attached(to: tape))
}
