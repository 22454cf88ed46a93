import NMTLayers
import NMTTensor

/// The model's parameters, the optimizer's moments and the combined gradients in a
/// device's own memory, as variables live on an accelerator: the steps of a loop read and
/// update them in place, and the host's model and optimizer receive copies when the loop
/// ends (the reference's iterations per loop). Steps therefore allocate no parameter,
/// moment or gradient memory.
///
/// The host's values are copied in only when they changed: the device keeps the buffers
/// it handed out, and a model or optimizer that still holds exactly those (by identity)
/// has not been touched since. Holding them also keeps them shared, so a host-side
/// mutation copies on write and shows up as a new buffer.
final class ResidentState {
    /// One parameter and what the device keeps for it.
    struct Entry {
        let name: String
        let shape: [Int]
        let parameter: KernelBuffer
        let firstMoment: KernelBuffer
        let secondMoment: KernelBuffer
        let gradient: KernelBuffer
        /// What the host got last: parameter, first moment, second moment.
        var handedOut: (KernelBuffer, KernelBuffer, KernelBuffer)?

        var count: Int { shape.reduce(1, *) }
    }

    private(set) var entries: [Entry]
    /// Whether each parameter got a gradient in the last ``combine(_:shares:)`` (those
    /// without one are not updated, as in `Adam.update`).
    private var hasGradient: [Bool]

    /// Allocates device memory for `model`'s parameters.
    init<Model: ParameterContainer>(for model: Model) {
        entries = model.namedParameters.map { name, tensor in
            let bytes = tensor.scalarCount * MemoryLayout<Float>.stride
            return Entry(
                name: name, shape: tensor.shape, parameter: KernelBuffer(byteCount: bytes),
                firstMoment: KernelBuffer(byteCount: bytes), secondMoment: KernelBuffer(byteCount: bytes),
                gradient: KernelBuffer(byteCount: bytes), handedOut: nil)
        }
        hasGradient = Array(repeating: false, count: entries.count)
    }

    /// Whether the state was made for a model with these parameter names and shapes.
    func fits<Model: ParameterContainer>(_ model: Model) -> Bool {
        let parameters = model.namedParameters
        return parameters.count == entries.count
            && zip(parameters, entries).allSatisfy { $0.name == $1.name && $0.tensor.shape == $1.shape }
    }

    /// Brings the device's copy up to date with the host's model and optimizer (copying
    /// only what changed) and returns the model viewed over device memory, which the
    /// device's programs read.
    func load<Model: ParameterContainer>(model: Model, optimizer: Adam) -> Model {
        for (entry, (_, tensor)) in zip(entries, model.namedParameters) {
            let handedOut = entry.handedOut
            if handedOut?.0 !== tensor.buffer { copy(tensor.buffer, to: entry.parameter, count: entry.count) }
            for (moment, device, given) in [
                (optimizer.firstMoments[entry.name], entry.firstMoment, handedOut?.1),
                (optimizer.secondMoments[entry.name], entry.secondMoment, handedOut?.2),
            ] {
                if let moment {
                    precondition(
                        moment.shape == entry.shape,
                        "ResidentState: optimizer moment of \(entry.name) is \(moment.shape), the parameter \(entry.shape)")
                    if moment.buffer !== given { copy(moment.buffer, to: device, count: entry.count) }
                } else {
                    // A fresh optimizer: moments start at zero, as in Adam.update.
                    device.pointer(as: Float.self).initialize(repeating: 0, count: entry.count)
                }
            }
        }
        var view = model
        var index = 0
        view.visitParameters { _, tensor in
            tensor = Tensor(shape: entries[index].shape, buffer: entries[index].parameter)
            index += 1
        }
        return view
    }

    /// Sums the replicas' gradients into the device's gradient buffers, each replica's
    /// weighted by its share, in replica order.
    func combine(_ gradients: [ParameterGradients], shares: [Float]) {
        for (index, entry) in entries.enumerated() {
            let sources = gradients.compactMap { $0[entry.name]?.buffer }
            hasGradient[index] = sources.count == gradients.count
            if hasGradient[index] {
                WeightedSumKernel.run(sources, weights: shares, count: entry.count, into: entry.gradient)
            }
        }
    }

    /// One Adam update of every parameter along the combined gradients, in place.
    func applyAdam(_ optimizer: inout Adam, learningRate: Float) {
        let stepSize = optimizer.advance(learningRate: learningRate)
        for (entry, hasGradient) in zip(entries, hasGradient) where hasGradient {
            AdamKernel.updateInPlace(
                parameter: entry.parameter, gradient: entry.gradient, firstMoment: entry.firstMoment,
                secondMoment: entry.secondMoment, count: entry.count, stepSize: stepSize, beta1: optimizer.beta1,
                beta2: optimizer.beta2, epsilon: optimizer.epsilon)
        }
    }

    /// The combined gradient of the last step for a parameter (for tests and debugging).
    func gradient(named name: String) -> Tensor? {
        entries.first { $0.name == name }.map { Tensor(shape: $0.shape, buffer: $0.gradient.copy()) }
    }

    /// Hands copies of the device's parameters and moments to the host (the end of a loop).
    func store<Model: ParameterContainer>(into model: inout Model, optimizer: inout Adam) {
        var first: [String: Tensor] = [:], second: [String: Tensor] = [:]
        for index in entries.indices {
            let entry = entries[index]
            let copies = (entry.parameter.copy(), entry.firstMoment.copy(), entry.secondMoment.copy())
            entries[index].handedOut = copies
            first[entry.name] = Tensor(shape: entry.shape, buffer: copies.1)
            second[entry.name] = Tensor(shape: entry.shape, buffer: copies.2)
        }
        var index = 0
        model.visitParameters { _, tensor in
            tensor = Tensor(shape: entries[index].shape, buffer: entries[index].handedOut!.0)
            index += 1
        }
        optimizer.replaceMoments(first: first, second: second)
    }

    private func copy(_ source: KernelBuffer, to destination: KernelBuffer, count: Int) {
        destination.base.copyMemory(from: source.base, byteCount: count * MemoryLayout<Float>.stride)
    }
}
