import Foundation
import NMTData
import NMTLayers
import NMTTransformer

/// What a checkpoint records besides the tensors (`manifest.json`).
///
/// Manifests carry a ``formatVersion``: those without one are version 1 (before the
/// optimizer was recorded; their optimizer is Adam), and a version newer than this
/// library's is refused rather than misread.
public struct CheckpointManifest: Codable, Equatable, Sendable {
    /// The format of manifests written before formats were numbered (no optimizer
    /// recorded: Adam).
    public static let unnumberedFormatVersion = 1
    /// The manifest format this library writes (2: the optimizer is recorded).
    public static let currentFormatVersion = 2
    /// The manifest format the checkpoint was written in.
    public var formatVersion: Int
    /// The model's configuration.
    public var configuration: TransformerConfiguration
    /// CRC-32C (hex) of the vocabulary file the model was trained with.
    public var vocabularyHash: String
    /// Updates applied so far (the next update's global step).
    public var step: Int
    /// The run's random seed (dropout of step s uses its key split by s).
    public var seed: UInt64
    /// Where the training data iterator stands.
    public var datasetPosition: DatasetPosition
    /// Which optimizer the state in ``optimizerFile`` belongs to.
    public var optimizer: OptimizerKind
    /// The file holding the optimizer state, relative to the checkpoint.
    public var optimizerFile: String
    /// For an average of checkpoints (``Checkpoint/average(_:into:)``), the steps
    /// averaged, oldest first; nil for a checkpoint written by training.
    public var averagedSteps: [Int]?
    /// The decay of the moving average of the weights kept beside them
    /// (``ExponentialMovingAverage``, in ``ExponentialMovingAverage/fileName``); nil when
    /// the run keeps none.
    public var emaDecay: Float?
    /// CRC-32C (hex) of each file of the checkpoint beside the manifest, by file name;
    /// checked whenever the checkpoint is loaded, so that a flipped bit in a weights file is
    /// refused instead of averaged or translated with. Nil in checkpoints written before
    /// checksums were recorded (they load unchecked).
    public var fileChecksums: [String: String]?

    /// Creates a manifest of the current format.
    public init(
        configuration: TransformerConfiguration, vocabularyHash: String, step: Int, seed: UInt64,
        datasetPosition: DatasetPosition, optimizer: OptimizerKind = .adam,
        optimizerFile: String = Checkpoint.optimizerFileName
    ) {
        formatVersion = Self.currentFormatVersion
        self.optimizer = optimizer
        self.configuration = configuration
        self.vocabularyHash = vocabularyHash
        self.step = step
        self.seed = seed
        self.datasetPosition = datasetPosition
        self.optimizerFile = optimizerFile
    }
}

extension CheckpointManifest {
    private enum CodingKeys: String, CodingKey {
        case formatVersion, configuration, vocabularyHash, step, seed, datasetPosition, optimizer, optimizerFile, averagedSteps, emaDecay,
            fileChecksums
    }

    /// Decodes a manifest of any known format (see the type's description).
    ///
    /// - Throws: `DecodingError` for a malformed manifest, or ``CheckpointError/unsupportedFormat(version:supported:)``
    ///   for one newer than this library.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try container.decodeIfPresent(Int.self, forKey: .formatVersion) ?? Self.unnumberedFormatVersion
        guard formatVersion <= Self.currentFormatVersion else {
            throw CheckpointError.unsupportedFormat(version: formatVersion, supported: Self.currentFormatVersion)
        }
        configuration = try container.decode(TransformerConfiguration.self, forKey: .configuration)
        vocabularyHash = try container.decode(String.self, forKey: .vocabularyHash)
        step = try container.decode(Int.self, forKey: .step)
        seed = try container.decode(UInt64.self, forKey: .seed)
        datasetPosition = try container.decode(DatasetPosition.self, forKey: .datasetPosition)
        optimizer = try container.decodeIfPresent(OptimizerKind.self, forKey: .optimizer) ?? .adam
        // Absent in a manifest edited to ship the weights alone: the usual name (the file's
        // absence is what says there is no state).
        optimizerFile = try container.decodeIfPresent(String.self, forKey: .optimizerFile) ?? Checkpoint.optimizerFileName
        averagedSteps = try container.decodeIfPresent([Int].self, forKey: .averagedSteps)
        emaDecay = try container.decodeIfPresent(Float.self, forKey: .emaDecay)
        fileChecksums = try container.decodeIfPresent([String: String].self, forKey: .fileChecksums)
    }
}
