import NMTLayers
import NMTTensor

/// What a device can and cannot do, and how it runs a model (its `ExecutionPlan`).
public struct DeviceCapabilities: Sendable, Equatable, Codable {
    /// Replicas a batch is split across (1 for the CPU device).
    public var shardCount: Int
    /// Whether every batch must have the device's one static shape.
    public var requiresStaticShapes: Bool
    /// How the device computes every forward pass (embedding lookup, padding removal); it
    /// hands the plan to the model in the `ForwardContext`.
    public var executionPlan: ExecutionPlan
    /// Whether host-side metrics (approximate BLEU, ROUGE) are computed during evaluation.
    public var hostMetrics: Bool
    /// The one batch shape [sentences, tokens] of a static-shape device (nil otherwise).
    public var staticBatchShape: [Int]?

    /// Creates a capability description.
    public init(
        shardCount: Int, requiresStaticShapes: Bool, executionPlan: ExecutionPlan, hostMetrics: Bool,
        staticBatchShape: [Int]? = nil
    ) {
        self.shardCount = shardCount
        self.requiresStaticShapes = requiresStaticShapes
        self.executionPlan = executionPlan
        self.hostMetrics = hostMetrics
        self.staticBatchShape = staticBatchShape
    }

    /// The CPU device: one replica, dynamic shapes, gather embedding, padding removal,
    /// every metric.
    public static let cpu = DeviceCapabilities(
        shardCount: 1, requiresStaticShapes: false, executionPlan: .dynamicShapes, hostMetrics: true)
}

/// Errors a device reports about what it is asked to run.
public enum DeviceError: Error, Equatable, CustomStringConvertible {
    /// The device cannot be set up as asked.
    case invalidConfiguration(String)
    /// A batch does not have the device's static shape.
    case batchShape(expected: [Int], actual: [Int])
    /// A batch's sentences do not divide across the shards.
    case indivisibleBatch(sentences: Int, shards: Int)

    /// A sentence that says what is wrong.
    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): return "invalid device configuration: \(reason)"
        case .batchShape(let expected, let actual):
            return "batch of shape \(actual) given to a static device that requires \(expected); use static batches"
        case .indivisibleBatch(let sentences, let shards):
            return "a batch of \(sentences) sentences does not divide across \(shards) shards"
        }
    }
}
