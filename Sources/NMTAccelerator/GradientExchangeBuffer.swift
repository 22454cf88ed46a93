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
    /// Every parameter's gradient cut into pieces of at most ``blockSize`` values: the
    /// tasks that ``add(loss:gradients:scale:)`` and ``gradients()`` spread across the cores.
    let blocks: [(parameter: Int, range: Range<Int>)]
    /// Values per block.
    static let blockSize = 1 << 14

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
        let counts = shapes.map { $0.reduce(1, *) }
        blocks = counts.indices.flatMap { index in
            let count = counts[index]
            return stride(from: 0, to: count, by: Self.blockSize).map { (index, $0..<min($0 + Self.blockSize, count)) }
        }
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

    /// Adds `loss × scale` and every gradient `× scale`, in blocks spread across the
    /// cores: a step's update waits for these sums after its replicas finish, so one thread
    /// alone would leave the others idle, and most of a small model's parameters are too
    /// small to split on their own. Every value gets the same one multiply-add whichever
    /// thread computes it.
    func add(loss: Float, gradients: ParameterGradients, scale: Float) {
        self.loss += loss * scale
        let sources = names.indices.map { index -> Tensor? in
            guard let gradient = gradients[names[index]] else { return nil }
            let expected = shapes[index].reduce(1, *)
            precondition(gradient.scalarCount == expected, "GradientExchangeBuffer: gradient of \(names[index]) has \(gradient.scalarCount) values, expected \(expected)")
            return gradient
        }
        let pointers = sources.map { $0.map { UnsafePointer($0.buffer.pointer(as: Float.self)) } }
        withExtendedLifetime(sources) {
            Parallel.forChunks(blocks.count, costPerItem: Self.blockSize * 2) { range in
                for (index, values) in blocks[range] {
                    guard let source = pointers[index] else { continue }
                    let destination = slice(index)
                    for i in values { destination[i] += source[i] * scale }
                }
            }
        }
    }

    /// The gradients now in the buffer, as tensors (copied in blocks across the cores).
    func gradients() -> ParameterGradients {
        let buffers = shapes.map { KernelBuffer(capacity: $0.reduce(1, *), of: Float.self) }
        Parallel.forChunks(blocks.count, costPerItem: Self.blockSize) { range in
            for (index, values) in blocks[range] {
                let source = slice(index)
                (buffers[index].pointer(as: Float.self) + values.lowerBound)
                    .update(from: source.baseAddress! + values.lowerBound, count: values.count)
            }
        }
        var tensors: [String: Tensor] = [:]
        for index in names.indices { tensors[names[index]] = Tensor(shape: shapes[index], buffer: buffers[index]) }
        return ParameterGradients(names: names, tensors: tensors)
    }
}
