/// The reference's length buckets (`dataset._create_min_max_boundaries` and
/// `_batch_examples`): boundaries from 8 growing by ×1.1, one batch size per bucket so
/// that a batch holds at most `batchTokens` tokens.
public struct LengthBuckets: Sendable, Equatable {
    /// Lower bounds (inclusive) of the buckets: `[0] + boundaries`.
    public let minimums: [Int]
    /// Upper bounds (exclusive): `boundaries + [maxLength + 1]`.
    public let maximums: [Int]
    /// Sentences per batch of each bucket: `batchTokens / maximum`.
    public let batchSizes: [Int]

    /// Buckets for sequences of at most `maxLength` tokens and batches of `batchTokens`.
    ///
    /// For maxLength 256 there are 42 buckets; with 2048 tokens the batch sizes run
    /// 256, 227, 204, ... 8, 7.
    public init(maxLength: Int, batchTokens: Int, minBoundary: Int = 8, scale: Double = 1.1) {
        var boundaries: [Int] = []
        var x = minBoundary
        while x < maxLength {
            boundaries.append(x)
            x = max(x + 1, Int(Double(x) * scale))
        }
        minimums = [0] + boundaries
        maximums = boundaries + [maxLength + 1]
        batchSizes = maximums.map { batchTokens / $0 }
    }

    /// The bucket of an example whose longer side has `length` tokens.
    public func bucket(forLength length: Int) -> Int {
        // Binary search for the first bucket whose maximum exceeds the length.
        var low = 0, high = maximums.count - 1
        while low < high {
            let middle = (low + high) / 2
            if length < maximums[middle] { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
