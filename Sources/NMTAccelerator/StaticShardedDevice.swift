import Dispatch
import Foundation
import NMTLayers
import NMTTensor

/// The accelerator path of the reference (TPU-style), on CPU threads: every batch has one
/// static shape `[batchTokens / maxLength, maxLength]`, the model uses the one-hot matmul
/// embedding and no padding removal, and each batch is split across `shards` replicas
/// that run concurrently; their gradients are combined in a fixed shard order (results
/// never depend on thread timing) and one optimizer update follows.
///
/// Replicas' losses and gradients are weighted by their share of the batch's loss weight
/// (non-padding target tokens), and dropout masks depend on each example's global
/// position, so N shards compute the same mathematics as one device.
///
/// Like XLA, the device compiles once per static shape: the first step of a shape traces
/// each replica's forward and backward kernels into a ``CompiledStep`` program, and later
/// steps replay the programs with new inputs (see ``compilations``).
///
/// Parameters and optimizer moments stay in device memory during a
/// ``trainSteps(model:optimizer:batches:firstStep:learningRate:randomKey:loss:)`` loop, and
/// the host receives copies when the loop ends: a replayed step allocates no tensor memory
/// (``NMTTensor/BufferPool/allocationCounts`` counts it).
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
    /// Wall time of the compiling steps (each also trains), in seconds.
    public private(set) var compilationSeconds = 0.0
    /// Replica programs by the shapes of a replica's batch.
    private var programs: [[[Int]]: [CompiledStep]] = [:]
    /// Parameters, moments and gradients in device memory (made by the first loop).
    private var resident: ResidentState?

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
            shardCount: shards, requiresStaticShapes: true, embeddingMethod: .matmul, allowsPaddingRemoval: false,
            hostMetrics: false, staticBatchShape: batchShape)
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

    /// Runs one step per batch, each split across the replicas (see the type's description).
    ///
    /// Parameters and Adam moments live in the device's memory during the loop
    /// (``ResidentState``): each step combines the replicas' gradients and updates them in
    /// place, and `model` and `optimizer` receive the results when the loop ends.
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch>(
        model: inout Model, optimizer: inout Adam, batches: [Batch], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor
    ) throws -> [StepSummary] {
        for batch in batches { try check(batch) }
        try capabilities.validate(model)
        guard !batches.isEmpty else { return [] }
        if resident.map({ !$0.fits(model) }) ?? true {
            // Another model: new device memory, and programs traced over the old one are void.
            resident = ResidentState(for: model)
            programs = [:]
        }
        let state = resident!
        let deviceModel = state.load(model: model, optimizer: optimizer)
        var summaries: [StepSummary] = []
        for (offset, batch) in batches.enumerated() {
            let step = firstStep + offset
            let perShard = batch.sentenceCount / shards
            let ranges = (0..<shards).map { ($0 * perShard)..<(($0 + 1) * perShard) }
            let results = runReplicas(
                model: deviceModel, batch: batch, ranges: ranges, key: randomKey.split(UInt64(step)), loss: loss)
            // Combine in shard order, weighted by each shard's share of the loss weight.
            let weights = ranges.map { batch.lossWeight(ofSentences: $0) }
            let total = weights.reduce(0, +)
            let shares = weights.map { total > 0 ? $0 / total : 1 / Float(shards) }
            var combinedLoss: Float = 0
            for (result, share) in zip(results, shares) { combinedLoss += result.loss * share }
            state.combine(results.map(\.gradients), shares: shares)
            let rate = learningRate(step)
            state.applyAdam(&optimizer, learningRate: rate)
            summaries.append(StepSummary(step: step, learningRate: rate, loss: combinedLoss, gradientNorm: nil))
        }
        state.store(into: &model, optimizer: &optimizer)
        return summaries
    }

    /// Forward and backward of every replica, concurrently: traced when the replica shape
    /// is new, replayed when it was compiled, eager when the device does not compile.
    private func runReplicas<Model: ParameterContainer, Batch: DeviceBatch>(
        model: Model, batch: Batch, ranges: [Range<Int>], key: RandomKey, loss: (Model, Batch, ForwardContext) -> Tensor
    ) -> [(loss: Float, gradients: ParameterGradients)] {
        let replicaShapes = batch.shapes.map { [$0[0] / shards] + $0.dropFirst() }
        var stepPrograms: [CompiledStep]?
        var isCompiling = false
        if compiles {
            if let existing = programs[replicaShapes] {
                stepPrograms = existing
            } else {
                stepPrograms = (0..<shards).map { _ in CompiledStep() }
                programs[replicaShapes] = stepPrograms
                isCompiling = true
            }
        }
        // Replays copy a replica's rows straight from the batch; only eager and tracing
        // steps need the replicas' batches as values.
        let parts = stepPrograms != nil && !isCompiling ? [] : ranges.map { batch.sentences($0) }
        let results = UnsafeMutableBufferPointer<(loss: Float, gradients: ParameterGradients)?>.allocate(capacity: shards)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let compileStart = Date()
        withoutActuallyEscaping(loss) { loss in
            let shared = SharedStep(
                model: model, batch: batch, parts: parts, results: results, loss: loss, key: key,
                perShard: ranges[0].count, programs: stepPrograms, isCompiling: isCompiling)
            // The work is wrapped before it crosses into the concurrent closure, which then
            // captures only the (unchecked) Sendable wrapper.
            let work = UncheckedWork { shard in shared.run(shard: shard) }
            DispatchQueue.concurrentPerform(iterations: shards) { shard in work.body(shard) }
        }
        if isCompiling {
            compilations += 1
            compilationSeconds += Date().timeIntervalSince(compileStart)
        }
        return results.map { $0! }
    }

    /// Runs `body` on the whole batch (inference needs no gradient reduction).
    public func run<Model: ParameterContainer, Batch: DeviceBatch, Result>(
        model: Model, batch: Batch, _ body: (Model, Batch) -> Result
    ) throws -> Result {
        try check(batch)
        try capabilities.validate(model)
        return body(model, batch)
    }

    /// Runs `body` on each replica's sentences concurrently; results in shard order.
    public func runSharded<Model: ParameterContainer, Batch: DeviceBatch, Part>(
        model: Model, batch: Batch, _ body: (Model, Batch) -> Part
    ) throws -> [Part] {
        try check(batch)
        try capabilities.validate(model)
        let perShard = batch.sentenceCount / shards
        let parts = (0..<shards).map { batch.sentences(($0 * perShard)..<(($0 + 1) * perShard)) }
        let results = UnsafeMutableBufferPointer<Part?>.allocate(capacity: shards)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        withoutActuallyEscaping(body) { body in
            let work = UncheckedWork { shard in results[shard] = body(model, parts[shard]) }
            DispatchQueue.concurrentPerform(iterations: shards) { shard in work.body(shard) }
        }
        return results.map { $0! }
    }
}

