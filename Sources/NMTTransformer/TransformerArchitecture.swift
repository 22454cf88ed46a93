import NMTLayers

/// The architecture choices that tell the reference's Transformer and Marian's (the
/// OPUS-MT models as `transformers`' `MarianMTModel` runs them) apart. A model directory
/// chooses them, never a device; ``TransformerConfiguration/architecture`` records them,
/// so a configuration file says everything a reader needs to rebuild the model.
///
/// Inside swift-nmt every model's ids put padding at 0 and EOS at 1, as the reference
/// does; a vocabulary with other ids (Marian's: EOS 0, padding last) is permuted when the
/// model is loaded (see `VocabularyPermutation` in NMTInterop), so the search, the loss and
/// the batching stay the same code for both families.
public struct TransformerArchitecture: Codable, Equatable, Sendable {
    /// Where the model comes from; only informative (the fields below decide).
    public enum Family: String, Codable, Sendable {
        /// TensorFlow's `official/transformer`.
        case reference
        /// Marian / OPUS-MT as `transformers`' `MarianMTModel`.
        case marian
    }

    /// Where each residual step normalizes.
    public enum Normalization: String, Codable, Sendable {
        /// `x + sublayer(norm(x))`, and a final norm after each stack (the reference).
        case preNorm
        /// `norm(x + sublayer(x))`, no final norm (Marian, BART).
        case postNorm
    }

    /// The activation between the feed-forward network's two layers (relu, swish, gelu).
    public typealias Activation = FeedForwardActivation

    /// Which sinusoidal position table is added to the embeddings (both put the sines in
    /// the first half of each vector and the cosines in the second).
    public enum PositionTable: String, Codable, Sendable {
        /// The reference's `get_position_encoding`: H/2 timescales from 1 to 10⁴, spaced
        /// log-uniformly with step ln(10⁴) / (H/2 − 1).
        case reference
        /// Marian's `MarianSinusoidalPositionalEmbedding`: frequency 10000^(−2k/H) for
        /// k < H/2, computed in double precision and rounded once.
        case marian
    }

    /// The family (informative).
    public var family: Family
    /// Pre- or post-norm residual steps.
    public var normalization: Normalization
    /// The feed-forward activation.
    public var activation: Activation
    /// Added to the variance in every layer normalization (1e-6 reference, 1e-5 Marian).
    public var layerNormEpsilon: Float
    /// Whether the attention projections (query, key, value, output) have biases.
    public var attentionBiases: Bool
    /// Whether embeddings are multiplied by √H (the reference always; Marian's
    /// `scale_embedding`).
    public var scalesEmbedding: Bool
    /// Whether id 0 (padding) embeds to exactly zero on input, and the decoder's first
    /// position therefore sees a zero vector (the reference). Otherwise the start id's row
    /// is used as it is (Marian, whose decoder starts from the padding id).
    public var zeroesPaddingEmbedding: Bool
    /// The position table.
    public var positionTable: PositionTable
    /// Positions the model was built for (Marian's `max_position_embeddings`); decoding
    /// never runs past it. Nil: unlimited (the reference computes positions on the fly).
    public var maximumPositions: Int?
    /// Source ids embed with their own table of this many rows; nil when the source and
    /// target share one table (the reference, and Marian's
    /// `share_encoder_decoder_embeddings`).
    public var sourceVocabularySize: Int?
    /// Whether the output projection is the target embedding (the reference; Marian's
    /// `tie_word_embeddings`) rather than a matrix of its own.
    public var tiesOutputProjection: Bool
    /// Whether a bias is added to the logits (Marian's `final_logits_bias`).
    public var outputBias: Bool

    /// Creates an architecture; every field is named, as no default suits both families.
    public init(
        family: Family, normalization: Normalization, activation: Activation, layerNormEpsilon: Float,
        attentionBiases: Bool, scalesEmbedding: Bool, zeroesPaddingEmbedding: Bool, positionTable: PositionTable,
        maximumPositions: Int?, sourceVocabularySize: Int?, tiesOutputProjection: Bool, outputBias: Bool
    ) {
        self.family = family
        self.normalization = normalization
        self.activation = activation
        self.layerNormEpsilon = layerNormEpsilon
        self.attentionBiases = attentionBiases
        self.scalesEmbedding = scalesEmbedding
        self.zeroesPaddingEmbedding = zeroesPaddingEmbedding
        self.positionTable = positionTable
        self.maximumPositions = maximumPositions
        self.sourceVocabularySize = sourceVocabularySize
        self.tiesOutputProjection = tiesOutputProjection
        self.outputBias = outputBias
    }

    /// TensorFlow's `official/transformer`: pre-norm, ReLU, epsilon 1e-6, no attention
    /// biases, one embedding scaled by √H with padding zeroed, shared with the output
    /// projection, no output bias.
    public static let reference = TransformerArchitecture(
        family: .reference, normalization: .preNorm, activation: .relu, layerNormEpsilon: 1e-6, attentionBiases: false,
        scalesEmbedding: true, zeroesPaddingEmbedding: true, positionTable: .reference, maximumPositions: nil,
        sourceVocabularySize: nil, tiesOutputProjection: true, outputBias: false)

    /// Problems with the fields, as (field, reason), checked by
    /// ``TransformerConfiguration/validate()``.
    func problems() -> [(String, String)] {
        var found: [(String, String)] = []
        if !(layerNormEpsilon > 0) { found.append(("architecture.layerNormEpsilon", "is \(layerNormEpsilon); must be positive")) }
        if let maximumPositions, maximumPositions < 2 {
            found.append(("architecture.maximumPositions", "is \(maximumPositions); must be at least 2"))
        }
        if let sourceVocabularySize, sourceVocabularySize < 2 {
            found.append(("architecture.sourceVocabularySize", "is \(sourceVocabularySize); must be at least 2"))
        }
        return found
    }
}
