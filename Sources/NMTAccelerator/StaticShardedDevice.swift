import Foundation
import NMTLayers
import NMTTensor

/// The accelerator path of the reference (TPU-style), on CPU threads: every batch has one
/// static shape `[batchTokens / maxLength, maxLength]`, models run with the one-hot matmul
/// embedding and no padding removal (`ExecutionPlan.staticShapes`), and each batch is split across `shards` replicas
/// that run concurrently; their gradients are combined in a fixed shard order (results
/// never depend on thread timing) and one optimizer update follows.
///
/// Replicas' losses and gradients are weighted by their share of the batch's loss weight
/// (non-padding target tokens), and dropout masks depend on each example's global
/// position, so N shards compute the same mathematics as one device.
///
/// Like XLA, the device compiles once per static shape: the first step of a shape traces
/// each replica's forward and backward kernels into a `CompiledStep` program, and later
/// steps replay the programs with new inputs (see ``compilations``).
///
/// Parameters and optimizer slots stay in device memory during a
/// ``trainSteps(model:optimizer:_:)`` loop, and
/// the host receives copies when the loop ends: a replayed step allocates no tensor memory
/// (`BufferPool.allocationCounts` counts it).
public final class StaticShardedDevice: Device {
    /// Replicas per batch.
    public let shards: Int
    /// The one batch shape: sentences × tokens.
    public let batchShape: [Int]
    /// Static shapes, matmul embedding, no padding removal, no host metrics.
    public let capabilities: DeviceCapabilities
    /// Whether steps are traced once per shape and replayed (otherwise every step runs eagerly).
    public let compiles: Bool
    /// Programs compiled so far (one per static shape, covering all replicas).
    public private(set) var compilations = 0
    /// Wall time of compilation in seconds: tracing and planning, which run no kernel
    /// (the step that compiles then runs as a replay, outside this time).
    public private(set) var compilationSeconds = 0.0
    /// Replica programs by the shapes of a replica's batch and the batch's example offset.
    var programs: [[[Int]]: [CompiledStep]] = [:]
    /// The buffer that sums a step's gradient across the processes of a group.
    var exchange: GradientExchangeBuffer?
    /// Parameters, moments and gradients in device memory (made by the first loop).
    var resident: ResidentState?

    /// Bytes of the compiled programs' arenas, and what their planned buffers would take
    /// without sharing memory between buffers whose lifetimes do not overlap.
    public var programMemory: (arenaBytes: Int, unsharedBytes: Int) {
        programs.values.joined().reduce((0, 0)) { ($0.0 + $1.arenaBytes, $0.1 + $1.unsharedBytes) }
    }

    /// Creates a device for batches of `batchTokens / maxLength` sentences of `maxLength`
    /// tokens.
    ///
    /// - Throws: ``DeviceError/invalidConfiguration(_:)`` when the sentences per batch do
    ///   not divide by `shards`.
    public init(shards: Int, batchTokens: Int, maxLength: Int, compiles: Bool = true) throws(DeviceError) {
        let sentences = maxLength > 0 ? batchTokens / maxLength : 0
        guard shards > 0, sentences > 0, sentences % shards == 0 else {
            throw .invalidConfiguration(
                "a static batch of \(sentences) sentences (batch tokens \(batchTokens) / max length \(maxLength)) "
                    + "does not divide across \(shards) shards")
        }
        self.shards = shards
        self.compiles = compiles
        batchShape = [sentences, maxLength]
        capabilities = DeviceCapabilities(
            shardCount: shards, requiresStaticShapes: true, executionPlan: .staticShapes, hostMetrics: false,
            staticBatchShape: batchShape)
        // Replicas run on our threads; BLAS must not start its own on top.
        BLAS.threadCount = 1
    }

    /// The combined gradient of the last step for parameter `name` (tests compare it with
    /// other devices'), or nil before the first step.
    func lastGradient(named name: String) -> Tensor? { resident?.gradient(named: name) }

    /// Throws when a batch does not have the static shape.
    func check<Batch: DeviceBatch>(_ batch: Batch) throws(DeviceError) {
        for shape in batch.shapes where shape != batchShape {
            throw .batchShape(expected: batchShape, actual: shape)
        }
        guard batch.sentenceCount % shards == 0 else {
            throw .indivisibleBatch(sentences: batch.sentenceCount, shards: shards)
        }
    }

