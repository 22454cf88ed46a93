import Foundation
import NMTData
import NMTInterop
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// nmt-export --format swift-nmt: which weights it takes (best, moving average, newest),
/// and an inference-only folder that translates as the model it came from.
final class ModelExportTests: XCTestCase {
    var directory: URL!
    var vocabulary: URL!
    var configuration: TransformerConfiguration!

    override func setUpWithError() throws {
        directory = try temporaryDirectory(for: self, prefix: "nmt-export")
        vocabulary = directory.appendingPathComponent("vocab.txt")
        try Data("'<pad>'\n'<EOS>'\n'a_'\n'b_'\n'c_'\n'a'\n'b'\n'c'\n'_'\n".utf8).write(to: vocabulary)
        configuration = TransformerConfiguration(
            vocabularySize: try TokenizerFile.load(vocabulary).vocabularySize, hiddenSize: 16, layerCount: 1, headCount: 2,
            filterSize: 32)
    }

    /// A checkpoint of step `step` from weights of `seed`, in `run`, optionally with a
    /// moving average (the weights of `seed + 100`).
    @discardableResult
    func save(step: Int, seed: UInt64, in run: URL, average: Bool = false) throws -> Transformer {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: seed))
        let manifest = CheckpointManifest(
            configuration: configuration, vocabularyHash: try Checkpoint.vocabularyHash(of: vocabulary), step: step, seed: 1,
            datasetPosition: DatasetPosition(epoch: 0, batchesInEpoch: step))
        let movingAverage = try average
            ? ExponentialMovingAverage(decay: 0.999, startingAt: Transformer(configuration: configuration, key: RandomKey(seed: seed + 100)))
            : nil
        try Checkpoint.save(model: model, optimizer: Adam(), manifest: manifest, in: run, keep: 5, movingAverage: movingAverage)
        return model
    }

    func weights(_ model: Transformer) -> [[Float]] { model.namedParameters.map(\.tensor.scalars) }

    func testTheBestCheckpointsMovingAverageIsExportedAndTranslatesAlone() throws {
        let run = directory.appendingPathComponent("model")
        try save(step: 5, seed: 1, in: run)
        try save(step: 10, seed: 2, in: run)
        try save(step: 5, seed: 1, in: BestCheckpoint.directory(in: run), average: true)
        let output = directory.appendingPathComponent("export")
        let exported = try ModelExport.exportSwiftNMT(modelDirectory: run, vocabulary: vocabulary, to: output)
        XCTAssertEqual(exported.choice, .best)
        XCTAssertEqual(exported.step, 5)
        XCTAssertTrue(exported.movingAverage)
        XCTAssertTrue(exported.description.contains("(the best checkpoint by dev BLEU at step 5), moving-average weights"), exported.description)
        let average = try Transformer(configuration: configuration, key: RandomKey(seed: 101))
        XCTAssertEqual(weights(try Transformer.load(from: output)), weights(average))
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.appendingPathComponent(Checkpoint.optimizerFileName).path))

        // The folder translates without --vocab, as the averaged model with the vocabulary does.
        let loaded = try TranslationModel.load(output, vocabulary: nil)
        let direct = try Translator(model: average, tokenizer: try TokenizerFile.load(vocabulary))
        XCTAssertEqual(try loaded.translator().translate(["a b c", "c a"]), try direct.translate(["a b c", "c a"]))
        XCTAssertThrowsError(try TranslationModel.load(output, vocabulary: run.appendingPathComponent("other"))) {
            XCTAssertTrue("\($0)".contains("carries its own vocabulary"), "\($0)")
        }
        // A second export into the same folder is refused.
        XCTAssertThrowsError(try ModelExport.exportSwiftNMT(modelDirectory: run, vocabulary: vocabulary, to: output)) {
            XCTAssertEqual($0 as? ModelExportError, .outputNotEmpty(output.path))
        }
    }

    func testWithoutABestCheckpointTheNewestIsExported() throws {
        let run = directory.appendingPathComponent("model")
        try save(step: 5, seed: 1, in: run)
        let newest = try save(step: 10, seed: 2, in: run)
        let (model, exported) = try ModelExport.resolveWeights(in: run, vocabularyHash: nil)
        XCTAssertEqual(exported.choice, .newest)
        XCTAssertEqual(exported.step, 10)
        XCTAssertFalse(exported.movingAverage)
        XCTAssertEqual(weights(model), weights(newest))
        let checkpoint = try XCTUnwrap(Checkpoint.latest(in: run))
        XCTAssertEqual(try ModelExport.resolveWeights(in: checkpoint, vocabularyHash: nil).1.choice, .given)
    }

    func testTheConfigurationDescribesTheArchitecture() throws {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        try model.save(to: directory.appendingPathComponent("saved"))
        let written = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("saved/configuration.json"))) as? [String: Any])
        XCTAssertEqual(written["formatVersion"] as? Int, 2)
        XCTAssertEqual(written["firstPosition"] as? Int, 0)
        XCTAssertEqual(written["specialIDs"] as? [String: Int], ["padding": 0, "endOfSentence": 1, "decoderStart": 0])
        let architecture = try XCTUnwrap(written["architecture"] as? [String: Any])
        XCTAssertEqual(architecture["normalization"] as? String, "preNorm")
        XCTAssertEqual(architecture["activation"] as? String, "relu")
        XCTAssertEqual(architecture["layerNormEpsilon"] as? Double ?? 0, 1e-6, accuracy: 1e-12)
        XCTAssertEqual(architecture["positionTable"] as? String, "reference")
        XCTAssertEqual(architecture["tiesOutputProjection"] as? Bool, true)
        // A file from a newer swift-nmt is refused rather than misread.
        var newer = written
        newer["formatVersion"] = 3
        XCTAssertThrowsError(try JSONDecoder().decode(TransformerConfiguration.self, from: JSONSerialization.data(withJSONObject: newer))) {
            XCTAssertTrue("\($0)".contains("newer than this swift-nmt"), "\($0)")
        }
    }

    /// The programs: nmt-export says what it took, nmt-translate reads the folder alone.
    func testNmtExportThenNmtTranslate() throws {
        let run = directory.appendingPathComponent("model")
        try save(step: 7, seed: 3, in: run)
        let output = directory.appendingPathComponent("export")
        let exported = try runProduct(
            "nmt-export", ["--model-dir", run.path, "--vocab", vocabulary.path, "--format", "swift-nmt", "--output", output.path],
            testCase: Self.self)
        XCTAssertEqual(exported.status, 0, exported.error)
        XCTAssertTrue(exported.error.contains("(the newest checkpoint at step 7), trained weights"), exported.error)
        let translated = try runProduct(
            "nmt-translate", ["--model-dir", output.path, "--text", "a b", "--extra-length", "3"], testCase: Self.self)
        XCTAssertEqual(translated.status, 0, translated.error)
        let missing = try runProduct(
            "nmt-export", ["--model-dir", directory.appendingPathComponent("none").path, "--vocab", vocabulary.path, "--output", output.path],
            testCase: Self.self)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.error.contains("does not exist"), missing.error)
    }
}
