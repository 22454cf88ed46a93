// The decoding flags of nmt-translate and nmt-serve.
import ArgumentParser
import NMT

/// `--beam`, `--alpha`, `--greedy`, `--sample` with its settings, `--extra-length`, the
/// length limit and n-gram blocking: one ``NMTTransformer/DecodingOptions`` value, with
/// the library's defaults and checks.
///
/// A new decoding strategy appears on the command line by adding its flag here and one
/// line to ``strategy``.
public struct DecodingFlags: ParsableArguments {
    /// Beams of the beam search (nil: the model's default).
    @Option(help: "Beams of the beam search (default: 4; a Marian model's generation_config num_beams).")
    public var beam: Int?
    /// Length-normalization exponent of the beam search (nil: the model's default).
    @Option(help: "Length normalization exponent of the beam search (default 0.6; for a Marian model, transformers' length_penalty, default from its generation_config).")
    public var alpha: Float?
    /// Greedy decoding instead of beam search.
    @Flag(help: "Greedy decoding instead of beam search (generate()'s greedy search for a Marian model).") public var greedy = false
    /// Sampling instead of beam search.
    @Flag(help: "Sample every token instead of beam search (see --temperature, --top-k, --top-p, --seed).") public var sample = false
    /// Sampling temperature.
    @Option(help: "Sampling temperature.") public var temperature: Float = SamplingStrategy().temperature
    /// Sample among the k most probable tokens only.
    @Option(help: "Sample among the k most probable tokens only.") public var topK: Int?
    /// Sample among the most probable tokens of total probability p only.
    @Option(help: "Sample among the most probable tokens of total probability p only (nucleus).") public var topP: Float?
    /// Sampling seed.
    @Option(help: "Sampling seed.") public var seed: UInt64 = SamplingStrategy().seed
    /// Tokens decoded past a batch's padded input width.
    @Option(help: "Decode up to a batch's input length + this many tokens.")
    public var extraLength = DecodingOptions.defaultExtraDecodeLength
    /// The per-sentence length limit's ratio (off by default).
    @Option(help: "Also stop a sentence after ratio x its source tokens + --max-length-offset tokens (off by default; changes results).")
    public var maxLengthRatio: Float?
    /// The per-sentence length limit's offset.
    @Option(help: "With --max-length-ratio: tokens allowed in addition.") public var maxLengthOffset: Int = 10
    /// The n-gram size never repeated in an output (off by default).
    @Option(help: "Never repeat an n-gram of this size in an output (off by default; changes results).") public var noRepeatNgram: Int?

    /// Creates the flags with their defaults (ArgumentParser fills them in).
    public init() {}

    /// The strategy the flags select for a model of the reference's family.
    public var strategy: any DecodingStrategy {
        if greedy { return GreedyStrategy() }
        if sample { return SamplingStrategy(temperature: temperature, topK: topK, topP: topP, seed: seed) }
        return BeamSearchStrategy(
            beamSize: beam ?? BeamSearchStrategy.defaultBeamSize, alpha: alpha ?? BeamSearchStrategy.defaultAlpha)
    }

    /// The search and limits the flags ask for, for a model of the reference's family.
    public var options: DecodingOptions { options(for: DecodingOptions()) }

    /// The search and limits the flags ask for, starting from a model's own decoding:
    /// for a model published with transformers' `generate()` settings (a Marian model),
    /// `--greedy`, `--beam` and `--alpha` change those settings (`num_beams`,
    /// `length_penalty`) rather than replace the search.
    public func options(for defaults: DecodingOptions) -> DecodingOptions {
        var options = defaults
        if var generate = defaults.strategy as? GenerateStrategy, !sample {
            if greedy { generate.beamSize = 1 } else if let beam { generate.beamSize = beam }
            if let alpha { generate.lengthPenalty = alpha }
            options.strategy = generate
        } else {
            options.strategy = strategy
        }
        options.extraDecodeLength = extraLength
        options.lengthLimit = maxLengthRatio.map { DecodingOptions.LengthLimit(ratio: $0, offset: maxLengthOffset) }
        options.noRepeatNgramSize = noRepeatNgram
        return options
    }

    /// Refuses values out of range, naming the flag; then whatever the options refuse.
    public func validate() throws {
        if greedy && sample { throw ValidationError("give --greedy or --sample, not both") }
        try requireRange(beam, FlagBounds.beams, flag: "--beam")
        if let alpha, !alpha.isFinite || alpha < 0 { throw ValidationError("--alpha must be a finite value ≥ 0, not \(alpha)") }
        try requireRange(extraLength, FlagBounds.extraLength, flag: "--extra-length")
        try requireRange(maxLengthRatio, 0...DecodingOptions.maximumLengthRatio, flag: "--max-length-ratio")
        try requireRange(
            maxLengthOffset, -DecodingOptions.maximumLengthOffset...DecodingOptions.maximumLengthOffset, flag: "--max-length-offset")
        try requireRange(noRepeatNgram, 1...DecodingOptions.maximumNgramSize, flag: "--no-repeat-ngram")
        if let problem = options.problem { throw ValidationError(problem) }
    }
}
