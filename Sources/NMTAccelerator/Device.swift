import NMTLayers
import NMTTensor

/// A batch a device can train on: data that joins a traced step (`TapeAttachable`)
/// and splits into sentence ranges for replicas.
public protocol DeviceBatch: TapeAttachable, Sendable {
    /// Sentences in the batch.
    var sentenceCount: Int { get }
    /// The shape of each id matrix (for example source [B, S] and target [B, T]), which a
    /// static-shape device checks.
    var shapes: [[Int]] { get }
    /// What the loss averages over (for the Transformer: non-padding target tokens).
    /// Replicas' losses and gradients are combined in proportion to it, so that a batch
    /// split across shards gives exactly the loss of the whole batch.
    var lossWeight: Float { get }
    /// The loss weight of the sentences `range` alone.
    func lossWeight(ofSentences range: Range<Int>) -> Float
    /// The sentences `range` of the batch (for splitting across replicas).
    func sentences(_ range: Range<Int>) -> Self
    /// The buffers of its id tensors, in a fixed order, each holding its tensor's rows
    /// (one per sentence) one after another: a replayed program copies a replica's rows of
    /// the next batch straight into the buffers it was traced with.
    var kernelBuffers: [KernelBuffer] { get }
}

extension DeviceBatch {
    /// The loss weight of the sentences `range`, from ``sentences(_:)``.
    public func lossWeight(ofSentences range: Range<Int>) -> Float { sentences(range).lossWeight }
}

/// What one training step reports back to the host.
public struct StepSummary: Sendable, Equatable, Codable {
    /// The global step of the update (the step count before it, as the reference).
    public var step: Int
    /// The learning rate the update used.
    public var learningRate: Float
    /// The minibatch loss.
    public var loss: Float
    /// The global norm of the gradients, where the device computes it (host metrics).
    public var gradientNorm: Float?

    /// Creates a summary.
    public init(step: Int, learningRate: Float, loss: Float, gradientNorm: Float?) {
        self.step = step
        self.learningRate = learningRate
        self.loss = loss
        self.gradientNorm = gradientNorm
    }
}

/// Executes training steps and evaluation; the trainer never cares how.
///
/// The device knows nothing of the Transformer: it is handed the model as a
/// `ParameterContainer` and the loss as a closure, which keeps the dependency
/// arrows pointing down (the model never imports the accelerator) and lets a static-shape
/// device trace the closure into a program.
///
/// The device decides how the model computes: every closure it runs receives a
/// `ForwardContext` carrying the device's `ExecutionPlan` (embedding
/// lookup, padding removal), so a model never holds device settings and cannot be set up
/// for the wrong device.
public protocol Device: AnyObject {
    /// What the device supports, including the execution plan it gives every forward pass.
    var capabilities: DeviceCapabilities { get }

    /// Runs the request's steps in order: per step the forward and backward of this
    /// process's parts of the step's micro-batches (``TrainingRequest/parts(ofStep:evenSplit:)``),
    /// each weighted by its share, the sum over the request's group, and one optimizer
    /// update. One batch per step alone is the reference's iterations per loop; several
    /// micro-batches are gradient accumulation; a group of several processes is data
    /// parallelism. Every combination trains what one process with the whole step's
    /// batch would.
    ///
    /// - Parameters:
    ///   - model: updated in place.
    ///   - optimizer: any `Optimizer`; its state advances once per step.
    ///   - request: the steps, schedule, dropout key, loss and group.
    /// - Returns: one summary per step (with the global loss), handed back when the loop ends.
    /// - Throws: ``DeviceError`` when a batch does not fit the device or the device cannot
    ///   run the request (a static device refuses several micro-batches per step), or the
    ///   group's error when an exchange fails.
    func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, _ request: TrainingRequest<Model, Batch>
    ) throws -> [StepSummary]

    /// Runs an inference computation (evaluation, translation) of a batch on the device;
    /// `body` gets an inference context with the device's plan.
    ///
    /// - Throws: ``DeviceError`` when the batch does not fit the device.
    func run<Model: ParameterContainer, Batch: DeviceBatch, Result>(
        model: Model, batch: Batch, _ body: (Model, Batch, ForwardContext) -> Result
    ) throws -> Result

    /// Runs an inference computation on each replica's part of a batch (concurrently where
    /// the device has several) and returns the parts' results in sentence order; a device
    /// with one replica returns one result for the whole batch. `body` gets an inference
    /// context with the device's plan; it may run on several threads at once.
    ///
    /// - Throws: ``DeviceError`` when the batch does not fit the device.
    func runSharded<Model: ParameterContainer, Batch: DeviceBatch, Part: Sendable>(
        model: Model, batch: Batch, _ body: @escaping @Sendable (Model, Batch, ForwardContext) -> Part
    ) throws -> [Part]

    /// Whether several threads may call ``run(model:batch:_:)`` and
    /// ``runSharded(model:batch:_:)`` at once, each running its kernels on its own thread
    /// (translation then decodes one batch per core). False unless a device says so.
    var acceptsConcurrentInference: Bool { get }

    /// The processes this device trains with: a ``SingleProcessGroup`` for a device that
    /// trains alone, the group of a data-parallel device. The trainer lets only the
    /// group's process 0 write files, and makes every process take the same decisions.
    var processGroup: any ProcessGroup { get }
}

extension Device {
    /// Devices with state per call (compiled programs, arenas) take one call at a time.
    public var acceptsConcurrentInference: Bool { false }

    /// A device trains alone unless it says otherwise.
    public var processGroup: any ProcessGroup { SingleProcessGroup() }
}
