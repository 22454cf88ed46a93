import Foundation
import NMTLayers
import NMTTensor

/// One replica on the CPU: dynamic shapes, gather embedding, encoder padding removal, all
/// metrics, gradient norms in the summaries.
///
/// Matrix products use every core: BLAS runs single-threaded and swift-nmt splits large
/// products itself, which on two cores trains 20-30% faster than BLAS's own threads (see
/// Documentation/Performance.md). Creating the device sets `BLAS.threadCount = 1` for the
/// process.
public final class CPUDevice: Device {
    /// One replica, dynamic shapes, host metrics, and the plan it was created with.
    public let capabilities: DeviceCapabilities
    /// The gradient buffer of data-parallel steps (see ``DataParallelReplica``).
    var exchange: GradientExchangeBuffer?

    /// Creates the device.
    ///
    /// - Parameter executionPlan: how it runs models: the dynamic-shape plan by default;
    ///   `ExecutionPlan.staticShapes` does on the CPU the same work as the
    ///   static sharded device, step for step (benchmarks compare the two with it).
    public init(executionPlan: ExecutionPlan = .dynamicShapes) {
        var capabilities = DeviceCapabilities.cpu
        capabilities.executionPlan = executionPlan
        self.capabilities = capabilities
        BLAS.threadCount = 1
    }

    /// Runs the steps one after another on this thread (see ``Device/trainSteps(model:optimizer:batches:firstStep:learningRate:randomKey:loss:)``).
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, batches: [Batch], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor
    ) throws -> [StepSummary] {
        try trainSteps(
            model: &model, optimizer: &optimizer, microBatches: batches.map { [$0] }, firstStep: firstStep,
            learningRate: learningRate, randomKey: randomKey, loss: loss)
    }

    /// Runs the steps one after another on this thread, each accumulating the gradients of
    /// its micro-batches (see ``Device/trainSteps(model:optimizer:microBatches:firstStep:learningRate:randomKey:loss:)``).
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, microBatches: [[Batch]], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor
    ) throws -> [StepSummary] {
        var summaries: [StepSummary] = []
        for (offset, group) in microBatches.enumerated() {
            precondition(!group.isEmpty, "CPUDevice.trainSteps: step \(firstStep + offset) has no micro-batch")
            let step = firstStep + offset
            let key = randomKey.split(UInt64(step))
            let (value, gradients) = gradients(of: model, microBatches: group, key: key, loss: loss)
            let rate = learningRate(step)
            optimizer.update(&model, along: gradients, learningRate: rate)
            summaries.append(
                StepSummary(step: step, learningRate: rate, loss: value, gradientNorm: Self.globalNorm(gradients)))
        }
        return summaries
    }

    /// The training loss and gradient of one step on the batch made of `group`, without
    /// updating: what ``trainSteps(model:optimizer:microBatches:firstStep:learningRate:randomKey:loss:)``
    /// applies. Computed micro-batch by micro-batch, each loss and gradient weighted by its
    /// share of the group's loss weight; micro-batch m's dropout numbers its examples after
    /// those of the micro-batches before it. A single batch is returned as computed.
    ///
    /// - Parameters:
    ///   - model: the parameters.
    ///   - group: the micro-batches (at least one).
    ///   - key: the step's dropout key.
    ///   - firstExampleIndex: the dropout position of the group's first sentence (nonzero
    ///     when the group is one process's part of a larger batch).
    ///   - loss: the scalar loss of a batch under a training context.
    public func gradients<Model: ParameterContainer, Batch: DeviceBatch>(
        of model: Model, microBatches group: [Batch], key: RandomKey, firstExampleIndex: Int = 0,
        loss: (Model, Batch, ForwardContext) -> Tensor
    ) -> (loss: Float, gradients: ParameterGradients) {
        precondition(!group.isEmpty, "CPUDevice.gradients: no micro-batch")
        let weights = group.map(\.lossWeight)
        let total = weights.reduce(0, +)
        var value: Float = 0
        var sums: [String: Tensor] = [:]
        var names: [String] = []
        var firstExample = firstExampleIndex
        for (batch, weight) in zip(group, weights) {
            let context = ForwardContext.training(key: key, plan: capabilities.executionPlan, firstExampleIndex: firstExample)
            let (batchLoss, gradients) = valueAndGradient(of: model, attaching: batch) { loss($0, $1, context) }
            firstExample += batch.sentenceCount
            guard group.count > 1 else { return (batchLoss.scalar, gradients) }
            let share = total > 0 ? weight / total : 1 / Float(group.count)
            value += batchLoss.scalar * share
            names = gradients.names
            for name in names {
                let weighted = gradients[name]! * share
                sums[name] = sums[name].map { $0 + weighted } ?? weighted
            }
        }
        return (value, ParameterGradients(names: names, tensors: sums))
    }

    /// Runs `body` on this thread.
    public func run<Model: ParameterContainer, Batch: DeviceBatch, Result>(
        model: Model, batch: Batch, _ body: (Model, Batch, ForwardContext) -> Result
    ) throws -> Result {
        body(model, batch, .inference(plan: capabilities.executionPlan))
    }

    /// Runs `body` on the whole batch, on this thread.
    public func runSharded<Model: ParameterContainer, Batch: DeviceBatch, Part>(
        model: Model, batch: Batch, _ body: (Model, Batch, ForwardContext) -> Part
    ) throws -> [Part] {
        [body(model, batch, .inference(plan: capabilities.executionPlan))]
    }

    /// True: ``run(model:batch:_:)`` and ``runSharded(model:batch:_:)`` keep no state and
    /// run on the calling thread.
    public var acceptsConcurrentInference: Bool { true }

    /// `sqrt(Σ g²)` over every gradient (TensorFlow's `global_norm`).
    static func globalNorm(_ gradients: ParameterGradients) -> Float {
        var total = 0.0
        for name in gradients.names {
            gradients[name]!.withUnsafeBufferPointer { values in for v in values { total += Double(v) * Double(v) } }
        }
        return Float(total.squareRoot())
    }
}
