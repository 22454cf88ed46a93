import NMTTensor

/// Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
/// Regularization", 2019): the decay shrinks the weights directly instead of entering
/// the gradient, so Adam's per-element scaling does not weaken it.
///
/// Each update multiplies a decayed parameter by `1 - lr·λ` (the schedule's learning rate
/// times ``weightDecay``, as PyTorch's `AdamW`) and then takes ``Adam``'s TensorFlow 1 step:
/// `θ ← θ·(1 - lr·λ) - lr_t·m/(√v + ε)` with `m`, `v` and `lr_t` exactly as Adam's. Only
/// matrices decay by default: biases and layer-norm gains and offsets (rank < 2) are
/// left alone, the common practice (``decaysVectors``).
public struct AdamW: Optimizer {
    /// λ when none is given: 0.01, PyTorch's default.
    public static let defaultWeightDecay: Float = 0.01

    /// The Adam step (its constants, step count and moments).
    public var adam: Adam
    /// λ: the fraction of a weight removed per unit of learning rate.
    public var weightDecay: Float
    /// Whether parameters of rank below 2 decay too.
    public var decaysVectors: Bool

    /// Creates an optimizer; Adam's constants default to the reference's.
    public init(
        weightDecay: Float = AdamW.defaultWeightDecay, beta1: Float = 0.9, beta2: Float = 0.997, epsilon: Float = 1e-9,
        decaysVectors: Bool = false
    ) {
        adam = Adam(beta1: beta1, beta2: beta2, epsilon: epsilon)
        self.weightDecay = weightDecay
        self.decaysVectors = decaysVectors
    }

    /// What one AdamW step shares: Adam's step size and the decay factor `1 - lr·λ`.
    public struct StepConstants: Sendable {
        /// Adam's bias-corrected step size.
        public var stepSize: Float
        /// What a decayed parameter is multiplied by first.
        public var decayFactor: Float
    }

    /// ``OptimizerKind/adamW``.
    public var kind: OptimizerKind { .adamW }
    /// Updates applied so far.
    public var step: Int { adam.step }
    /// The moments by parameter name (`m`, `v`).
    public var slotValues: [String: [String: Tensor]] {
        get { adam.slotValues }
        _modify { yield &adam.slotValues }
        set { adam.slotValues = newValue }
    }

    /// `m` and `v`, shaped as the parameter.
    public func slots(forParameterShape shape: [Int]) -> [OptimizerSlot] { adam.slots(forParameterShape: shape) }

    /// Adam's step count and step size, and this step's decay factor.
    public mutating func beginStep(learningRate: Float) -> StepConstants {
        StepConstants(stepSize: adam.beginStep(learningRate: learningRate), decayFactor: 1 - learningRate * weightDecay)
    }

    /// Decays the parameter (if it decays) and takes the Adam step, in one pass, on every
    /// core.
    public func apply(_ constants: StepConstants, to memory: ParameterMemory) {
        Parallel.forChunks(memory.count, costPerItem: 4) { apply(constants, to: memory, elements: $0) }
    }

    /// True: each element's update reads only that element.
    public var updatesElementwise: Bool { true }

    /// The decay and Adam step of elements `elements`, on this thread.
    public func apply(_ constants: StepConstants, to memory: ParameterMemory, elements: Range<Int>) {
        let arithmetic = AdamArithmetic(
            beta1: adam.beta1, beta2: adam.beta2, epsilon: adam.epsilon, stepSize: constants.stepSize)
        guard decaysVectors || memory.shape.count >= 2 else { return arithmetic.update(memory, elements) }
        let p = memory.parameter, g = memory.gradient, m = memory.slots[0], v = memory.slots[1]
        let (beta1, beta2, epsilon) = (adam.beta1, adam.beta2, adam.epsilon)
        let (stepSize, decay) = (constants.stepSize, constants.decayFactor)
        for i in elements {
            let mi = m[i] + (g[i] - m[i]) * (1 - beta1)
            let vi = v[i] + (g[i] * g[i] - v[i]) * (1 - beta2)
            m[i] = mi
            v[i] = vi
            p[i] = p[i] * decay - (mi * stepSize) / (vi.squareRoot() + epsilon)
        }
    }

    /// Adam's scalars.
    public var scalarState: [String: Float] { adam.scalarState }

    /// Restores Adam's scalars.
    public mutating func restoreScalars(_ scalars: [String: Float]) throws(ParameterError) {
        try adam.restoreScalars(scalars)
    }
}