    /// Runs one step per batch, each split across the replicas (see the type's
    /// description); with a group of several processes, this process's part of each
    /// batch, its replicas' combined gradient summed across the group before the update.
    /// Every part must have the static shape: the global batch is the processes' parts one
    /// after another.
    ///
    /// Parameters and optimizer slots live in the device's memory during the loop
    /// (`ResidentState`): each step combines the replicas' gradients and updates them in
    /// place, and `model` and `optimizer` receive the results when the loop ends.
    ///
    /// - Throws: ``DeviceError`` when a batch does not have the static shape or a step
    ///   has several micro-batches (programs are traced with the dropout positions of one
    ///   batch, so the device does not accumulate), or the group's error.
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, _ request: TrainingRequest<Model, Batch>
    ) throws -> [StepSummary] {
        guard request.steps.allSatisfy({ $0.count == 1 }) else {
            throw DeviceError.invalidConfiguration("the static device does not accumulate gradients; use the CPU device")
        }
        let parts = try request.steps.indices.map { index throws(DeviceError) in try request.parts(ofStep: index, evenSplit: true)[0] }
        for part in parts { try check(part.batch) }
        guard !parts.isEmpty else { return [] }
        let state = residentState(for: model, optimizer: optimizer)
        // Alone, the combined gradient is the step's: no exchange, no copy.
        let group = request.group.size > 1 ? request.group : nil
        let buffer = group.map { _ in GradientExchangeBuffer.reusing(&exchange, for: model) }
        let deviceModel = state.load(model: model, optimizer: optimizer)
        var summaries: [StepSummary] = []
        for (offset, part) in parts.enumerated() {
            let step = request.firstStep + offset
            let ranges = shardRanges(of: part.batch)
            let results = runReplicas(
                model: deviceModel, batch: part.batch, ranges: ranges, key: request.key(forStep: step),
                exampleOffset: part.firstExampleIndex, loss: request.loss)
            let weights = ranges.map { part.batch.lossWeight(ofSentences: $0) }
            let total = weights.reduce(0, +)
            let shares = zip(weights, ranges).map {
                lossShare(weight: $0, sentences: $1.count, totalWeight: total, totalSentences: part.batch.sentenceCount) * part.share
            }
            var stepLoss: Float = 0
            for (result, share) in zip(results, shares) { stepLoss += result.loss * share }
            state.combine(results.map(\.gradients), shares: shares)
            if let group, let buffer {
                state.copyGradients(into: buffer)
                buffer.loss = stepLoss
                try group.sum(buffer.values)
                state.copyGradients(from: buffer)
                stepLoss = buffer.loss
            }
            let rate = request.learningRate(step)
            state.applyUpdate(&optimizer, learningRate: rate)
            summaries.append(StepSummary(step: step, learningRate: rate, loss: stepLoss, gradientNorm: nil))
        }
        state.store(into: &model, optimizer: &optimizer)
        return summaries
    }

    /// The device memory for `model` and `optimizer`, made anew when they changed shape.
    func residentState<Model: ParameterContainer, Update: Optimizer>(for model: Model, optimizer: Update) -> ResidentState {
        if let resident, resident.fits(model, optimizer: optimizer) { return resident }
        // Another model or optimizer: new device memory, and programs traced over the old
        // one are void.
        let state = ResidentState(for: model, optimizer: optimizer)
        resident = state
        programs = [:]
        return state
    }

    /// Each replica's sentences of a checked batch.
    func shardRanges<Batch: DeviceBatch>(of batch: Batch) -> [Range<Int>] {
        let perShard = batch.sentenceCount / shards
        return (0..<shards).map { ($0 * perShard)..<(($0 + 1) * perShard) }
    }

    /// Forward and backward of every replica, concurrently: traced when the replica shape
    /// is new, replayed when it was compiled, eager when the device does not compile.
    /// Dropout is keyed by the examples' global positions.
    /// `exampleOffset` is the batch's position in a larger one (a process's part of a
    /// global batch). Programs trace it, so they are kept per shape and offset.
    func runReplicas<Model: ParameterContainer, Batch: DeviceBatch>(
        model: Model, batch: Batch, ranges: [Range<Int>], key: RandomKey, exampleOffset: Int = 0,
        loss: @escaping @Sendable (Model, Batch, ForwardContext) -> Tensor
    ) -> [(loss: Float, gradients: ParameterGradients)] {
        let plan = capabilities.executionPlan
        @Sendable func context(_ shard: Int) -> ForwardContext {
            .training(key: key, plan: plan, firstExampleIndex: exampleOffset + ranges[shard].lowerBound)
        }
        let programKey = batch.shapes.map { [$0[0] / shards] + $0.dropFirst() } + [[exampleOffset]]
        if compiles, let existing = programs[programKey] {
            // Replays copy a replica's rows straight from the batch, and the traced key
            // buffer takes the step's key: nothing is allocated.
            return Parallel.concurrentMap(shards) { existing[$0].replay(model: model, rowsOf: batch, replica: $0, key: key) }
        }
        let parts = ranges.map { batch.sentences($0) }
        guard compiles else {
            return Parallel.concurrentMap(shards) { shard in
                let (value, gradients) = valueAndGradient(of: model, attaching: parts[shard]) {
                    loss($0, $1, context(shard))
                }
                return (value.scalar, gradients)
            }
        }
        let started = Date()
        let traced = Parallel.concurrentMap(shards) { shard in
            CompiledStep.trace(model: model, batch: parts[shard], context: context(shard), loss: loss)
        }
        programs[programKey] = traced
        compilations += 1
        compilationSeconds += Date().timeIntervalSince(started)
        return Parallel.concurrentMap(shards) { traced[$0].replay(model: model, rowsOf: batch, replica: $0, key: key) }
    }

    /// Runs `body` on the whole batch (inference needs no gradient reduction).
    public func run<Model: ParameterContainer, Batch: DeviceBatch, Result>(
        model: Model, batch: Batch, _ body: (Model, Batch, ForwardContext) -> Result
    ) throws -> Result {
        try check(batch)
        return body(model, batch, .inference(plan: capabilities.executionPlan))
    }

    /// Runs `body` on each replica's sentences concurrently; results in shard order.
    public func runSharded<Model: ParameterContainer, Batch: DeviceBatch, Part: Sendable>(
        model: Model, batch: Batch, _ body: @escaping @Sendable (Model, Batch, ForwardContext) -> Part
    ) throws -> [Part] {
        try check(batch)
        let parts = shardRanges(of: batch).map { batch.sentences($0) }
        let context = ForwardContext.inference(plan: capabilities.executionPlan)
        return Parallel.concurrentMap(shards) { body(model, parts[$0], context) }
    }
}
