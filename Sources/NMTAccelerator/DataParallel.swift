import NMTLayers
import NMTTensor

/// One process's part of a global batch that several processes train on together (or of
/// one micro-batch of a step that accumulates several).
public struct BatchPart<Batch: DeviceBatch> {
    /// This process's sentences (possibly none).
    public var batch: Batch
    /// The position of its first sentence in the step's batch (after the sentences of the
    /// step's earlier micro-batches): dropout draws each example's mask from its global
    /// position, as one process with the whole batch would.
    public var firstExampleIndex: Int
    /// Its loss weight over the step's (all micro-batches of all processes): its loss and
    /// gradient count this much in the global ones.
    public var share: Float

    /// Creates a part.
    public init(batch: Batch, firstExampleIndex: Int, share: Float) {
        self.batch = batch
        self.firstExampleIndex = firstExampleIndex
        self.share = share
    }
}

/// A device that can train as one process of a ``ProcessGroup``: per step it computes the
/// loss and gradients of its parts, weighted by each part's share, sums them over the
/// group with ``ProcessGroup/sum(_:)`` and applies the update. Every process applies the
/// same summed gradients, so weights stay identical everywhere.
public protocol DataParallelReplica: Device {
    /// Runs one step per group of parts, in order: a group holds this process's part of
    /// each micro-batch of the step (one, without gradient accumulation; see
    /// ``BatchPart``). Parameters otherwise as
    /// ``Device/trainSteps(model:optimizer:batches:firstStep:learningRate:randomKey:loss:)``.
    ///
    /// - Returns: one summary per step, with the global loss.
    /// - Throws: ``DeviceError`` when a part does not fit the device (or the device does
    ///   not accumulate and a group holds several), or the group's error when the
    ///   exchange fails.
    func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, parts: [[BatchPart<Batch>]], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor, group: ProcessGroup
    ) throws -> [StepSummary]
}

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

    /// Adds `loss × scale` and every gradient `× scale`.
    func add(loss: Float, gradients: ParameterGradients, scale: Float) {
        self.loss += loss * scale
        for index in names.indices {
            let destination = slice(index)
            guard let gradient = gradients[names[index]] else { continue }
            gradient.withUnsafeBufferPointer { source in
                precondition(source.count == destination.count, "GradientExchangeBuffer: gradient of \(names[index]) has \(source.count) values, expected \(destination.count)")
                for i in 0..<source.count { destination[i] += source[i] * scale }
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
