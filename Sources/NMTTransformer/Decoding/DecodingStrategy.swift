import NMTLayers
import NMTTensor

/// One batch to decode, as every strategy receives it: the sources, the limits that
/// apply to any search, and how the device computes.
public struct DecodingRequest {
    /// Source ids [B, S], 0-padded, each sentence ending in EOS.
    public var inputs: IndexTensor
    /// Steps after which every sentence stops (S + the extra decode length).
    public var maximumLength: Int
    /// Per sentence, a lower step limit (``DecodingOptions/lengthLimit``), or nil.
    public var sentenceMaximumLengths: [Int]?
    /// No n-gram of this size repeats in an output (``DecodingOptions/noRepeatNgramSize``), or nil.
    public var noRepeatNgramSize: Int?
    /// Each row's position in the caller's input: random draws follow it, so a sentence
    /// decodes alike in any batch.
    public var sentenceIndices: [Int]
    /// How the device computes (its `ExecutionPlan`).
    public var plan: ExecutionPlan

    /// Sentences in the batch.
    public var batchSize: Int { inputs.shape[0] }

    /// Each sentence's step limit: its own where one is set, the batch's otherwise.
    public var limits: [Int] { sentenceMaximumLengths ?? Array(repeating: maximumLength, count: batchSize) }
}

/// A way of choosing output tokens: beam search, greedy decoding, sampling, or one of
/// your own. ``DecodingOptions/strategy`` holds one, and
/// ``Transformer/translate(_:options:sentenceIndices:plan:)`` hands it each batch.
///
/// To add a strategy, write a type in this folder that conforms (see
/// ``GreedyStrategy`` for the smallest one) and, to offer it on the command line, add
/// its flag to `DecodingFlags` in `Examples/Shared`.
public protocol DecodingStrategy: Sendable, CustomStringConvertible {
    /// Why the strategy's settings cannot be used, or nil when they can (checked before
    /// anything is sized from them).
    var problem: String? { get }

    /// Decodes `request` with `model`: per sentence, the ids after the start id (up to and
    /// including EOS, or cut at the sentence's limit) and a score.
    func decode(_ request: DecodingRequest, with model: Transformer) -> DecodedBatch

    /// Whether `other` is the same strategy with the same settings.
    func isEqual(to other: any DecodingStrategy) -> Bool
}

extension DecodingStrategy where Self: Equatable {
    /// Equal when `other` is of this type and its settings are equal.
    public func isEqual(to other: any DecodingStrategy) -> Bool { (other as? Self) == self }
}

extension DecodingStrategy where Self == BeamSearchStrategy {
    /// The reference's beam search with `beamSize` beams and length-normalization
    /// exponent `alpha` (defaults: ``BeamSearchStrategy/defaultBeamSize``,
    /// ``BeamSearchStrategy/defaultAlpha``).
    public static func beamSearch(
        beamSize: Int = BeamSearchStrategy.defaultBeamSize, alpha: Float = BeamSearchStrategy.defaultAlpha
    ) -> BeamSearchStrategy {
        BeamSearchStrategy(beamSize: beamSize, alpha: alpha)
    }
}

extension DecodingStrategy where Self == GreedyStrategy {
    /// The most probable token at every step.
    public static var greedy: GreedyStrategy { GreedyStrategy() }
}

extension DecodingStrategy where Self == SamplingStrategy {
    /// A token drawn at every step (see ``SamplingStrategy``).
    public static func sampling(_ settings: SamplingStrategy) -> SamplingStrategy { settings }
}
