import NMTLayers
import NMTTensor

/// One contiguous buffer holding a step's loss and every gradient, so that a group sums
/// them in one exchange: `[loss, gradient of parameter 0, gradient of parameter 1, ...]`
/// in the model's parameter order. Allocated once per model and reused every step.
final class GradientExchangeBuffer {
    let names: [String]
    let shapes: [[Int]]
    /// Where each parameter's gradient starts.
    let offsets: [Int]
    let values: UnsafeMutableBufferPointer<Float>

    init<Model: ParameterContainer>(for model: Model) {
        let parameters = model.namedParameters
        names = parameters.map(\.name)
        shapes = parameters.map(\.tensor.shape)
        var offsets: [Int] = []
        var next = 1
        for (_, tensor) in parameters {
            offsets.append(next)
            next += tensor.scalarCount
        }
        self.offsets = offsets
        values = .allocate(capacity: next)
        values.initialize(repeating: 0)
    }

    deinit { values.deallocate() }

    /// `existing` when it was made for `model`'s parameters, otherwise a new buffer, which
    /// `existing` then keeps for the next loop.
    static func reusing<Model: ParameterContainer>(_ existing: inout GradientExchangeBuffer?, for model: Model) -> GradientExchangeBuffer {
        if let existing, existing.fits(model) { return existing }
        let buffer = GradientExchangeBuffer(for: model)
        existing = buffer
        return buffer
    }

    /// Whether the buffer was made for a model with these parameter names and shapes.
    func fits<Model: ParameterContainer>(_ model: Model) -> Bool {
        let parameters = model.namedParameters
        return parameters.map(\.name) == names && parameters.map(\.tensor.shape) == shapes
    }

    /// The step's loss (after ``ProcessGroup/sum(_:)``, the global loss).
    var loss: Float {
        get { values[0] }
        set { values[0] = newValue }
    }

    /// The gradient slot of parameter `index`.
    func slice(_ index: Int) -> UnsafeMutableBufferPointer<Float> {
        let count = shapes[index].reduce(1, *)
        return UnsafeMutableBufferPointer(rebasing: values[offsets[index]..<(offsets[index] + count)])
    }

    /// Sets the loss and every gradient to zero.
    func clear() { values.update(repeating: 0) }

    /// Adds `loss × scale` and every gradient `× scale`, each parameter's values split
    /// across the cores: a step's update waits for these sums after its replicas finish,
    /// so one thread alone would leave the others idle. Every value gets the same one
    /// multiply-add whichever thread computes it.
    func add(loss: Float, gradients: ParameterGradients, scale: Float) {
        self.loss += loss * scale
        for index in names.indices {
            let destination = slice(index)
            guard let gradient = gradients[names[index]] else { continue }
            gradient.withUnsafeBufferPointer { source in
                precondition(source.count == destination.count, "GradientExchangeBuffer: gradient of \(names[index]) has \(source.count) values, expected \(destination.count)")
                Parallel.forChunks(source.count, costPerItem: 2) { range in
                    for i in range { destination[i] += source[i] * scale }
                }
            }
        }
    }

    /// The gradients now in the buffer, as tensors.
    func gradients() -> ParameterGradients {
        var tensors: [String: Tensor] = [:]
        for index in names.indices {
            let source = slice(index)
            let buffer = KernelBuffer(capacity: source.count, of: Float.self)
            buffer.pointer(as: Float.self).update(from: source.baseAddress!, count: source.count)
            tensors[names[index]] = Tensor(shape: shapes[index], buffer: buffer)
        }
        return ParameterGradients(names: names, tensors: tensors)
    }
}
