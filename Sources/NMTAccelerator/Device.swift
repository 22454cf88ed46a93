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

    /// Runs one step per batch (the reference's iterations per loop): forward, backward
    /// and one optimizer update each, in order.
    ///
    /// - Parameters:
    ///   - model: updated in place.
    ///   - optimizer: any `Optimizer`; its state advances once per step.
    ///   - batches: one batch per step, in order.
    ///   - firstStep: the global step before the first update.
    ///   - learningRate: the rate of the update made at a global step.
    ///   - randomKey: the run's key; step `s` draws its dropout from `randomKey.split(s)`, so
    ///     a resumed run draws the same masks.
    ///   - loss: the scalar loss of a batch under a forward context (training, with the
    ///     device's plan).
    /// - Returns: one summary per step, handed back when the loop ends.
    /// - Throws: ``DeviceError`` when a batch does not fit the device.
    func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, batches: [Batch], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor
    ) throws -> [StepSummary]

    /// Runs one update per group of micro-batches (gradient accumulation): each group's
    /// gradients are combined, weighted by each micro-batch's share of the group's loss
    /// weight, into the gradient of one batch made of them all, and the optimizer updates
    /// once per group. Micro-batch m of a group is numbered after the sentences of the ones
    /// before it, so dropout draws the masks the whole batch would.
    ///
    /// Parameters as ``trainSteps(model:optimizer:batches:firstStep:learningRate:randomKey:loss:)``,
    /// with `microBatches` holding one non-empty group per step.
    ///
    /// - Throws: ``DeviceError`` when a batch does not fit the device, or when the device
    ///   cannot accumulate (the default for devices that do not say otherwise).
    func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, microBatches: [[Batch]], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor
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
    /// context with the device's plan.
    ///
    /// - Throws: ``DeviceError`` when the batch does not fit the device.
    func runSharded<Model: ParameterContainer, Batch: DeviceBatch, Part>(
        model: Model, batch: Batch, _ body: (Model, Batch, ForwardContext) -> Part
    ) throws -> [Part]

    /// Whether several threads may call ``run(model:batch:_:)`` and
    /// ``runSharded(model:batch:_:)`` at once, each running its kernels on its own thread
    /// (translation then decodes one batch per core). False unless a device says so.
    var acceptsConcurrentInference: Bool { get }

    /// The processes this device trains with, when it is one of several (data parallelism
    /// across processes); nil for a device that trains alone. The trainer lets only the
    /// group's process 0 write files, and makes every process take the same decisions.
    var processGroup: ProcessGroup? { get }
}

extension Device {
    /// Devices with state per call (compiled programs, arenas) take one call at a time.
    public var acceptsConcurrentInference: Bool { false }

    /// A device trains alone unless it says otherwise.
    public var processGroup: ProcessGroup? { nil }

    /// One micro-batch per group runs as ``trainSteps(model:optimizer:batches:firstStep:learningRate:randomKey:loss:)``;
    /// larger groups are refused: this device does not accumulate gradients.
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, microBatches: [[Batch]], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor
    ) throws -> [StepSummary] {
        guard microBatches.allSatisfy({ $0.count == 1 }) else {
            throw DeviceError.invalidConfiguration("\(type(of: self)) does not accumulate gradients over micro-batches; use the CPU device")
        }
        return try trainSteps(
            model: &model, optimizer: &optimizer, batches: microBatches.map { $0[0] }, firstStep: firstStep,
            learningRate: learningRate, randomKey: randomKey, loss: loss)
    }
}
