/// One differentiation session: the record of how each differentiable tensor was computed.
///
/// A tape is created by ``valueAndGradient(of:recorder:_:)`` for the duration of one call
/// and is reachable only from the tensors computed inside it; there is no global tape, so
/// any number of threads may differentiate at once, each with its own.
public final class GradientTape {
    struct Node {
        /// Node ids of the operation's inputs (-1 for an input gradients do not reach).
        let inputs: [Int]
        /// Maps the gradient of the output to one gradient (or nil) per input.
        let pullback: ((Tensor) -> [Tensor?])?
        /// For a row gather instead of `pullback`: maps the gradient of the output to the
        /// gradient of its one input, the table, nonzero at the gathered rows only.
        var rowPullback: ((Tensor) -> RowGradient)? = nil
    }

    var nodes: [Node] = []
    /// False while the backward pass runs: gradients are not themselves differentiated.
    var isRecordingGradients = true
    /// Receives every kernel launched on this tape's tensors, forward and backward.
    let recorder: KernelRecorder?

    init(recorder: KernelRecorder?) {
        self.recorder = recorder
    }

    /// Makes `tensor` a differentiable leaf of this tape.
    func leaf(_ tensor: Tensor) -> Tensor {
        var result = tensor.detached
        result.tape = self
        result.node = nodes.count
        nodes.append(Node(inputs: [], pullback: nil))
        return result
    }


    /// The gradient of `result` (seeded with ones) with respect to every node, computed by
    /// walking the tape backwards once.
    func backward(from result: Tensor) -> [Tensor?] {
        var gradients = [Tensor?](repeating: nil, count: nodes.count)
        guard result.node >= 0 else { return gradients }
        isRecordingGradients = false
        defer { isRecordingGradients = true }
        gradients[result.node] = Tensor.filled(1, like: result)
        for index in stride(from: result.node, through: 0, by: -1) {
            guard !nodes[index].inputs.isEmpty, let gradient = gradients[index] else { continue }
            if let rowPullback = nodes[index].rowPullback {
                let input = nodes[index].inputs[0]
                let contribution = rowPullback(gradient)
                if var existing = gradients[input] {
                    // Out of the array first, so that the tape holds no second reference.
                    gradients[input] = nil
                    contribution.accumulate(into: &existing, on: gradient.tape)
                    gradients[input] = existing
                } else {
                    gradients[input] = contribution.dense(on: gradient.tape)
                }
            } else if let pullback = nodes[index].pullback {
                let inputGradients = pullback(gradient)
                for (position, input) in nodes[index].inputs.enumerated() where input >= 0 {
                    guard let contribution = inputGradients[position] else { continue }
                    // A tensor used several times receives the sum of its uses' gradients.
                    gradients[input] = gradients[input].map { $0 + contribution } ?? contribution
                }
            }
            // Interior gradients are no longer needed; leaves keep theirs for the caller.
            gradients[index] = nil
        }
        return gradients
    }

    /// The tape shared by a table and the ids that index it.
    static func common(_ tensor: Tensor, _ ids: IndexTensor, op: StaticString) -> GradientTape? {
        common([tensor], ids, op: op)
    }

    /// The tape shared by an operation's tensors and the ids it reads.
    static func common(_ tensors: [Tensor], _ ids: IndexTensor, op: StaticString) -> GradientTape? {
        let found = common(tensors, op: op)
        guard let idsTape = ids.tape else { return found }
        precondition(found == nil || found === idsTape, "\(op): operands come from two different differentiation sessions")
        return idsTape
    }

    /// The tape shared by the operands of an operation, or nil when none has one.
    static func common(_ tensors: [Tensor], op: StaticString) -> GradientTape? {
        var found: GradientTape?
        for tensor in tensors {
            guard let tape = tensor.tape else { continue }
            if let other = found {
                precondition(other === tape, "\(op): operands come from two different differentiation sessions")
            } else {
                found = tape
            }
        }
        return found
    }
}

extension Tensor {
    /// A tensor of `value` with the shape of `other`, on `other`'s tape.
    static func filled(_ value: Float, like other: Tensor) -> Tensor {
        var result = Tensor(repeating: value, shape: other.shape)
        result.tape = other.tape
        return result
    }

    /// Connects an operation's freshly computed output to the gradient graph.
    ///
    /// - Parameters:
    ///   - inputs: the operation's differentiable operands, in the order `pullback` returns
    ///     their gradients.
    ///   - pullback: maps the gradient of this output to the gradient of each input (nil
    ///     for an input that receives none). It is called only if some input is
    ///     differentiable.
    func withGradient(of inputs: [Tensor], _ pullback: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard let tape, tape.isRecordingGradients, inputs.contains(where: { $0.node >= 0 }) else { return self }
        var result = self
        result.node = tape.nodes.count
        tape.nodes.append(GradientTape.Node(inputs: inputs.map(\.node), pullback: pullback))
        return result
    }
}
