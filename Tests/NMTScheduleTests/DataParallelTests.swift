import Foundation
import Logging
import NMTAccelerator
import NMTData
import NMTLayers
@testable import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// A stand-in for one process of a group, for what can be checked without other
/// processes: sums leave values alone, and gathers return what `gather` makes of this
/// process's bytes (the other processes' bytes included).
final class FakeProcessGroup: ProcessGroup {
    let rank: Int
    let size: Int
    let gather: ([UInt8]) -> [[UInt8]]

    init(rank: Int, size: Int, gather: @escaping ([UInt8]) -> [[UInt8]] = { bytes in [bytes] }) {
        self.rank = rank
        self.size = size
        self.gather = gather
    }

    func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {}
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws {}
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { gather(bytes) }
}

/// How `DataParallelDevice` splits a global batch, and how a run refuses processes that
/// disagree. (Training across real processes: NMTDistributedTests, under mpirun.)
final class DataParallelTests: XCTestCase {
    /// `sentences` sentences of 6 tokens with 1...5 real target tokens each.
    func batch(sentences: Int) throws -> TransformerBatch {
        let ids: [Int32] = (0..<(sentences * 6)).map { i in
            let (row, column) = (i / 6, i % 6)
            let length = 1 + (row * 3) % 5
            if column < length { return Int32(2 + (i % 9)) }
            return column == length ? 1 : 0
        }
        return try TransformerBatch(
            inputs: IndexTensor(shape: [sentences, 6], scalars: ids), targets: IndexTensor(shape: [sentences, 6], scalars: ids),
            vocabularySize: 13)
    }

    func testPartsCoverTheBatchInOrderWithTheirShareOfTargetTokens() throws {
        let global = try batch(sentences: 7)
        for size in 1...4 {
            var next = 0
            var shares: Float = 0
            for rank in 0..<size {
                let device = try DataParallelDevice(local: CPUDevice(), group: FakeProcessGroup(rank: rank, size: size))
                let part = try device.parts(of: [global])[0]
                let range = next..<(next + part.batch.sentenceCount)
                XCTAssertEqual(part.firstExampleIndex, next, "\(size) processes, rank \(rank)")
                XCTAssertEqual(range.count, (rank + 1) * 7 / size - rank * 7 / size, "\(size) processes, rank \(rank)")
                XCTAssertEqual(part.batch.shapes[1], [range.count, 6], "the part keeps the batch's width")
                XCTAssertEqual(part.share, global.lossWeight(ofSentences: range) / global.lossWeight, accuracy: 1e-7)
                shares += part.share
                next = range.upperBound
            }
            XCTAssertEqual(next, 7, "\(size) processes cover every sentence")
            XCTAssertEqual(shares, 1, accuracy: 1e-6, "\(size) processes")
        }
    }

    /// A process alone is a group too: its exchanges leave values as they are, and a
    /// data-parallel device refuses a request that names another group of several (it
    /// trains with its own).
    func testASingleProcessIsAGroupAndADeviceKeepsItsOwnGroup() throws {
        let alone = SingleProcessGroup()
        var values: [Float] = [1.5, -2]
        try values.withUnsafeMutableBufferPointer { try alone.sum($0) }
        XCTAssertEqual(values, [1.5, -2])
        XCTAssertEqual(try alone.broadcast(7, from: 0), 7)
        XCTAssertEqual(try alone.allGather([1, 2]), [[1, 2]])
        XCTAssertEqual(CPUDevice().processGroup.size, 1)

        let device = try DataParallelDevice(local: CPUDevice(), group: FakeProcessGroup(rank: 0, size: 2))
        var model = try Transformer(
            configuration: TransformerConfiguration(vocabularySize: 13, hiddenSize: 8, layerCount: 1, headCount: 2, filterSize: 8),
            key: RandomKey(seed: 1))
        var optimizer = Adam()
        let request = TrainingRequest<Transformer, TransformerBatch>(
            batches: [try batch(sentences: 4)], firstStep: 0, learningRate: { _ in 0.01 }, randomKey: RandomKey(seed: 2),
            group: FakeProcessGroup(rank: 1, size: 3), loss: { model, batch, context in model.loss(batch, context: context) })
        XCTAssertThrowsError(try device.trainSteps(model: &model, optimizer: &optimizer, request)) { error in
            XCTAssertTrue("\(error)".contains("its own group of 2 processes, not the request's 3"), "\(error)")
        }
    }

    func testStaticPartsTakeTheGlobalShapeApart() throws {
        let group = FakeProcessGroup(rank: 1, size: 2)
        let local = try StaticShardedDevice(shards: 2, batchTokens: 24, maxLength: 6)
        let device = try DataParallelDevice(
            local: local, inference: StaticShardedDevice(shards: 2, batchTokens: 48, maxLength: 6), group: group)
        XCTAssertEqual(device.capabilities.staticBatchShape, [8, 6])
        XCTAssertEqual(device.capabilities.shardCount, 4)
        let part = try device.parts(of: [batch(sentences: 8)])[0]
        XCTAssertEqual(part.firstExampleIndex, 4)
        XCTAssertEqual(part.batch.shapes, [[4, 6], [4, 6]])
        XCTAssertThrowsError(try device.parts(of: [batch(sentences: 7)])) { error in
            XCTAssertEqual(error as? DeviceError, .indivisibleBatch(sentences: 7, shards: 2))
        }
        // An inference device of the part's shape cannot run the global batches.
        XCTAssertThrowsError(try DataParallelDevice(local: local, inference: local, group: group)) { error in
            XCTAssertTrue("\(error)".contains("global shape [8, 6]"), "\(error)")
        }
    }