/// What the replicas of one step share: read-only inputs and one result slot each.
private struct SharedStep<Model, Batch>: @unchecked Sendable {
    let model: Model
    /// The whole batch (replays copy their rows from it).
    let batch: Batch
    /// Each replica's sentences (eager and tracing steps only).
    let parts: [Batch]
    let results: UnsafeMutableBufferPointer<(loss: Float, gradients: ParameterGradients)?>
    let loss: (Model, Batch, ForwardContext) -> Tensor
    let key: RandomKey
    let perShard: Int
    /// The replicas' programs when compiling or replaying; nil runs eagerly.
    let programs: [CompiledStep]?
    let isCompiling: Bool
}

extension SharedStep where Model: ParameterContainer, Batch: DeviceBatch {
    /// Forward and backward of one replica (eager, traced or replayed); dropout keyed by
    /// the examples' global positions.
    func run(shard: Int) {
        if let programs, !isCompiling {
            // The traced key buffer takes the step's key: no new context, nothing allocated.
            results[shard] = programs[shard].replay(model: model, rowsOf: batch, replica: shard, key: key)
            return
        }
        let context = ForwardContext.training(key: key, firstExampleIndex: shard * perShard)
        if let programs {
            results[shard] = programs[shard].trace(model: model, batch: parts[shard], context: context, loss: loss)
            return
        }
        let (value, gradients) = valueAndGradient(of: model, attaching: parts[shard]) { loss($0, $1, context) }
        results[shard] = (value.scalar, gradients)
    }
}

/// A closure handed to concurrent replicas, each of which touches only its own slot.
private struct UncheckedWork: @unchecked Sendable {
    let body: (Int) -> Void
}
