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
        var summaries: [StepSummary] = []
        for (offset, batch) in batches.enumerated() {
            let step = firstStep + offset
            let context = ForwardContext.training(key: randomKey.split(UInt64(step)), plan: capabilities.executionPlan)
            let (value, gradients) = valueAndGradient(of: model, attaching: batch) { loss($0, $1, context) }
            let rate = learningRate(step)
            optimizer.update(&model, along: gradients, learningRate: rate)
            summaries.append(
                StepSummary(step: step, learningRate: rate, loss: value.scalar, gradientNorm: Self.globalNorm(gradients)))
        }
        return summaries
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