    /// Ranks given BLEU files or shards with other contents (same names, same sizes) are
    /// refused at the start, naming the option: two ranks with different `--bleu-source`
    /// files trained to the end, the best checkpoint chosen by whichever scored.
    func testAFingerprintCoversTheContentsOfEveryInputFile() throws {
        let folder = try temporaryDirectory(for: self, prefix: "nmt-fingerprint")
        func file(_ name: String, _ text: String) throws -> URL {
            let url = folder.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
            return url
        }
        let (source, otherSource) = (try file("a/dev.en", "Good morning.\n"), try file("b/dev.en", "Good evening.\n"))
        let configuration = TransformerConfiguration(vocabularySize: 13, hiddenSize: 8, layerCount: 1, headCount: 2, filterSize: 8)
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        func fingerprint(bleuSource: URL, shard: URL) throws -> RunFingerprint {
            var options = TrainingOptions(dataDirectory: folder, modelDirectory: folder, vocabularyFile: folder)
            options.bleuSource = bleuSource
            options.bleuReference = bleuSource
            return try RunFingerprint(
                options: options, configuration: configuration, vocabularyHash: "0badcafe", dataFiles: [shard], step: 0, model: model)
        }
        let shard = try file("a/x-train-00001-of-00001", String(repeating: "a", count: 3 << 20))
        // The same size and the same first and last MiB: only the middle differs.
        let otherShard = try file(
            "b/x-train-00001-of-00001", String(repeating: "a", count: 3 << 19) + "b" + String(repeating: "a", count: (3 << 19) - 1))
        let mine = try fingerprint(bleuSource: source, shard: shard)
        for (theirs, field) in [
            (try fingerprint(bleuSource: otherSource, shard: shard), "the BLEU reference (--bleu-ref)"),
            (try fingerprint(bleuSource: source, shard: otherShard), "the data file x-train-00001-of-00001"),
        ] {
            let encoded = Array(try JSONEncoder().encode(theirs.fields))
            XCTAssertThrowsError(try mine.requireAgreement(in: FakeProcessGroup(rank: 0, size: 2) { [$0, encoded] })) { error in
                XCTAssertTrue("\(error)".hasPrefix("the processes disagree on \(field): rank 1 has"), "\(error)")
            }
        }
    }

    func testAFingerprintNamesTheFirstFieldThatDiffersAndTheRank() throws {
        let directory = URL(fileURLWithPath: "/data")
        var options = TrainingOptions(dataDirectory: directory, modelDirectory: directory, vocabularyFile: directory)
        let configuration = TransformerConfiguration(vocabularySize: 13, hiddenSize: 8, layerCount: 1, headCount: 2, filterSize: 8)
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        func fingerprint(_ options: TrainingOptions, step: Int = 0) throws -> RunFingerprint {
            try RunFingerprint(
                options: options, configuration: configuration, vocabularyHash: "0badcafe", dataFiles: [], step: step, model: model)
        }
        let mine = try fingerprint(options)
        // Paths are not compared: hosts may mount the same data elsewhere.
        options.dataDirectory = URL(fileURLWithPath: "/elsewhere/data")
        let moved = try JSONEncoder().encode(try fingerprint(options).fields)
        try mine.requireAgreement(in: FakeProcessGroup(rank: 0, size: 2) { [$0, Array(moved)] })

        options.seed = 2
        let reseeded = try JSONEncoder().encode(try fingerprint(options).fields)
        XCTAssertThrowsError(try mine.requireAgreement(in: FakeProcessGroup(rank: 0, size: 3) { [$0, $0, Array(reseeded)] })) { error in
            XCTAssertEqual("\(error)".components(separatedBy: ". ").first, "the processes disagree on the option seed: rank 2 has 2, rank 0 has 1")
        }
        let later = try JSONEncoder().encode(try fingerprint(TrainingOptions(dataDirectory: directory, modelDirectory: directory, vocabularyFile: directory), step: 7).fields)
        XCTAssertThrowsError(try mine.requireAgreement(in: FakeProcessGroup(rank: 1, size: 2) { [Array(later), $0] })) { error in
            XCTAssertTrue("\(error)".hasPrefix("the processes disagree on the step: rank 1 has 0, rank 0 has 7"), "\(error)")
        }
    }

