import NMTLayers
import NMTTensor

/// What a device can and cannot do; the trainer configures the model from it (the model
/// never imports the accelerator).
public struct DeviceCapabilities: Sendable, Equatable, Codable {
    /// Replicas a batch is split across (1 for the CPU device).
    public var shardCount: Int
    /// Whether every batch must have the device's one static shape.
    public var requiresStaticShapes: Bool
    /// The embedding lookup the device supports.
    public var embeddingMethod: EmbeddingMethod
    /// Whether the encoder FFN may drop padding rows (a dynamic shape).
    public var allowsPaddingRemoval: Bool
    /// Whether host-side metrics (approximate BLEU, ROUGE) are computed during evaluation.
    public var hostMetrics: Bool
    /// The one batch shape [sentences, tokens] of a static-shape device (nil otherwise).
    public var staticBatchShape: [Int]?

    /// Creates a capability description.
    public init(
        shardCount: Int, requiresStaticShapes: Bool, embeddingMethod: EmbeddingMethod, allowsPaddingRemoval: Bool,
        hostMetrics: Bool, staticBatchShape: [Int]? = nil
    ) {
        self.staticBatchShape = staticBatchShape
        self.shardCount = shardCount
        self.requiresStaticShapes = requiresStaticShapes
        self.embeddingMethod = embeddingMethod
        self.allowsPaddingRemoval = allowsPaddingRemoval
        self.hostMetrics = hostMetrics
    }

    /// The CPU device: one replica, dynamic shapes, gather embedding, padding removal,
    /// every metric.
    public static let cpu = DeviceCapabilities(
        shardCount: 1, requiresStaticShapes: false, embeddingMethod: .gather, allowsPaddingRemoval: true,
        hostMetrics: true)

    /// Checks that `model` can run on this device (models that do not describe their
    /// shape-dependent computations are accepted).
    ///
    /// - Throws: ``DeviceError/incompatibleModel(_:)`` as ``validate(embeddingMethod:paddingRemoval:)``.
    public func validate<Model: ParameterContainer>(_ model: Model) throws(DeviceError) {
        guard let described = model as? any ShapeDescribingModel else { return }
        try validate(embeddingMethod: described.embeddingMethod, paddingRemoval: described.usesPaddingRemoval)
    }

    /// Checks that a model configured with `embeddingMethod` and `paddingRemoval` can run
    /// on this device.
    ///
    /// - Throws: ``DeviceError/incompatibleModel(_:)`` naming the setting, its value and
    ///   what the device needs.
    public func validate(embeddingMethod requested: EmbeddingMethod, paddingRemoval: Bool) throws(DeviceError) {
        if requiresStaticShapes && requested != embeddingMethod {
            throw .incompatibleModel(
                "embedding method '\(requested.rawValue)' is not supported; this device requires "
                    + "'\(embeddingMethod.rawValue)' (static shapes)")
        }
        if paddingRemoval && !allowsPaddingRemoval {
            throw .incompatibleModel(
                "FFN padding removal changes shapes from batch to batch; this device requires it to be off")
        }
    }
}

/// Errors a device reports about what it is asked to run.
public enum DeviceError: Error, Equatable, CustomStringConvertible {
    /// The model's configuration does not fit the device.
    case incompatibleModel(String)
    /// The device cannot be set up as asked.
    case invalidConfiguration(String)
    /// A batch does not have the device's static shape.
    case batchShape(expected: [Int], actual: [Int])
    /// A batch's sentences do not divide across the shards.
    case indivisibleBatch(sentences: Int, shards: Int)

    /// A sentence that says what is wrong.
    public var description: String {
        switch self {
        case .incompatibleModel(let reason): return "model incompatible with device: \(reason)"
        case .invalidConfiguration(let reason): return "invalid device configuration: \(reason)"
        case .batchShape(let expected, let actual):
            return "batch of shape \(actual) given to a static device that requires \(expected); use static batches"
        case .indivisibleBatch(let sentences, let shards):
            return "a batch of \(sentences) sentences does not divide across \(shards) shards"
        }
    }
}
