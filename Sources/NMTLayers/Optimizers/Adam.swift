import CNMTKernels
import NMTTensor

/// Adam with TensorFlow 1 semantics.
///
/// For update number t (from 1): `lr_t = lr·√(1-β2^t)/(1-β1^t)`,
/// `m += (g - m)(1-β1)`, `v += (g² - v)(1-β2)`, `θ -= lr_t·m/(√v + ε)` — epsilon outside
/// the square root, and β^t kept as float32 running products as TensorFlow's
/// `beta1_power`/`beta2_power` variables are. Slots: `m` and `v`, shaped as the parameter.
///
/// A sparse gradient updates densely, as TensorFlow 1's Adam does (its sparse update
/// decays every row's moments); ``LazyAdam`` updates only the touched rows.
public struct Adam: Optimizer {
    /// β1 (0.9 in the reference).
    public var beta1: Float
    /// β2 (0.997 in the reference).
    public var beta2: Float
    /// ε (1e-9 in the reference).
    public var epsilon: Float
    /// Updates applied so far.
    public private(set) var step: Int
    /// β1^step as a float32 running product.
    public private(set) var beta1Power: Float
    /// β2^step as a float32 running product.
    public private(set) var beta2Power: Float
    /// The moments by parameter name (`m`, `v`).
    public var slotValues: [String: [String: Tensor]] = [:]

    /// Creates an optimizer with the reference's constants by default.
    public init(beta1: Float = 0.9, beta2: Float = 0.997, epsilon: Float = 1e-9) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        step = 0
        beta1Power = 1
        beta2Power = 1
    }

    /// ``OptimizerKind/adam``.
    public var kind: OptimizerKind { .adam }

    /// First moments by parameter name.
    public var firstMoments: [String: Tensor] { slotValues.compactMapValues { $0["m"] } }
    /// Second moments by parameter name.
    public var secondMoments: [String: Tensor] { slotValues.compactMapValues { $0["v"] } }

    /// `m` and `v`, shaped as the parameter.
    public func slots(forParameterShape shape: [Int]) -> [OptimizerSlot] {
        [OptimizerSlot(name: "m", shape: shape), OptimizerSlot(name: "v", shape: shape)]
    }

    /// Counts one update (step and β powers) and returns its bias-corrected step size
    /// `lr·√(1-β2^t)/(1-β1^t)`.
    public mutating func beginStep(learningRate: Float) -> Float {
        step += 1
        beta1Power *= beta1
        beta2Power *= beta2
        return learningRate * (1 - beta2Power).squareRoot() / (1 - beta1Power)
    }

    /// One dense Adam update of a parameter and its moments, on every core.
    public func apply(_ stepSize: Float, to memory: ParameterMemory) {
        AdamArithmetic(beta1: beta1, beta2: beta2, epsilon: epsilon, stepSize: stepSize).updateDensely(memory)
    }

    /// True: each element's update reads only that element.
    public var updatesElementwise: Bool { true }

    /// Adam's update of elements `elements`, on this thread.
    public func apply(_ stepSize: Float, to memory: ParameterMemory, elements: Range<Int>) {
        AdamArithmetic(beta1: beta1, beta2: beta2, epsilon: epsilon, stepSize: stepSize).update(memory, elements)
    }

    /// `step`, `beta1_power`, `beta2_power`.
    public var scalarState: [String: Float] {
        ["step": Float(step), "beta1_power": beta1Power, "beta2_power": beta2Power]
    }

    /// Restores `step`, `beta1_power` and `beta2_power`.
    public mutating func restoreScalars(_ scalars: [String: Float]) throws(ParameterError) {
        guard let savedStep = scalars["step"] else { throw .missing("step") }
        guard let savedBeta1Power = scalars["beta1_power"] else { throw .missing("beta1_power") }
        guard let savedBeta2Power = scalars["beta2_power"] else { throw .missing("beta2_power") }
        step = Int(savedStep)
        beta1Power = savedBeta1Power
        beta2Power = savedBeta2Power
    }
}