    func testACheckpointTravelsAsOneBufferByteForByte() throws {
        let root = try temporaryDirectory(for: self)
        let checkpoint = root.appendingPathComponent("checkpoint-00000042")
        try FileManager.default.createDirectory(at: checkpoint, withIntermediateDirectories: true)
        let files = ["manifest.json": Data("{\"step\": 42}".utf8), "model.safetensors": Data((0..<5000).map { UInt8($0 % 251) }),
                     "empty": Data()]
        for (name, data) in files { try data.write(to: checkpoint.appendingPathComponent(name)) }
        let copy = try CheckpointSharing.unpack(CheckpointSharing.pack(checkpoint), into: root.appendingPathComponent("received"))
        XCTAssertEqual(copy.lastPathComponent, "checkpoint-00000042")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: copy.path).sorted(), files.keys.sorted())
        for (name, data) in files { XCTAssertEqual(try Data(contentsOf: copy.appendingPathComponent(name)), data, name) }
    }

    /// A received checkpoint buffer is not trusted: truncated buffers, lengths past the end,
    /// sizes that do not add up and names that leave the folder are refused before
    /// anything is read out of bounds or written (unpack read lengths unchecked).
    func testTruncatedAndLyingCheckpointBuffersAreRefused() throws {
        let root = try temporaryDirectory(for: self)
        let receiving = root.appendingPathComponent("received")
        func archive(folder: String = "checkpoint-00000042", files: [String] = ["model.safetensors"], sizes: [Int] = [3],
                     body: [UInt8] = [1, 2, 3], headerLength: UInt64? = nil) -> [UInt8] {
            let header = try! JSONSerialization.data(withJSONObject: ["folder": folder, "files": files, "sizes": sizes])
            return withUnsafeBytes(of: (headerLength ?? UInt64(header.count)).littleEndian) { Array($0) } + Array(header) + body
        }
        XCTAssertNoThrow(try CheckpointSharing.unpack(archive(), into: root.appendingPathComponent("fine")))
        let good = archive()
        let cases: [([UInt8], String)] = [
            ([], "shorter than the 8-byte header length"),
            (Array(good.prefix(5)), "shorter than the 8-byte header length"),
            (Array(good.prefix(20)), "the header claims"),
            (archive(headerLength: UInt64.max), "the header claims 18446744073709551615 bytes"),
            (archive(headerLength: 4), "the header is not valid"),
            (archive(sizes: [300]), "do not fit"),
            (archive(sizes: [-2]), "do not fit"),
            (archive(sizes: [Int.max]), "do not fit"),
            (archive(sizes: [2]), "the rest is unaccounted for"),
            (archive(sizes: [3, 0]), "1 file names but 2 sizes"),
            (archive(files: ["../../escaped"]), "is not a plain name"),
            (archive(files: ["a/b"]), "is not a plain name"),
            (archive(folder: "../checkpoint-00000001"), "is not a checkpoint name"),
            (archive(folder: "notes"), "is not a checkpoint name"),
            (archive(files: ["x", "x"], sizes: [1, 2]), "a file name repeats"),
        ]
        for (buffer, message) in cases {
            XCTAssertThrowsError(try CheckpointSharing.unpack(buffer, into: receiving)) { error in
                XCTAssertTrue("\(error)".contains(message), "expected \(message): \(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: receiving.path), "nothing written")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.deletingLastPathComponent().appendingPathComponent("escaped").path))
    }

    /// Rank 0 of 2 translates the first half of the BLEU source; the (fake) rank 1 hands
    /// back the German references of the second half. The score is 100 only if rank 0
    /// translated exactly its half and the halves were joined in rank order.
    func testEachProcessTranslatesItsShareOfTheBLEUSourceInRankOrder() throws {
        let root = try SampleCorpus.prepared.get()
        let source = root.appendingPathComponent("dev.en")
        let lines = try CorpusPreparer.lines(of: source)
        let german = try CorpusPreparer.lines(of: root.appendingPathComponent("dev.de"))
        let half = lines.count / 2
        let group = FakeProcessGroup(rank: 0, size: 2) { mine in
            // Translations travel as a JSON list of strings; other gathers are answered alike.
            guard (try? JSONDecoder().decode([String].self, from: Data(mine))) != nil else { return [mine, mine] }
            return [mine, Array(try! JSONEncoder().encode(Array(german[half...])))]
        }
        let modelDirectory = try temporaryDirectory(for: self)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let trainer = try Trainer(
            options: SampleCorpus.options(modelDirectory: modelDirectory, steps: 1), configuration: SampleCorpus.configuration,
            device: DataParallelDevice(local: CPUDevice(), group: group), logger: logger)

        var translator = try Translator(model: trainer.evaluationModel(), tokenizer: Subtokenizer(vocabularyFile: trainer.options.vocabularyFile))
        translator.extraDecodeLength = trainer.configuration.extraDecodeLength
        let firstHalf = try translator.translate(Array(lines[..<half]), on: CPUDevice())
        let reference = modelDirectory.appendingPathComponent("reference.de")
        try Data((firstHalf + german[half...]).map { $0 + "\n" }.joined().utf8).write(to: reference)
        let (uncased, cased) = try trainer.bleu(source: source, reference: reference)
        XCTAssertEqual(uncased, 100, accuracy: 1e-4)
        XCTAssertEqual(cased, 100, accuracy: 1e-4)
    }
}
