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
    public let local: any Device
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
    public init(local: any Device, inference: (any Device)? = nil, group: ProcessGroup) throws(DeviceError) {
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

    /// This process's part of each micro-batch of one step (see
    /// ``BatchPart/parts(of:rank:size:evenSplit:)``).
    ///
    /// - Throws: ``DeviceError/indivisibleBatch(sentences:shards:)`` when a static batch
    ///   does not divide across the processes.
    public func parts<Batch: DeviceBatch>(of microBatches: [Batch]) throws(DeviceError) -> [BatchPart<Batch>] {
        try BatchPart.parts(
            of: microBatches, rank: group.rank, size: group.size, evenSplit: capabilities.requiresStaticShapes)
    }

    /// Trains this process's part of every micro-batch of each step on the local device,
    /// which sums the gradients across the group before each update (N processes with K
    /// micro-batches of B tokens train what one process accumulating K batches of B tokens
    /// trains).
    ///
    /// - Throws: ``DeviceError/invalidConfiguration(_:)`` when the request names another
    ///   group of several processes; the local device's errors.
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, _ request: TrainingRequest<Model, Batch>
    ) throws -> [StepSummary] {
        guard request.group.size == 1 || request.group === group else {
            throw DeviceError.invalidConfiguration(
                "a data-parallel device trains with its own group of \(group.size) processes, not the request's \(request.group.size)")
        }
        var local = request
        local.group = exchangeClock
        return try self.local.trainSteps(model: &model, optimizer: &optimizer, local)
    }

    /// Runs `body` on the whole batch on the inference device.
    public func run<Model: ParameterContainer, Batch: DeviceBatch, Result>(
        model: Model, batch: Batch, _ body: (Model, Batch, ForwardContext) -> Result
    ) throws -> Result {
        try inference.run(model: model, batch: batch, body)
    }

    /// Runs `body` on the inference device's replicas.
    public func runSharded<Model: ParameterContainer, Batch: DeviceBatch, Part: Sendable>(
        model: Model, batch: Batch, _ body: @escaping @Sendable (Model, Batch, ForwardContext) -> Part
    ) throws -> [Part] {
        try inference.runSharded(model: model, batch: batch, body)
    }

    /// The inference device's.
    public var acceptsConcurrentInference: Bool { inference.acceptsConcurrentInference }

    /// The group.
    public var processGroup: any ProcessGroup { group }
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