/// The reference's optimizer name (`LazyAdamOptimizer`), computing ``Adam``'s update value
/// for value.
///
/// TensorFlow's LazyAdam updates only the rows of an embedding that a sparse gradient
/// (`IndexedSlices`) touches. The Transformer's embedding is shared with the output
/// projection, whose gradient reaches every row at every step, so its gradient is dense
/// and LazyAdam is Adam, in the reference as here. swift-nmt therefore has no sparse
/// path: no model of this library produces a sparse gradient, and a path no training uses
/// could only drift. The kind is kept so that checkpoints and command lines naming it
/// keep working.
public struct LazyAdam: Optimizer {
    /// The Adam it runs (its constants, step and moments).
    public var adam: Adam

    /// Creates an optimizer with the reference's constants by default.
    public init(beta1: Float = 0.9, beta2: Float = 0.997, epsilon: Float = 1e-9) {
        adam = Adam(beta1: beta1, beta2: beta2, epsilon: epsilon)
    }

    /// ``OptimizerKind/lazyAdam``.
    public var kind: OptimizerKind { .lazyAdam }
    /// Updates applied so far.
    public var step: Int { adam.step }
    /// The moments by parameter name (`m`, `v`).
    public var slotValues: [String: [String: Tensor]] {
        get { adam.slotValues }
        _modify { yield &adam.slotValues }
        set { adam.slotValues = newValue }
    }
    /// First moments by parameter name.
    public var firstMoments: [String: Tensor] { adam.firstMoments }
    /// Second moments by parameter name.
    public var secondMoments: [String: Tensor] { adam.secondMoments }

    /// `m` and `v`, shaped as the parameter.
    public func slots(forParameterShape shape: [Int]) -> [OptimizerSlot] { adam.slots(forParameterShape: shape) }

    /// Adam's step count and bias-corrected step size.
    public mutating func beginStep(learningRate: Float) -> Float { adam.beginStep(learningRate: learningRate) }

    /// Adam's update.
    public func apply(_ stepSize: Float, to memory: ParameterMemory) { adam.apply(stepSize, to: memory) }

    /// True, as Adam's.
    public var updatesElementwise: Bool { true }

    /// Adam's update of elements `elements`, on this thread.
    public func apply(_ stepSize: Float, to memory: ParameterMemory, elements: Range<Int>) {
        adam.apply(stepSize, to: memory, elements: elements)
    }

    /// Adam's scalars.
    public var scalarState: [String: Float] { adam.scalarState }

    /// Restores Adam's scalars.
    public mutating func restoreScalars(_ scalars: [String: Float]) throws(ParameterError) {
        try adam.restoreScalars(scalars)
    }
}

/// The arithmetic of one Adam step (TensorFlow's `ApplyAdam` kernel), shared by ``Adam``,
/// ``LazyAdam`` and ``AdamW`` so that all compute the same floats.
struct AdamArithmetic {
    let beta1: Float, beta2: Float, epsilon: Float
    /// The bias-corrected `lr·√(1-β2^t)/(1-β1^t)`.
    let stepSize: Float

    /// Updates elements `range` of the parameter and its two slots (`m`, `v`) in place:
    /// m += (g - m)(1 - β1); v += (g² - v)(1 - β2); p -= m·step / (√v + ε), the same bits
    /// at every vector width (CNMTKernels).
    @inline(__always)
    func update(_ memory: ParameterMemory, _ range: Range<Int>) {
        let p = memory.parameter, g = memory.gradient, m = memory.slots[0], v = memory.slots[1]
        let at = range.lowerBound
        nmt_adam_update(range.count, 1 - beta1, 1 - beta2, epsilon, stepSize, p + at, g + at, m + at, v + at)
    }

    /// Updates every element, split across cores.
    func updateDensely(_ memory: ParameterMemory) {
        // Four reads and three writes per element.
        Parallel.forChunks(memory.count, costPerItem: 4) { update(memory, $0) }
    }
}
