import Dispatch
import NMTLayers
import NMTTensor

/// Data parallelism across processes: every process of a ``ProcessGroup`` is handed the
/// same global batches, trains its local device (``CPUDevice`` or
/// ``StaticShardedDevice``) on its own contiguous part of each, and the group sums the
/// gradients, weighted by each part's share of the non-padding target tokens, before
/// every update. N processes with a global batch of B tokens therefore train what one
/// process with B tokens would, and every process applies identical updates.
///
/// Process r takes sentences `r·n/N ..< (r+1)·n/N` of a batch of n sentences; dropout keys
/// each example by its global position, so masks do not depend on N. Static batches must
/// divide across the processes (and then across each process's shards), which the
/// device checks.
///
/// Inference (evaluation, translation) runs whole batches on `inference`, a device of the
/// global batch shape, on each process that asks.
public final class DataParallelDevice: Device {
    /// The device this process trains its parts on.
    public let local: any DataParallelReplica
    /// The device that runs inference on whole (global) batches.
    public let inference: any Device
    /// The processes training together.
    public let group: ProcessGroup
    /// The local device's, with the shards of all processes and the global batch shape.
    public let capabilities: DeviceCapabilities
    /// Times the gradient exchanges the local device makes through it.
    private let exchangeClock: ExchangeClock

    /// Seconds spent summing gradients across the group since the device was made: the
    /// transfer, and waiting for processes that were slower with their part.
    public var exchangeSeconds: Double { exchangeClock.seconds }
    /// Gradient exchanges (steps) since the device was made.
    public var exchanges: Int { exchangeClock.count }

    /// Creates the device.
    ///
    /// - Parameters:
    ///   - local: the device of this process's part; for static shapes, a device of the
    ///     part's shape (the global batch's sentences / `group.size`).
    ///   - inference: a device for whole batches: for static shapes, one of the global
    ///     shape; nil uses `local` (right for dynamic shapes).
    ///   - group: the processes.
    /// - Throws: ``DeviceError/invalidConfiguration(_:)`` when `inference` does not run
    ///   the global shape of `local`'s parts.
    public init(local: any DataParallelReplica, inference: (any Device)? = nil, group: ProcessGroup) throws(DeviceError) {
        self.local = local
        self.inference = inference ?? local
        self.group = group
        exchangeClock = ExchangeClock(group)
        var capabilities = local.capabilities
        capabilities.shardCount *= group.size
        if let part = local.capabilities.staticBatchShape {
            let global = [part[0] * group.size] + part.dropFirst()
            guard inference?.capabilities.staticBatchShape == global else {
                throw .invalidConfiguration(
                    "\(group.size) processes with static parts of shape \(part) need an inference device of the global shape \(global), "
                        + "not \(inference?.capabilities.staticBatchShape.map { "\($0)" } ?? "none")")
            }
            capabilities.staticBatchShape = global
        }
        self.capabilities = capabilities
    }

    /// This process's part of a global batch.
    ///
    /// - Throws: ``DeviceError/indivisibleBatch(sentences:shards:)`` when a static batch
    ///   does not divide across the processes.
    public func part<Batch: DeviceBatch>(of batch: Batch) throws(DeviceError) -> BatchPart<Batch> {
        try parts(of: [batch])[0]
    }

    /// This process's part of each micro-batch of one step: shares are of the whole
    /// step's loss weight, and each micro-batch's examples are numbered after those of
    /// the micro-batches before it (as ``CPUDevice`` numbers them when it accumulates).
    ///
    /// - Throws: ``DeviceError/indivisibleBatch(sentences:shards:)`` when a static batch
    ///   does not divide across the processes.
    public func parts<Batch: DeviceBatch>(of microBatches: [Batch]) throws(DeviceError) -> [BatchPart<Batch>] {
        let total = microBatches.reduce(Float(0)) { $0 + $1.lossWeight }
        let allSentences = microBatches.reduce(0) { $0 + $1.sentenceCount }
        var parts: [BatchPart<Batch>] = []
        var offset = 0
        for batch in microBatches {
            let sentences = batch.sentenceCount
            if capabilities.requiresStaticShapes, sentences % group.size != 0 {
                throw .indivisibleBatch(sentences: sentences, shards: group.size)
            }
            let range = (group.rank * sentences / group.size)..<((group.rank + 1) * sentences / group.size)
            let share = total > 0
                ? batch.lossWeight(ofSentences: range) / total : Float(range.count) / Float(max(allSentences, 1))
            parts.append(BatchPart(batch: batch.sentences(range), firstExampleIndex: offset + range.lowerBound, share: share))
            offset += sentences
        }
        return parts
    }

    /// Trains this process's part of each batch on the local device; the group sums the
    /// gradients before each update (see the type's description).
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, batches: [Batch], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor
    ) throws -> [StepSummary] {
        try trainSteps(
            model: &model, optimizer: &optimizer, microBatches: batches.map { [$0] }, firstStep: firstStep,
            learningRate: learningRate, randomKey: randomKey, loss: loss)
    }

    /// Trains this process's part of every micro-batch of each step and updates once per
    /// step (gradient accumulation across processes: N processes with K micro-batches of B
    /// tokens train what one process accumulating K batches of B tokens trains). The
    /// static device refuses groups of more than one.
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, microBatches: [[Batch]], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor
    ) throws -> [StepSummary] {
        let stepParts = try microBatches.map { group throws(DeviceError) in try self.parts(of: group) }
        return try local.trainSteps(
            model: &model, optimizer: &optimizer, parts: stepParts, firstStep: firstStep, learningRate: learningRate,
            randomKey: randomKey, loss: loss, group: exchangeClock)
    }

    /// Runs `body` on the whole batch on the inference device.
    public func run<Model: ParameterContainer, Batch: DeviceBatch, Result>(
        model: Model, batch: Batch, _ body: (Model, Batch, ForwardContext) -> Result
    ) throws -> Result {
        try inference.run(model: model, batch: batch, body)
    }

    /// Runs `body` on the inference device's replicas.
    public func runSharded<Model: ParameterContainer, Batch: DeviceBatch, Part>(
        model: Model, batch: Batch, _ body: (Model, Batch, ForwardContext) -> Part
    ) throws -> [Part] {
        try inference.runSharded(model: model, batch: batch, body)
    }

    /// The inference device's.
    public var acceptsConcurrentInference: Bool { inference.acceptsConcurrentInference }

    /// The group.
    public var processGroup: ProcessGroup? { group }
}

/// A process group that times its sums (the gradient exchanges) and passes every call on.
private final class ExchangeClock: ProcessGroup {
    let group: ProcessGroup
    private(set) var seconds = 0.0
    private(set) var count = 0

    init(_ group: ProcessGroup) { self.group = group }

    var rank: Int { group.rank }
    var size: Int { group.size }

    func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            count += 1
        }
        try group.sum(values)
    }

    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws { try group.broadcast(bytes, from: root) }
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { try group.allGather(bytes) }
}
