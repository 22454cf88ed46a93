import Foundation

/// Produces the batches of a ``TranslationDataset`` in order; `position` says where it
/// stands so that a run can resume mid-epoch.
public final class DatasetIterator {
    /// The dataset.
    public let dataset: TranslationDataset
    /// The position after the last batch returned.
    public private(set) var position: DatasetPosition
    /// Corrupt records skipped so far (with `skipsCorruptRecords`).
    public private(set) var corruptRecordsSkipped = 0

    private var examples: ExampleStream
    private var pending: [TokenBatch] = []
    private var buckets: [[TranslationExample]]
    private var staticRows: [TranslationExample] = []
    private var streamEnded = false

    init(dataset: TranslationDataset, position: DatasetPosition) throws {
        self.dataset = dataset
        self.position = DatasetPosition(epoch: position.epoch, batchesInEpoch: 0)
        buckets = Array(repeating: [], count: dataset.buckets.maximums.count)
        examples = try ExampleStream(dataset: dataset, epoch: position.epoch)
        // Replay the epoch up to the saved position: deterministic for a seed.
        var replayed = 0
        while replayed < position.batchesInEpoch, try next() != nil { replayed += 1 }
    }

    /// The next batch, or nil when every epoch is done.
    ///
    /// - Throws: ``DatasetError``/``TFRecordError`` for unreadable or corrupt files, or a
    ///   pass that yields no batch at all.
    public func next() throws -> TokenBatch? {
        while true {
            if !pending.isEmpty {
                position.batchesInEpoch += 1
                return pending.removeFirst()
            }
            if streamEnded {
                guard position.batchesInEpoch > 0 else { throw DatasetError.empty(files: dataset.files.map(\.path)) }
                let finished = position.epoch + 1
                if let epochs = dataset.options.epochs, finished >= epochs { return nil }
                position = DatasetPosition(epoch: finished, batchesInEpoch: 0)
                examples = try ExampleStream(dataset: dataset, epoch: finished)
                streamEnded = false
                continue
            }
            guard let example = try examples.next() else {
                corruptRecordsSkipped += examples.corruptRecordsSkipped
                flushAtEndOfPass()
                streamEnded = true
                continue
            }
            add(example)
        }
    }

    private func add(_ example: TranslationExample) {
        let options = dataset.options
        if options.staticBatches {
            staticRows.append(example)
            if staticRows.count == options.batchTokens / options.maxLength {
                pending.append(TokenBatch(staticRows, inputLength: options.maxLength, targetLength: options.maxLength))
                staticRows.removeAll(keepingCapacity: true)
            }
            return
        }
        let bucket = dataset.buckets.bucket(forLength: max(example.inputs.count, example.targets.count))
        buckets[bucket].append(example)
        if buckets[bucket].count == dataset.buckets.batchSizes[bucket] {
            pending.append(TokenBatch(buckets[bucket]))
            buckets[bucket].removeAll(keepingCapacity: true)
        }
    }

    /// Partial bucket windows are emitted at the end of each pass (in bucket order); a
    /// partial static batch is dropped.
    private func flushAtEndOfPass() {
        for i in buckets.indices where !buckets[i].isEmpty {
            pending.append(TokenBatch(buckets[i]))
            buckets[i].removeAll(keepingCapacity: true)
        }
        staticRows.removeAll()
    }
}

/// The examples of one pass: files in (seeded, shuffled) order, read round-robin one
/// record at a time, parsed, filtered by length, optionally through a shuffle buffer.
struct ExampleStream {
    private var readers: [(url: URL, records: TFRecordReader.Records, index: Int)]
    private var turn = 0
    private let maxLength: Int
    private var random: SplitMix64
    private var buffer: [TranslationExample] = []
    private let bufferSize: Int
    private(set) var corruptRecordsSkipped = 0

    init(dataset: TranslationDataset, epoch: Int) throws {
        let options = dataset.options
        random = SplitMix64(seed: options.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var files = dataset.files
        if options.shuffle { random.shuffle(&files) }
        readers = try files.map { url throws(TFRecordError) in
            (url, try TFRecordReader(url: url, skipsCorruptRecords: options.skipsCorruptRecords).makeIterator(), 0)
        }
        maxLength = options.maxLength
        bufferSize = options.shuffle ? options.shuffleBufferSize : 0
    }

    /// The next example of the pass within the length limit, or nil at its end.
    mutating func next() throws -> TranslationExample? {
        while buffer.count < max(bufferSize, 1), let example = try nextFiltered() { buffer.append(example) }
        guard !buffer.isEmpty else { return nil }
        if bufferSize == 0 { return buffer.removeFirst() }
        let pick = Int(random.next() % UInt64(buffer.count))
        buffer.swapAt(pick, buffer.count - 1)
        return buffer.removeLast()
    }

    private mutating func nextFiltered() throws -> TranslationExample? {
        while !readers.isEmpty {
            turn %= readers.count
            guard let record = try readers[turn].records.nextRecord() else {
                corruptRecordsSkipped += readers[turn].records.corruptRecordsSkipped
                readers.remove(at: turn)
                continue
            }
            let index = readers[turn].index
            readers[turn].index += 1
            let url = readers[turn].url
            turn += 1
            let example: TranslationExample
            do { example = try TranslationExample(serialized: record) } catch {
                throw DatasetError.badRecord(path: url.path, index: index, reason: error.description)
            }
            if example.inputs.count <= maxLength && example.targets.count <= maxLength { return example }
        }
        return nil
    }
}

/// A small, fast, seedable generator (SplitMix64) for shuffles; the same seed gives the
/// same sequence on every platform.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fisher-Yates with this generator (the standard library's `shuffle(using:)` does
    /// not promise the same order across versions).
    mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, Int(next() % UInt64(i + 1)))
        }
    }
}
