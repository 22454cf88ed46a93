import NMTLayers

/// The hyperparameters of a Transformer, with the reference parameter sets as presets.
///
/// `vocabularySize` is not part of any preset: it comes from the vocabulary actually
/// loaded (``withVocabularySize(_:)``), so a model and its vocabulary cannot disagree.
/// Create custom configurations with ``init(vocabularySize:hiddenSize:layerCount:headCount:filterSize:postprocessDropout:attentionDropout:reluDropout:labelSmoothing:extraDecodeLength:beamSize:alpha:)``
/// and check them with ``validate()``; the model validates before building.
///
/// A configuration describes the model, never the device it runs on: how a device
/// computes (embedding lookup, padding removal) is an `ExecutionPlan` it
/// passes in the forward context. Checkpoints written before that change hold two more
/// keys, `embeddingMethod` and `allowsPaddingRemoval`; decoding ignores them.
public struct TransformerConfiguration: Codable, Equatable, Sendable {
    /// V: ids the embedding and output layer cover (0 until set from a vocabulary).
    public var vocabularySize: Int
    /// H (512 base, 1024 big, 32 tiny).
    public var hiddenSize: Int
    /// Layers in the encoder stack, and in the decoder unless ``decoderLayerCount`` says
    /// otherwise (6 in every preset).
    public var layerCount: Int
    /// Layers in the decoder stack when it differs from the encoder's (some Marian
    /// models); nil: ``layerCount``.
    public var decoderLayerCount: Int?
    /// N: attention heads (8 base, 16 big, 4 tiny).
    public var headCount: Int
    /// F: inner size of the feed-forward networks (2048 base, 4096 big, 256 tiny).
    public var filterSize: Int
    /// Dropout after each sublayer and on the embedded inputs (0.1).
    public var postprocessDropout: Float
    /// Dropout on attention weights (0.1).
    public var attentionDropout: Float
    /// Dropout between the feed-forward layers (0.1).
    public var reluDropout: Float
    /// Label smoothing of the training loss (0.1).
    public var labelSmoothing: Float
    /// Word dropout: the probability that training drops a token's whole embedding, on
    /// the source and on the decoder's (shifted) target inputs alike, kept ones scaled by
    /// 1 / (1 − rate) (0: off, as in the reference; Sennrich & Zhang 2019 use it for small
    /// corpora). Configuration files without it read as 0.
    public var wordDropout: Float = 0
    /// Decoding may run this many tokens past the input length (50).
    public var extraDecodeLength: Int
    /// Beams of the beam search (``BeamSearchStrategy/defaultBeamSize``).
    public var beamSize: Int
    /// Length-normalization exponent of the beam search (``BeamSearchStrategy/defaultAlpha``).
    public var alpha: Float
    /// Norm placement, activation, embeddings and positions: ``TransformerArchitecture/reference``
    /// unless the model was loaded from another family. Configuration files written
    /// before this field existed read as the reference.
    public var architecture: TransformerArchitecture = .reference

    /// Layers in the decoder stack.
    public var decoderLayers: Int { decoderLayerCount ?? layerCount }

    /// The decoding the reference's model does when it predicts: beam search with
    /// ``beamSize`` and ``alpha``, up to the source width + ``extraDecodeLength`` tokens.
    public var decodingOptions: DecodingOptions {
        var options = DecodingOptions(strategy: BeamSearchStrategy(beamSize: beamSize, alpha: alpha))
        options.extraDecodeLength = extraDecodeLength
        return options
    }

