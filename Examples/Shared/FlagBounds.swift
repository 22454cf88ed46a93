// The ranges of the example programs' numeric flags, in one place: a value outside its
// range is refused before anything is computed from it (2^63 - 1 once overflowed the batch
// and length arithmetic or sized an allocation of exabytes).
import ArgumentParser
import NMT

/// Ranges the programs share; a flag without one here takes the library's own bound.
public enum FlagBounds {
    /// Sentences per batch (`--batch`).
    public static let sentencesPerBatch = 1...100_000
    /// Tokens per source sentence or example (`--max-length`, `--max-input-tokens`).
    public static let sentenceTokens = 1...TrainingOptions.maximumLength
    /// Tokens per batch (`--batch-tokens`, `--batch-size`).
    public static let batchTokens = 1...TrainingOptions.maximumBatchTokens
    /// Beams (`--beam`).
    public static let beams = 1...DecodingOptions.maximumBeamSize
    /// Tokens decoded past the source (`--extra-length`).
    public static let extraLength = 0...DecodingOptions.maximumExtraDecodeLength
    /// Threads (`--threads`).
    public static let threads = 1...1_024
    /// Shards of the static device, or of a corpus (`--shards`).
    public static let shards = 1...10_000
}

/// Refuses `value` (when given) outside `range`, naming the flag.
public func requireRange<Value: Comparable>(_ value: Value?, _ range: ClosedRange<Value>, flag: String) throws {
    if let value, !range.contains(value) {
        throw ValidationError("\(flag) must be in \(range.lowerBound)...\(range.upperBound), not \(value)")
    }
}
