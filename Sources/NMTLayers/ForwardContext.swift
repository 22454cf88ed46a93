import NMTTensor

/// What a forward pass needs besides its inputs: whether it is training (dropout on),
/// where its random numbers come from, and how the device runs it. Passed explicitly;
/// there is no global mode.
public struct ForwardContext: Sendable {
    /// Whether dropout is applied.
    public var isTraining: Bool
    /// How the device computes the pass (embedding lookup, padding removal); it never
    /// changes the result.
    public var plan: ExecutionPlan
    /// The random stream of this step; each dropout site derives its own from it.
    public var randomKey: RandomKey {
        get { randomKeyBuffer.key }
        set { randomKeyBuffer = RandomKeyBuffer(newValue) }
    }
    /// The step key as the dropout kernels read it (a device replaying a recorded step
    /// writes the next step's key here).
    public private(set) var randomKeyBuffer: RandomKeyBuffer
    /// Global index of this batch's first example, so that a batch split across replicas
    /// draws the same dropout masks as the whole batch (see ``Dropout``).
    public var firstExampleIndex: Int

    /// Creates a context.
    public init(
        isTraining: Bool, plan: ExecutionPlan, randomKey: RandomKey = RandomKey(seed: 0),
        firstExampleIndex: Int = 0
    ) {
        self.isTraining = isTraining
        self.plan = plan
        randomKeyBuffer = RandomKeyBuffer(randomKey)
        self.firstExampleIndex = firstExampleIndex
    }

    /// Evaluation and decoding under `plan`: no dropout.
    public static func inference(plan: ExecutionPlan) -> ForwardContext {
        ForwardContext(isTraining: false, plan: plan)
    }

    /// A training step with dropout drawn from `key`.
    public static func training(
        key: RandomKey, plan: ExecutionPlan, firstExampleIndex: Int = 0
    ) -> ForwardContext {
        ForwardContext(isTraining: true, plan: plan, randomKey: key, firstExampleIndex: firstExampleIndex)
    }
}
