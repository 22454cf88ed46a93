import Foundation

/// How a ``TranslationDataset`` reads and batches examples.
public struct DatasetOptions: Codable, Sendable, Equatable {
    /// Token budget of a batch (the reference's `batch_size`: 2048 base, 4096 big).
    public var batchTokens: Int
    /// Examples with more than this many input or target ids (EOS included) are dropped.
    public var maxLength: Int
    /// Static `[batchTokens / maxLength, maxLength]` batches (remainder dropped) instead of
    /// length buckets.
    public var staticBatches: Bool
    /// Shuffle the file order each epoch (and the shuffle buffer, if any), from `seed`.
    public var shuffle: Bool
    /// The seed of every random choice; the same seed gives the same batches.
    public var seed: UInt64
    /// Passes over the data; nil repeats forever.
    public var epochs: Int?
    /// Examples held in a seeded shuffle buffer when shuffling (0, the reference's
    /// behaviour, relies on shuffled shards and file order).
    public var shuffleBufferSize: Int
    /// Skip corrupt records (counted) instead of failing.
    public var skipsCorruptRecords: Bool

    /// Creates options; the defaults are the reference's evaluation settings.
    public init(
        batchTokens: Int, maxLength: Int = 256, staticBatches: Bool = false, shuffle: Bool = false, seed: UInt64 = 0,
        epochs: Int? = 1, shuffleBufferSize: Int = 0, skipsCorruptRecords: Bool = false
    ) {
        self.batchTokens = batchTokens
        self.maxLength = maxLength
        self.staticBatches = staticBatches
        self.shuffle = shuffle
        self.seed = seed
        self.epochs = epochs
        self.shuffleBufferSize = shuffleBufferSize
        self.skipsCorruptRecords = skipsCorruptRecords
    }
}

/// Where a dataset iterator stands: the epoch and the batches already produced in it.
/// Restoring replays the epoch deterministically up to that point.
public struct DatasetPosition: Codable, Sendable, Equatable {
    /// Passes completed.
    public var epoch: Int
    /// Batches produced in the current pass.
    public var batchesInEpoch: Int

    /// The beginning.
    public static let start = DatasetPosition(epoch: 0, batchesInEpoch: 0)

    /// Creates a position.
    public init(epoch: Int, batchesInEpoch: Int) {
        self.epoch = epoch
        self.batchesInEpoch = batchesInEpoch
    }
}

/// Sentence pairs from TFRecord shards, filtered by length and batched as the
/// reference's `utils/dataset.py` does: length-bucketed batches of at most `batchTokens`
/// tokens (inputs and targets padded separately), or static padded batches.
public struct TranslationDataset: Sendable {
    /// The matching files, sorted by name.
    public let files: [URL]
    /// Batching options.
    public let options: DatasetOptions
    /// The length buckets (unused for static batches).
    public let buckets: LengthBuckets

    /// Opens the files matching a pattern such as `data/ding-train*` or `data/*dev*`
    /// (shell wildcards in the file name part).
    ///
    /// - Throws: ``DatasetError`` when no file matches or the options cannot batch.
    public init(filePattern: String, options: DatasetOptions) throws(DatasetError) {
        let url = URL(fileURLWithPath: filePattern)
        let directory = url.deletingLastPathComponent(), pattern = url.lastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let matches = names.filter { fnmatch(pattern, $0, 0) == 0 }.sorted()
        guard !matches.isEmpty else { throw .noFiles(pattern: filePattern) }
        try self.init(files: matches.map { directory.appendingPathComponent($0) }, options: options)
    }

    /// A dataset over explicit files.
    public init(files: [URL], options: DatasetOptions) throws(DatasetError) {
        guard !files.isEmpty else { throw .noFiles(pattern: "(empty file list)") }
        guard options.maxLength > 0 else { throw .invalidOptions("maxLength is \(options.maxLength); must be positive") }
        if options.staticBatches {
            guard options.batchTokens >= options.maxLength else {
                throw .invalidOptions(
                    "batchTokens \(options.batchTokens) holds no sentence of maxLength \(options.maxLength) in a static batch")
            }
        } else {
            guard options.batchTokens > options.maxLength else {
                throw .invalidOptions(
                    "batchTokens \(options.batchTokens) must exceed maxLength \(options.maxLength) so that every bucket holds a sentence")
            }
        }
        if let epochs = options.epochs, epochs <= 0 { throw .invalidOptions("epochs is \(epochs); must be positive or nil") }
        self.files = files
        self.options = options
        buckets = LengthBuckets(maxLength: options.maxLength, batchTokens: options.batchTokens)
    }

    /// An iterator from `position` (the start by default).
    public func makeIterator(from position: DatasetPosition = .start) throws -> DatasetIterator {
        try DatasetIterator(dataset: self, position: position)
    }

    /// The records in the files (sentence pairs before the length filter), as the
    /// reference's example counts are: what converts epochs to steps.
    ///
    /// - Throws: ``TFRecordError`` for an unreadable or corrupt file.
    public func recordCount() throws(TFRecordError) -> Int {
        var count = 0
        for file in files {
            var records = try TFRecordReader(url: file, skipsCorruptRecords: options.skipsCorruptRecords).makeIterator()
            while try records.nextRecord() != nil { count += 1 }
        }
        return count
    }
}

/// A problem with a dataset.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    /// No file matches the pattern.
    case noFiles(pattern: String)
    /// A pass over the files produced no batch.
    case empty(files: [String])
    /// Options that cannot form batches.
    case invalidOptions(String)
    /// A record that is not a translation example.
    case badRecord(path: String, index: Int, reason: String)

    /// A sentence naming the problem and where.
    public var description: String {
        switch self {
        case .noFiles(let pattern): return "no TFRecord files match \(pattern)"
        case .empty(let files):
            return "the dataset yields no batch (no example within the length limit) from \(files.joined(separator: ", "))"
        case .invalidOptions(let reason): return "invalid dataset options: \(reason)"
        case .badRecord(let path, let index, let reason): return "\(path), record \(index): \(reason)"
        }
    }
}