    /// Creates a configuration; defaults are the reference base values.
    public init(
        vocabularySize: Int = 0, hiddenSize: Int = 512, layerCount: Int = 6, headCount: Int = 8, filterSize: Int = 2048,
        postprocessDropout: Float = 0.1, attentionDropout: Float = 0.1, reluDropout: Float = 0.1,
        labelSmoothing: Float = 0.1, extraDecodeLength: Int = 50, beamSize: Int = BeamSearchStrategy.defaultBeamSize,
        alpha: Float = BeamSearchStrategy.defaultAlpha
    ) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.filterSize = filterSize
        self.postprocessDropout = postprocessDropout
        self.attentionDropout = attentionDropout
        self.reluDropout = reluDropout
        self.labelSmoothing = labelSmoothing
        self.extraDecodeLength = extraDecodeLength
        self.beamSize = beamSize
        self.alpha = alpha
    }

    /// The reference `BASE_PARAMS`: 512 hidden, 6+6 layers, 8 heads, filter 2048.
    public static let base = TransformerConfiguration()
    /// The reference `BIG_PARAMS`: 1024 hidden, 16 heads, filter 4096.
    public static let big = TransformerConfiguration(hiddenSize: 1024, headCount: 16, filterSize: 4096)
    /// The reference `TINY_PARAMS`: 32 hidden, 4 heads, filter 256 (6+6 layers).
    public static let tiny = TransformerConfiguration(hiddenSize: 32, headCount: 4, filterSize: 256)

    /// The preset of a reference parameter-set name (`tiny`, `base`, `big`), or nil.
    public static func preset(named name: String) -> TransformerConfiguration? {
        ["tiny": tiny, "base": base, "big": big][name]
    }

    /// This configuration with V taken from a vocabulary.
    public func withVocabularySize(_ size: Int) -> TransformerConfiguration {
        var copy = self
        copy.vocabularySize = size
        return copy
    }

    /// Checks every field.
    ///
    /// - Throws: ``ConfigurationError/invalid(field:reason:)`` naming the first bad field.
    public func validate() throws(ConfigurationError) {
        func require(_ condition: Bool, _ field: String, _ reason: String) throws(ConfigurationError) {
            if !condition { throw .invalid(field: field, reason: reason) }
        }
        try require(vocabularySize > 1, "vocabularySize", "is \(vocabularySize); set it from the vocabulary (at least <pad> and <EOS>)")
        try require(hiddenSize >= 4 && hiddenSize % 2 == 0, "hiddenSize", "is \(hiddenSize); must be even and at least 4 (positional encoding)")
        try require(layerCount > 0, "layerCount", "is \(layerCount); must be positive")
        try require(decoderLayers > 0, "decoderLayerCount", "is \(decoderLayers); must be positive")
        try require(headCount > 0, "headCount", "is \(headCount); must be positive")
        try require(
            hiddenSize % headCount == 0, "headCount", "\(headCount) heads do not divide hiddenSize \(hiddenSize)")
        try require(filterSize > 0, "filterSize", "is \(filterSize); must be positive")
        for (field, rate) in [
            ("postprocessDropout", postprocessDropout), ("attentionDropout", attentionDropout), ("reluDropout", reluDropout),
            ("wordDropout", wordDropout),
        ] {
            try require(rate >= 0 && rate < 1, field, "is \(rate); must be in [0, 1)")
        }
        try require(labelSmoothing >= 0 && labelSmoothing < 1, "labelSmoothing", "is \(labelSmoothing); must be in [0, 1)")
        try require(extraDecodeLength >= 0, "extraDecodeLength", "is \(extraDecodeLength); must not be negative")
        try require(beamSize > 0, "beamSize", "is \(beamSize); must be positive")
        try require(alpha >= 0, "alpha", "is \(alpha); must not be negative")
        if let (field, reason) = architecture.problems().first { throw .invalid(field: field, reason: reason) }
    }

    /// The version of the configuration file this library writes: 2 records the
    /// architecture, the position table's first position and the special ids, so that a
    /// reader outside swift-nmt needs no guess (1: the reference's model, implied).
    public static let formatVersion = 2

    private enum CodingKeys: String, CodingKey {
        case formatVersion, vocabularySize, hiddenSize, layerCount, decoderLayerCount, headCount, filterSize
        case postprocessDropout, attentionDropout, reluDropout, labelSmoothing, wordDropout, extraDecodeLength, beamSize, alpha
        case architecture, firstPosition, specialIDs
    }

    /// The ids every swift-nmt model uses, written into configuration files for readers
    /// outside swift-nmt (a vocabulary with other ids is permuted when loaded).
    private struct SpecialIDs: Codable, Equatable {
        var padding = 0, endOfSentence = 1, decoderStart = 0
    }

    /// Writes every field, the format version, the position table's first position (0:
    /// the first token is at position 0, in both families) and the special ids.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.formatVersion, forKey: .formatVersion)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(layerCount, forKey: .layerCount)
        try c.encodeIfPresent(decoderLayerCount, forKey: .decoderLayerCount)
        try c.encode(headCount, forKey: .headCount)
        try c.encode(filterSize, forKey: .filterSize)
        try c.encode(postprocessDropout, forKey: .postprocessDropout)
        try c.encode(attentionDropout, forKey: .attentionDropout)
        try c.encode(reluDropout, forKey: .reluDropout)
        try c.encode(labelSmoothing, forKey: .labelSmoothing)
        // Written only when used, so files of models without it stay as they were.
        if wordDropout != 0 { try c.encode(wordDropout, forKey: .wordDropout) }
        try c.encode(extraDecodeLength, forKey: .extraDecodeLength)
        try c.encode(beamSize, forKey: .beamSize)
        try c.encode(alpha, forKey: .alpha)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(0, forKey: .firstPosition)
        try c.encode(SpecialIDs(), forKey: .specialIDs)
    }

    /// Reads a configuration; `decoderLayerCount`, `wordDropout` and `architecture` may be
    /// absent (files written before they existed describe the reference's model).
    ///
    /// - Throws: `DecodingError` for a malformed file, or one written by a newer version
    ///   of this library or describing positions or ids swift-nmt does not use.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decodeIfPresent(Int.self, forKey: .formatVersion) ?? 1
        func refuse(_ key: CodingKeys, _ reason: String) -> DecodingError {
            .dataCorruptedError(forKey: key, in: c, debugDescription: reason)
        }
        guard version <= Self.formatVersion else {
            throw refuse(.formatVersion, "format version \(version) is newer than this swift-nmt's \(Self.formatVersion); update swift-nmt")
        }
        if let first = try c.decodeIfPresent(Int.self, forKey: .firstPosition), first != 0 {
            throw refuse(.firstPosition, "firstPosition is \(first); swift-nmt's models start positions at 0")
        }
        if let ids = try c.decodeIfPresent(SpecialIDs.self, forKey: .specialIDs), ids != SpecialIDs() {
            throw refuse(.specialIDs, "special ids \(ids) differ from swift-nmt's (padding 0, EOS 1, decoder start 0)")
        }
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        layerCount = try c.decode(Int.self, forKey: .layerCount)
        decoderLayerCount = try c.decodeIfPresent(Int.self, forKey: .decoderLayerCount)
        headCount = try c.decode(Int.self, forKey: .headCount)
        filterSize = try c.decode(Int.self, forKey: .filterSize)
        postprocessDropout = try c.decode(Float.self, forKey: .postprocessDropout)
        attentionDropout = try c.decode(Float.self, forKey: .attentionDropout)
        reluDropout = try c.decode(Float.self, forKey: .reluDropout)
        labelSmoothing = try c.decode(Float.self, forKey: .labelSmoothing)
        wordDropout = try c.decodeIfPresent(Float.self, forKey: .wordDropout) ?? 0
        extraDecodeLength = try c.decode(Int.self, forKey: .extraDecodeLength)
        beamSize = try c.decode(Int.self, forKey: .beamSize)
        alpha = try c.decode(Float.self, forKey: .alpha)
        architecture = try c.decodeIfPresent(TransformerArchitecture.self, forKey: .architecture) ?? .reference
    }
}

/// A configuration that cannot build a model.
public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    /// `field` has a value the model cannot use.
    case invalid(field: String, reason: String)

    /// A sentence naming the field and what is wrong with it.
    public var description: String {
        switch self {
        case .invalid(let field, let reason): return "invalid Transformer configuration: \(field) \(reason)"
        }
    }
}
