import NMTTensor

/// A tensor an optimizer keeps for each parameter (Adam's moments, Adafactor's row and
/// column statistics).
public struct OptimizerSlot: Sendable, Equatable {
    /// The slot's name, which prefixes the parameter's name in saved state (`m/NAME`).
    public var name: String
    /// The slot's shape (the parameter's for Adam; factored statistics are smaller).
    public var shape: [Int]

    /// Creates a slot description.
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    /// Elements of the slot.
    public var count: Int { shape.reduce(1, *) }
}

/// The memory of one parameter's update: the parameter, updated in place, its gradient
/// and its slots, updated in place, in the order of ``Optimizer/slots(forParameterShape:)``.
///
/// A device that keeps parameters and optimizer state in its own memory hands its buffers
/// to ``Optimizer/apply(_:to:)`` directly; the host-side
/// ``Optimizer/update(_:along:learningRate:)`` hands tensors' storage. Both run
/// the same arithmetic, so both compute the same floats.
public struct ParameterMemory {
    /// The parameter's name.
    public var name: String
    /// The parameter's shape.
    public var shape: [Int]
    /// The parameter, read and written in place.
    public var parameter: UnsafeMutablePointer<Float>
    /// The gradient (same shape).
    public var gradient: UnsafePointer<Float>
    /// The slots, read and written in place.
    public var slots: [UnsafeMutablePointer<Float>]

    /// Creates a view of one parameter's memory.
    public init(
        name: String, shape: [Int], parameter: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>,
        slots: [UnsafeMutablePointer<Float>]
    ) {
        self.name = name
        self.shape = shape
        self.parameter = parameter
        self.gradient = gradient
        self.slots = slots
    }

    /// Elements of the parameter.
    public var count: Int { shape.reduce(1, *) }
}

/// A gradient-descent optimizer whose update runs in place on one parameter at a time.
///
/// An optimizer is split into what changes once per step (``beginStep(learningRate:)``:
/// the step count, bias corrections, decay rates) and what it does to one parameter
/// (``apply(_:to:)``, on raw memory). That split lets a device keep parameters and slots
/// in its own memory for a whole loop of steps and update them there, as the static
/// sharded device does, while the host-side
/// ``update(_:along:learningRate:)`` runs the same code on tensors.
///
/// Conforming: ``Adam``, ``LazyAdam``, ``AdamW``, ``Adafactor``.
public protocol Optimizer: Sendable {
    /// What every parameter's update shares in one step.
    associatedtype StepConstants: Sendable

    /// Which optimizer this is (recorded in checkpoints, chosen by `--optimizer`).
    var kind: OptimizerKind { get }
    /// Updates applied so far.
    var step: Int { get }
    /// The slots kept for a parameter of `shape`, in the order ``apply(_:to:)`` gets them.
    func slots(forParameterShape shape: [Int]) -> [OptimizerSlot]
    /// The slots' tensors on the host by parameter name, then slot name; a parameter
    /// without an entry has zero slots (it has not been updated yet).
    var slotValues: [String: [String: Tensor]] { get set }
    /// Counts one update and returns what its parameters' updates share.
    mutating func beginStep(learningRate: Float) -> StepConstants
    /// Updates one parameter and its slots in place along its gradient.
    func apply(_ constants: StepConstants, to memory: ParameterMemory)
    /// Whether each element's update reads only that element of the parameter, gradient
    /// and slots, so that ``apply(_:to:elements:)`` may update any range on its own
    /// (Adam's and AdamW's updates do; Adafactor's factored moments do not). The
    /// host-side ``update(_:along:learningRate:)`` then cuts every parameter into blocks
    /// and spreads them across the cores in one go, instead of one fork and join per
    /// parameter. The default is false.
    var updatesElementwise: Bool { get }
    /// Updates elements `elements` of one parameter and its slots, on the calling thread:
    /// the floats ``apply(_:to:)`` gives those elements. Called only when
    /// ``updatesElementwise``.
    func apply(_ constants: StepConstants, to memory: ParameterMemory, elements: Range<Int>)
    /// The scalars besides the slots that resuming needs (for example `step`).
    var scalarState: [String: Float] { get }
    /// Restores scalars saved from ``scalarState``.
    ///
    /// - Throws: ``ParameterError/missing(_:)`` naming an absent scalar.
    mutating func restoreScalars(_ scalars: [String: Float]) throws(ParameterError)
}

extension Optimizer {
    /// False: ``apply(_:to:)`` updates a whole parameter.
    public var updatesElementwise: Bool { false }

    /// Not called for an optimizer that does not update element-wise.
    public func apply(_ constants: StepConstants, to memory: ParameterMemory, elements: Range<Int>) {
        preconditionFailure("\(kind) does not update element-wise; call apply(_:to:) on whole parameters")
    }

    /// Elements per block of an element-wise update: a task for one core.
    static var elementwiseBlockSize: Int { 1 << 14 }

