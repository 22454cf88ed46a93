import NMTLayers
import NMTTensor

/// The model's parameters, the optimizer's slots and the combined gradients in a device's
/// own memory, as variables live on an accelerator: the steps of a loop read and update
/// them in place (`Optimizer.apply(_:to:)`), and the host's model and
/// optimizer receive copies when the loop ends (the reference's iterations per loop).
/// Steps therefore allocate no parameter, slot or gradient memory.
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
        let gradient: KernelBuffer
        /// The optimizer's slots for this parameter, in its order.
        let slots: [OptimizerSlot]
        let slotBuffers: [KernelBuffer]
        /// The slot buffers' memory, fixed for the entry's life: an update passes it
        /// without building an array per parameter and step.
        let slotPointers: [UnsafeMutablePointer<Float>]
        /// What the host got last: the parameter, then each slot.
        var handedOut: [KernelBuffer]?

        var count: Int { shape.reduce(1, *) }
    }

    private(set) var entries: [Entry]
    /// Whether each parameter got a gradient in the last ``combine(_:shares:)`` (those
    /// without one are not updated, as in the host-side update).
    private var hasGradient: [Bool]

    /// Allocates device memory for `model`'s parameters and `optimizer`'s slots.
    init<Model: ParameterContainer, Update: Optimizer>(for model: Model, optimizer: Update) {
        func buffer(_ count: Int) -> KernelBuffer { KernelBuffer(capacity: count, of: Float.self) }
        entries = model.namedParameters.map { name, tensor in
            let slots = optimizer.slots(forParameterShape: tensor.shape)
            let slotBuffers = slots.map { buffer($0.count) }
            return Entry(
                name: name, shape: tensor.shape, parameter: buffer(tensor.scalarCount), gradient: buffer(tensor.scalarCount),
                slots: slots, slotBuffers: slotBuffers, slotPointers: slotBuffers.map { $0.pointer(as: Float.self) },
                handedOut: nil)
        }
        hasGradient = Array(repeating: false, count: entries.count)
    }

    /// Whether the state was made for a model with these parameter names and shapes and an
    /// optimizer with these slots.
    func fits<Model: ParameterContainer, Update: Optimizer>(_ model: Model, optimizer: Update) -> Bool {
        let parameters = model.namedParameters
        return parameters.count == entries.count
            && zip(parameters, entries).allSatisfy {
                $0.name == $1.name && $0.tensor.shape == $1.shape
                    && optimizer.slots(forParameterShape: $1.shape) == $1.slots
            }
    }

    /// Brings the device's copy up to date with the host's model and optimizer (copying
    /// only what changed) and returns the model viewed over device memory, which the
    /// device's programs read.
    func load<Model: ParameterContainer, Update: Optimizer>(model: Model, optimizer: Update) -> Model {
        for (entry, (_, tensor)) in zip(entries, model.namedParameters) {
            let handedOut = entry.handedOut
            if handedOut?[0] !== tensor.buffer { copy(tensor.buffer, to: entry.parameter, count: entry.count) }
            let hostSlots = optimizer.slotValues[entry.name] ?? [:]
            for (index, (slot, device)) in zip(entry.slots, entry.slotBuffers).enumerated() {
                if let value = hostSlots[slot.name] {
                    precondition(
                        value.shape == slot.shape,
                        "ResidentState: optimizer slot \(slot.name) of \(entry.name) is \(value.shape), expected \(slot.shape)")
                    if value.buffer !== handedOut?[index + 1] { copy(value.buffer, to: device, count: slot.count) }
                } else {
                    // A parameter the optimizer has not updated yet: slots start at zero.
                    device.pointer(as: Float.self).initialize(repeating: 0, count: slot.count)
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

    /// One optimizer update of every parameter along the combined gradients, in place.
    func applyUpdate<Update: Optimizer>(_ optimizer: inout Update, learningRate: Float) {
        let constants = optimizer.beginStep(learningRate: learningRate)
        for (entry, hasGradient) in zip(entries, hasGradient) where hasGradient {
            optimizer.apply(
                constants,
                to: ParameterMemory(
                    name: entry.name, shape: entry.shape, parameter: entry.parameter.pointer(as: Float.self),
                    gradient: UnsafePointer(entry.gradient.pointer(as: Float.self)),
                    slots: entry.slotPointers))
        }
    }

    /// Copies the combined gradients into `buffer` (made for the same model), zeros for a
    /// parameter without one.
    func copyGradients(into buffer: GradientExchangeBuffer) {
        for (index, entry) in entries.enumerated() {
            let destination = buffer.slice(index)
            if hasGradient[index] {
                destination.baseAddress!.update(from: entry.gradient.pointer(as: Float.self), count: entry.count)
            } else {
                destination.update(repeating: 0)
            }
        }
    }

    /// Takes the gradients in `buffer` (summed across processes) as the combined ones.
    func copyGradients(from buffer: GradientExchangeBuffer) {
        for (index, entry) in entries.enumerated() {
            entry.gradient.pointer(as: Float.self).update(from: buffer.slice(index).baseAddress!, count: entry.count)
        }
    }

    /// The combined gradient of the last step for a parameter (for tests and debugging).
    func gradient(named name: String) -> Tensor? {
        entries.first { $0.name == name }.map { Tensor(shape: $0.shape, buffer: $0.gradient.copy()) }
    }

    /// Hands copies of the device's parameters and slots to the host (the end of a loop).
    func store<Model: ParameterContainer, Update: Optimizer>(into model: inout Model, optimizer: inout Update) {
        var slotValues: [String: [String: Tensor]] = [:]
        for index in entries.indices {
            let entry = entries[index]
            let copies = [entry.parameter.copy()] + entry.slotBuffers.map { $0.copy() }
            entries[index].handedOut = copies
            var values: [String: Tensor] = [:]
            for (slot, buffer) in zip(entry.slots, copies.dropFirst()) { values[slot.name] = Tensor(shape: slot.shape, buffer: buffer) }
            slotValues[entry.name] = values
        }
        var index = 0
        model.visitParameters { _, tensor in
            tensor = Tensor(shape: entries[index].shape, buffer: entries[index].handedOut![0])
            index += 1
        }
        optimizer.slotValues = slotValues
    }

    private func copy(_ source: KernelBuffer, to destination: KernelBuffer, count: Int) {
        destination.base.copyMemory(from: source.base, byteCount: count * MemoryLayout<Float>.stride)
    }
}
