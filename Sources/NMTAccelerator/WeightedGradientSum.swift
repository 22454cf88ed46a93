import NMTTensor

/// The loss and gradients of one part of a step's batch, and the part's weight in the step.
struct WeightedGradients {
    /// The part's share of the step's loss weight.
    var scale: Float
    /// The part's own loss.
    var loss: Float
    /// The part's own gradients.
    var gradients: ParameterGradients
}

extension ParameterGradients {
    /// `Σ scale·loss` and `Σ scale·gradients` over `terms`, every value summed from zero
    /// in the terms' order: the floats that adding the terms one after another into a
    /// zeroed ``GradientExchangeBuffer`` gives, without that buffer's passes to zero it and
    /// to copy the result out, and with each parameter's values split across the cores.
    ///
    /// The step's update waits for this sum after its replicas finish: every pass over
    /// memory here is time the replicas cannot overlap, so there is one per term, on
    /// every core.
    ///
    /// - Precondition: at least one term; every term has the first term's parameters
    ///   and shapes.
    static func weightedSum(_ terms: [WeightedGradients]) -> (loss: Float, gradients: ParameterGradients) {
        precondition(!terms.isEmpty, "ParameterGradients.weightedSum: no terms")
        var loss: Float = 0
        for term in terms { loss += term.loss * term.scale }
        let names = terms[0].gradients.names
        var tensors: [String: Tensor] = [:]
        for name in names {
            let shape = terms[0].gradients[name]!.shape
            let count = shape.reduce(1, *)
            let sources = terms.map { term -> UnsafePointer<Float> in
                let gradient = term.gradients[name]!
                precondition(gradient.shape == shape, "ParameterGradients.weightedSum: \(name) is \(gradient.shape) and \(shape)")
                return UnsafePointer(gradient.buffer.pointer(as: Float.self))
            }
            let scales = terms.map(\.scale)
            let buffer = KernelBuffer(capacity: count, of: Float.self)
            let sum = buffer.pointer(as: Float.self)
            // The terms' tensors (held by `terms`) keep the source pointers valid.
            Parallel.forChunks(count, costPerItem: terms.count + 1) { range in
                // One vectorizable pass per term; `0 +` keeps the zeroed buffer's floats
                // (a -0 product becomes +0, as it did when added to the zeroed buffer).
                for i in range { sum[i] = 0 + sources[0][i] * scales[0] }
                for t in sources.indices.dropFirst() {
                    let source = sources[t], scale = scales[t]
                    for i in range { sum[i] += source[i] * scale }
                }
            }
            tensors[name] = Tensor(shape: shape, buffer: buffer)
        }
        return (loss, ParameterGradients(names: names, tensors: tensors))
    }
}