    /// Applies one update to every parameter that has a gradient.
    ///
    /// - Parameters:
    ///   - parameters: the model, updated in place (storage shared with another copy of
    ///     the model is copied first, so the copy keeps its values).
    ///   - gradients: from `valueAndGradient(of:recorder:_:)`.
    ///   - learningRate: this step's rate (from a schedule).
    public mutating func update<Parameters: ParameterContainer>(
        _ parameters: inout Parameters, along gradients: ParameterGradients, learningRate: Float
    ) {
        let constants = beginStep(learningRate: learningRate)
        // For an element-wise update, every parameter's memory, updated after the visit.
        var pending: [ParameterMemory] = []
        parameters.visitParameters { name, parameter in
            guard let gradient = gradients[name] else { return }
            precondition(
                gradient.shape == parameter.shape,
                "Optimizer.update: gradient of \(name) is \(gradient.shape), the parameter \(parameter.shape)")
            let memory = self.memory(of: name, &parameter, gradient: UnsafePointer(gradient.buffer.pointer(as: Float.self)))
            if updatesElementwise {
                pending.append(memory)
            } else {
                withExtendedLifetime(gradient) { apply(constants, to: memory) }
            }
        }
        // The parameters stay in `parameters`, their slots in `slotValues` and the gradients
        // in `gradients` (the caller's), the written ones uniquely held: the pointers stay valid.
        let blocks = Self.elementwiseBlocks(counts: pending.map(\.count))
        Parallel.forChunks(blocks.count, costPerItem: Self.elementwiseBlockSize * 4) { range in
            for (index, elements) in blocks[range] { apply(constants, to: pending[index], elements: elements) }
        }
    }

    /// Blocks of at most ``elementwiseBlockSize`` elements of parameters of `counts`
    /// elements: (the parameter's index, the block's range).
    static func elementwiseBlocks(counts: [Int]) -> [(Int, Range<Int>)] {
        counts.indices.flatMap { index in
            stride(from: 0, to: counts[index], by: elementwiseBlockSize).map {
                (index, $0..<min($0 + elementwiseBlockSize, counts[index]))
            }
        }
    }

    /// The memory of parameter `name`'s update with its gradient at `gradient`: the
    /// parameter's storage and its slots (zeros for a parameter not updated before), each
    /// made uniquely held so that the update writes them without a copy.
    mutating func memory(of name: String, _ parameter: inout Tensor, gradient: UnsafePointer<Float>) -> ParameterMemory {
        // Taken out of the dictionary so that the slot tensors are uniquely held.
        var values = slotValues.removeValue(forKey: name) ?? [:]
        var slotBuffers: [UnsafeMutablePointer<Float>] = []
        for slot in slots(forParameterShape: parameter.shape) {
            var tensor = values.removeValue(forKey: slot.name) ?? Tensor.zeros(slot.shape)
            precondition(
                tensor.shape == slot.shape,
                "Optimizer.update: slot \(slot.name) of \(name) is \(tensor.shape), expected \(slot.shape)")
            slotBuffers.append(tensor.uniqueStorage())
            values[slot.name] = tensor
        }
        slotValues[name] = values
        return ParameterMemory(
            name: name, shape: parameter.shape, parameter: parameter.uniqueStorage(), gradient: gradient, slots: slotBuffers)
    }

    /// Everything needed to resume: each slot as `SLOT/NAME` (Adam's `m/NAME` and
    /// `v/NAME`) and each scalar of ``scalarState`` as a one-element tensor.
    public var state: [String: Tensor] {
        var result = scalarState.mapValues { Tensor($0) }
        for (name, values) in slotValues {
            for (slot, tensor) in values { result[slot + "/" + name] = tensor }
        }
        return result
    }

    /// Restores a state saved from ``state``.
    ///
    /// - Throws: ``ParameterError/missing(_:)`` when a scalar is absent.
    public mutating func restore(_ saved: [String: Tensor]) throws(ParameterError) {
        var scalars: [String: Float] = [:]
        var values: [String: [String: Tensor]] = [:]
        for (key, tensor) in saved {
            if let slash = key.firstIndex(of: "/") {
                values[String(key[key.index(after: slash)...]), default: [:]][String(key[..<slash])] = tensor
            } else if tensor.scalarCount == 1 {
                scalars[key] = tensor.scalar
            }
        }
        try restoreScalars(scalars)
        slotValues = values
    }
}

extension Tensor {
    /// Storage this tensor alone holds (copied first if shared), for an in-place update;
    /// the pointer is valid while the tensor lives unchanged.
    mutating func uniqueStorage() -> UnsafeMutablePointer<Float> {
        withUnsafeMutableBufferPointer { $0.baseAddress! }
    }
}

/// The optimizers swift-nmt provides, by the name `nmt-train --optimizer` takes.
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    /// ``Adam`` with TensorFlow 1 semantics.
    case adam
    /// ``LazyAdam``, the reference's optimizer.
    case lazyAdam = "lazyadam"
    /// ``AdamW``: Adam with decoupled weight decay.
    case adamW = "adamw"
    /// ``Adafactor``: factored second moments, relative step sizes, update clipping.
    case adafactor

    /// A fresh optimizer of this kind with its default hyperparameters (the reference's
    /// for Adam and LazyAdam), and `weightDecay` for AdamW.
    public func makeOptimizer(weightDecay: Float = AdamW.defaultWeightDecay) -> any Optimizer {
        switch self {
        case .adam: return Adam()
        case .lazyAdam: return LazyAdam()
        case .adamW: return AdamW(weightDecay: weightDecay)
        case .adafactor: return Adafactor()
        }
    }
}
