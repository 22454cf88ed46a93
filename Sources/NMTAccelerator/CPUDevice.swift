import CNMTKernels
import Foundation
import NMTLayers
import NMTTensor

/// The CPU: dynamic shapes, gather embedding, encoder padding removal, all metrics,
/// gradient norms in the summaries.
///
/// With one replica (the default), matrix products use every core: BLAS runs
/// single-threaded and swift-nmt splits large products itself, which on two cores trains
/// 20-30% faster than BLAS's own threads (see Documentation/Performance.md). With several
/// ``replicas``, a training step's batch is split by sentences into that many parts that
/// run concurrently, one thread each, and their weighted gradients are summed in replica
/// order: the small products of a small model keep a core busy each, where splitting them
/// across cores loses time to hand-offs. A process alone sums them inside the optimizer's
/// update (`Optimizer.update(_:alongSumOf:learningRate:)`); with several processes or
/// micro-batches, in the exchange buffer first. Both give the same floats. Dropout draws each example's mask from its
/// position in the batch and each part counts by its share of the batch's loss weight, so
/// every replica count computes the same mathematics (equal to rounding, and bit for bit
/// run to run for a given count). Creating the device sets `BLAS.threadCount = 1` for the
/// process.
public final class CPUDevice: Device {
    /// Dynamic shapes, host metrics, and the plan it was created with.
    public let capabilities: DeviceCapabilities
    /// Concurrent parts a training step's batch is split into (1: the whole batch, its
    /// products split across the cores).
    public let replicas: Int
    /// The buffer that sums the weighted gradients of several parts (and processes).
    var exchange: GradientExchangeBuffer?

    /// Creates the device.
    ///
    /// - Parameters:
    ///   - executionPlan: how it runs models: the dynamic-shape plan by default;
    ///     `ExecutionPlan.staticShapes` does on the CPU the same work as the static
    ///     sharded device, step for step (benchmarks compare the two with it).
    ///   - replicas: concurrent parts of each training batch (see the type's
    ///     description); at least 1.
    public init(executionPlan: ExecutionPlan = .dynamicShapes, replicas: Int = 1) {
        precondition(replicas >= 1, "CPUDevice: replicas must be at least 1, not \(replicas)")
        var capabilities = DeviceCapabilities.cpu
        capabilities.executionPlan = executionPlan
        self.capabilities = capabilities
        self.replicas = replicas
        BLAS.threadCount = 1
    }

