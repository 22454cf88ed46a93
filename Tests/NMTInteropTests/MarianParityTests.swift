import Foundation
import NMTData
import NMTInterop
import NMTTensor
import NMTTransformer
import XCTest

/// The fixtures of Scripts/reference/marian_reference.py: small Marian models trained and
/// saved by transformers 5.25, with what transformers computes for 48 Ding test sentences.
final class MarianParityTests: XCTestCase {
    static let models = ["swish-tied", "gelu-separate", "multilingual"]

    struct Expected: Decodable {
        struct Sentence: Decodable {
            var source: String
            var input_ids: [Int32]
            var greedy_ids: [Int32]
            var greedy_text: String
            var beam_ids: [Int32]
            var beam_text: String
            var beam_score: Float
        }
        var sentences: [Sentence]
    }

    static func directory(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/marian"), name)
    }

    /// Ids stored as floats in the logit fixtures, as swift-nmt's ids.
    static func ids(_ tensor: Tensor, _ permutation: VocabularyPermutation) -> IndexTensor {
        IndexTensor(shape: tensor.shape, scalars: tensor.scalars.map { permutation.internalIDs[Int($0)] })
    }

    static func expected(_ name: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: directory(name).appendingPathComponent("expected.json")))
    }

    func testTheTokenizerGivesTransformersInputIDs() throws {
        for name in Self.models {
            let loaded = try MarianModelDirectory.load(Self.directory(name))
            let permutation = loaded.tokenizer.sourcePermutation
            for sentence in try Self.expected(name).sentences {
                let ids = try loaded.tokenizer.encode(sentence.source, addEOS: true).map { permutation.originalIDs[Int($0)] }
                XCTAssertEqual(ids, sentence.input_ids, "\(name): \(sentence.source)")
            }
        }
    }

    /// Teacher-forced logits of the first sentences, against transformers' (float32 both;
    /// the tolerance, 1e-4 absolute, is the issue's: the two libraries sum products in
    /// other orders, and logits here are below 30 in magnitude).
    func testTeacherForcedLogitsMatchTransformers() throws {
        for name in Self.models {
            let loaded = try MarianModelDirectory.load(Self.directory(name))
            let stored = try SafeTensors.read(from: Self.directory(name).appendingPathComponent("logits.safetensors")).tensors
            let (expected, labels, inputs) = (stored["logits"]!, stored["labels"]!, stored["input_ids"]!)
            let source = loaded.tokenizer.sourcePermutation, target = loaded.tokenizer.targetPermutation
            let logits = loaded.model(
                inputs: Self.ids(inputs, source), targets: Self.ids(labels, target), context: .inference(plan: .dynamicShapes))
            XCTAssertEqual(logits.shape, expected.shape, name)
            let width = target.size
            let (ours, theirs) = (logits.scalars, expected.scalars)
            var worst: Float = 0
            for row in 0..<(ours.count / width) {
                for internalID in 0..<width {
                    let original = Int(target.originalIDs[internalID])
                    worst = max(worst, abs(ours[row * width + internalID] - theirs[row * width + original]))
                }
            }
            XCTAssertLessThan(worst, 1e-4, "\(name): largest logit difference \(worst)")
        }
    }

    /// Greedy and beam generate() ids and text, sentence by sentence as the fixtures
    /// were made.
    func testGenerateIDsAndTextMatchTransformers() throws {
        for name in Self.models {
            for greedy in [true, false] {
                let loaded = try MarianModelDirectory.load(Self.directory(name), greedy: greedy)
                let tokenizer = loaded.tokenizer
                for sentence in try Self.expected(name).sentences {
                    let source = try tokenizer.encode(sentence.source, addEOS: true)
                    let decoded = loaded.model.translate(
                        IndexTensor(shape: [1, source.count], scalars: source), options: loaded.decodingOptions,
                        plan: .dynamicShapes)
                    let ids = decoded.sequences[0].map { tokenizer.targetPermutation.originalIDs[Int($0)] }
                    let expectedIDs = Array((greedy ? sentence.greedy_ids : sentence.beam_ids).dropFirst())
                    XCTAssertEqual(ids, expectedIDs, "\(name) \(greedy ? "greedy" : "beam"): \(sentence.source)")
                    XCTAssertEqual(
                        try tokenizer.decode(decoded.sequences[0]), greedy ? sentence.greedy_text : sentence.beam_text,
                        "\(name): \(sentence.source)")
                    if !greedy {
                        XCTAssertEqual(decoded.scores[0], sentence.beam_score, accuracy: 1e-4, "\(name): \(sentence.source)")
                    }
                }
            }
        }
    }

    /// The reference translations of the logit fixtures' sentences (the Ding test set's
    /// first lines, kept in NMTDataTests' fixtures).
    static func targets(_ name: String) throws -> [String] {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("NMTDataTests/Fixtures")
        let german = try String(contentsOf: folder.appendingPathComponent("test.de"), encoding: .utf8).split(separator: "\n").map(String.init)
        return Array(german.prefix(6))
    }

    /// What fine-tuning starts from: reference translations tokenize to transformers'
    /// labels (`tokenizer(text_target=...)`), and the training loss of the batch equals
    /// the cross entropy of transformers' logits over the non-padding labels (label
    /// smoothing off, as MarianMTModel's loss; padding masked as a seq2seq collator's -100
    /// does), within 1e-5.
    func testTargetTokenizationAndLossMatchTransformers() throws {
        for name in Self.models {
            let loaded = try MarianModelDirectory.load(Self.directory(name))
            let stored = try SafeTensors.read(from: Self.directory(name).appendingPathComponent("logits.safetensors")).tensors
            let (logits, labels, inputs) = (stored["logits"]!, stored["labels"]!, stored["input_ids"]!)
            let (rows, width, vocabulary) = (labels.shape[0], labels.shape[1], logits.shape[2])
            let target = loaded.tokenizer.targetPermutation, source = loaded.tokenizer.sourcePermutation
            let padding = Float(target.originalIDs[0])
            for (row, text) in try Self.targets(name).enumerated() {
                let ids = try loaded.tokenizer.encodeTarget(text, addEOS: true).map { Float(target.originalIDs[Int($0)]) }
                let stored = Array(labels.scalars[(row * width)..<((row + 1) * width)].prefix { $0 != padding })
                XCTAssertEqual(ids, stored, "\(name): \(text)")
            }
            // Cross entropy of transformers' logits over the non-padding labels, in double precision.
            var total = 0.0, count = 0
            let values = logits.scalars
            for position in 0..<(rows * width) where labels.scalars[position] != padding {
                let row = values[(position * vocabulary)..<((position + 1) * vocabulary)].map(Double.init)
                let maximum = row.max()!
                let logSum = maximum + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - maximum) })
                total += logSum - row[Int(labels.scalars[position])]
                count += 1
            }
            XCTAssertEqual(loaded.model.configuration.labelSmoothing, 0)
            let loss = loaded.model.loss(
                inputs: Self.ids(inputs, source), targets: Self.ids(labels, target), context: .inference(plan: .dynamicShapes))
            XCTAssertEqual(Double(loss.scalars[0]), total / Double(count), accuracy: 1e-5, name)
        }
    }

    /// Training data for fine-tuning: parallel text written as shards with the source
    /// tokenizer and the target side's, whose examples hold transformers' input ids and
    /// labels (permuted to swift-nmt's ids).
    func testParallelTextBecomesShardsOfTransformersIDs() throws {
        let name = "gelu-separate"
        let loaded = try MarianModelDirectory.load(Self.directory(name))
        let tokenizer = loaded.tokenizer
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nmt-marian-shards-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let sentences = try Self.expected(name).sentences.prefix(6).map(\.source)
        let targets = try Self.targets(name)
        let (source, target) = (folder.appendingPathComponent("src.txt"), folder.appendingPathComponent("tgt.txt"))
        try Data((sentences.joined(separator: "\n") + "\n").utf8).write(to: source)
        try Data((targets.joined(separator: "\n") + "\n").utf8).write(to: target)
        let shards = try CorpusPreparer.writeShards(
            source: source, target: target, tokenizer: tokenizer, targetTokenizer: tokenizer.targetSide, directory: folder,
            name: "marian", tag: "train", shards: 1, shuffleSeed: nil)
        var reader = try TFRecordReader(url: shards[0]).makeIterator()
        let stored = try SafeTensors.read(from: Self.directory(name).appendingPathComponent("logits.safetensors")).tensors
        let (labels, width) = (stored["labels"]!.scalars, stored["labels"]!.shape[1])
        let padding = Float(tokenizer.targetPermutation.originalIDs[0])
        for (row, sentence) in try Self.expected(name).sentences.prefix(6).enumerated() {
            let example = try TranslationExample(serialized: try XCTUnwrap(try reader.nextRecord()))
            XCTAssertEqual(example.inputs.map { tokenizer.sourcePermutation.originalIDs[Int($0)] }, sentence.input_ids)
            let expectedLabels = labels[(row * width)..<((row + 1) * width)].prefix { $0 != padding }.map { Int32($0) }
            XCTAssertEqual(example.targets.map { tokenizer.targetPermutation.originalIDs[Int($0)] }, expectedLabels)
        }
    }
}
