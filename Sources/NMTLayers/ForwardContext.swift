import NMTTensor

/// What a forward pass needs besides its inputs: whether it is training (dropout on) and
/// where its random numbers come from. Passed explicitly; there is no global mode.
public struct ForwardContext: Sendable {
    /// Whether dropout is applied.
    public var isTraining: Bool
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
    public init(isTraining: Bool, randomKey: RandomKey = RandomKey(seed: 0), firstExampleIndex: Int = 0) {
        self.isTraining = isTraining
        randomKeyBuffer = RandomKeyBuffer(randomKey)
        self.firstExampleIndex = firstExampleIndex
    }

    /// Evaluation and decoding: no dropout.
    public static let inference = ForwardContext(isTraining: false)

    /// A training step with dropout drawn from `key`.
    public static func training(key: RandomKey, firstExampleIndex: Int = 0) -> ForwardContext {
        ForwardContext(isTraining: true, randomKey: key, firstExampleIndex: firstExampleIndex)
    }
}