    /// Runs the steps one after another on this thread (see
    /// ``Device/trainSteps(model:optimizer:_:)``): any number of micro-batches per step,
    /// with any group. The summaries hold the global loss and the norm of the summed
    /// gradients.
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, _ request: TrainingRequest<Model, Batch>
    ) throws -> [StepSummary] {
        var summaries: [StepSummary] = []
        for index in request.steps.indices {
            let step = request.firstStep + index
            let parts = try request.parts(ofStep: index, evenSplit: false)
            let (key, rate) = (request.key(forStep: step), request.learningRate(step))
            let value: Float, gradients: ParameterGradients
            if replicas > 1, request.group.size == 1, parts.count == 1, parts[0].batch.sentenceCount > 0 {
                // A process alone has nothing to exchange: the replicas' gradients are summed
                // inside the update, block by block (the buffer's floats, one pass fewer).
                let results = try replicaResults(of: model, part: parts[0], key: key, loss: request.loss)
                var loss: Float = 0
                for result in results { loss += result.loss * (parts[0].share * result.share) }
                value = loss
                gradients = optimizer.update(
                    &model, alongSumOf: results.map { (parts[0].share * $0.share, $0.gradients) }, learningRate: rate)
            } else {
                (value, gradients) = try self.gradients(of: model, parts: parts, key: key, group: request.group, loss: request.loss)
                optimizer.update(&model, along: gradients, learningRate: rate)
            }
            summaries.append(StepSummary(step: step, learningRate: rate, loss: value, gradientNorm: Self.globalNorm(gradients)))
        }
        return summaries
    }

    /// The training loss and gradient of one step, without updating: what
    /// ``trainSteps(model:optimizer:_:)`` applies. Each part's loss and gradient are
    /// weighted by its share and summed, then summed over `group`; a single part of share
    /// 1 in a process alone is returned as computed.
    ///
    /// - Parameters:
    ///   - model: the parameters.
    ///   - parts: this process's parts of the step's micro-batches (at least one; see
    ///     ``BatchPart/parts(of:rank:size:evenSplit:)``).
    ///   - key: the step's dropout key.
    ///   - group: the processes sharing the step.
    ///   - loss: the scalar loss of a batch under a training context.
    /// - Throws: the group's error when the exchange fails.
    public func gradients<Model: ParameterContainer, Batch: DeviceBatch>(
        of model: Model, parts: [BatchPart<Batch>], key: RandomKey, group: any ProcessGroup = SingleProcessGroup(),
        loss: (Model, Batch, ForwardContext) -> Tensor
    ) throws -> (loss: Float, gradients: ParameterGradients) {
        precondition(!parts.isEmpty, "CPUDevice.gradients: no batch")
        func valueAndGradient(_ part: BatchPart<Batch>) -> (Float, ParameterGradients) {
            let context = ForwardContext.training(
                key: key, plan: capabilities.executionPlan, firstExampleIndex: part.firstExampleIndex)
            let (value, gradients) = NMTTensor.valueAndGradient(of: model, attaching: part.batch) { loss($0, $1, context) }
            return (value.scalar, gradients)
        }
        if replicas == 1, group.size == 1, parts.count == 1, parts[0].share == 1 { return valueAndGradient(parts[0]) }
        let buffer = GradientExchangeBuffer.reusing(&exchange, for: model)
        buffer.clear()
        // A part without sentences adds nothing: the other processes' parts make the batch.
        for part in parts where part.batch.sentenceCount > 0 {
            if replicas == 1 {
                let (value, gradients) = valueAndGradient(part)
                buffer.add(loss: value, gradients: gradients, scale: part.share)
                continue
            }
            for (share, value, gradients) in try replicaResults(of: model, part: part, key: key, loss: loss) {
                buffer.add(loss: value, gradients: gradients, scale: part.share * share)
            }
        }
        try group.sum(buffer.values)
        return (buffer.loss, buffer.gradients())
    }

    /// The part's sentences split across the replicas as a batch splits across processes
    /// (``BatchPart/parts(of:rank:size:evenSplit:)``), each piece's loss and gradient
    /// computed on a thread of its own with its kernels on that thread; in replica order,
    /// with each piece's share of the part (empty pieces left out).
    private func replicaResults<Model: ParameterContainer, Batch: DeviceBatch>(
        of model: Model, part: BatchPart<Batch>, key: RandomKey, loss: (Model, Batch, ForwardContext) -> Tensor
    ) throws(DeviceError) -> [(share: Float, loss: Float, gradients: ParameterGradients)] {
        var pieces: [BatchPart<Batch>] = []
        for replica in 0..<replicas {
            let piece = try BatchPart.parts(of: [part.batch], rank: replica, size: replicas, evenSplit: false)[0]
            pieces.append(BatchPart(batch: piece.batch, firstExampleIndex: part.firstExampleIndex + piece.firstExampleIndex, share: piece.share))
        }
        let plan = capabilities.executionPlan
        return withoutActuallyEscaping(loss) { loss in
            // Every task reads the model, its own piece and the loss, and returns its own result.
            let shared = UnsafeSendable((model, pieces, loss))
            return Parallel.concurrentMap(replicas) { replica -> UnsafeSendable<(Float, Float, ParameterGradients)?> in
                let (model, pieces, loss) = shared.value
                let piece = pieces[replica]
                guard piece.batch.sentenceCount > 0 else { return UnsafeSendable(nil) }
                let context = ForwardContext.training(key: key, plan: plan, firstExampleIndex: piece.firstExampleIndex)
                let (value, gradients) = Parallel.serially {
                    NMTTensor.valueAndGradient(of: model, attaching: piece.batch) { loss($0, $1, context) }
                }
                return UnsafeSendable((piece.share, value.scalar, gradients))
            }.compactMap(\.value)
        }
    }

    /// Runs `body` on this thread.
    public func run<Model: ParameterContainer, Batch: DeviceBatch, Result>(
        model: Model, batch: Batch, _ body: (Model, Batch, ForwardContext) -> Result
    ) throws -> Result {
        body(model, batch, .inference(plan: capabilities.executionPlan))
    }

    /// Runs `body` on the whole batch, on this thread.
    public func runSharded<Model: ParameterContainer, Batch: DeviceBatch, Part: Sendable>(
        model: Model, batch: Batch, _ body: @escaping @Sendable (Model, Batch, ForwardContext) -> Part
    ) throws -> [Part] {
        [body(model, batch, .inference(plan: capabilities.executionPlan))]
    }

    /// True: ``run(model:batch:_:)`` and ``runSharded(model:batch:_:)`` keep no state and
    /// run on the calling thread.
    public var acceptsConcurrentInference: Bool { true }

    /// Values per block of ``globalNorm(_:)``: a block is one task for a core.
    static let normBlockSize = 1 << 15

    /// `sqrt(Σ g²)` over every gradient (TensorFlow's `global_norm`), in double.
    ///
    /// Each gradient is cut into blocks of ``normBlockSize`` values, each block summed by
    /// `nmt_sum_of_squares` (the same bits at every vector width), and the blocks' sums
    /// added in parameter and block order. The blocks spread across the cores, and the
    /// result does not depend on how: the norm is part of the serial end of a step that
    /// leaves the other cores idle.
    static func globalNorm(_ gradients: ParameterGradients) -> Float {
        let tensors = gradients.names.compactMap { gradients[$0] }
        var blocks: [(start: UnsafePointer<Float>, count: Int)] = []
        for tensor in tensors {
            let start = UnsafePointer(tensor.buffer.pointer(as: Float.self))
            for offset in stride(from: 0, to: tensor.scalarCount, by: normBlockSize) {
                blocks.append((start + offset, min(normBlockSize, tensor.scalarCount - offset)))
            }
        }
        var sums = [Double](repeating: 0, count: blocks.count)
        withExtendedLifetime(tensors) {
            sums.withUnsafeMutableBufferPointer { sums in
                Parallel.forChunks(blocks.count, costPerItem: normBlockSize / 4) { range in
                    for b in range { sums[b] = nmt_sum_of_squares(blocks[b].start, blocks[b].count) }
                }
            }
        }
        return Float(sums.reduce(0, +).squareRoot())
    }
}
