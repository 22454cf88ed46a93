import Foundation
import NMTData
import NMTInterop
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTransformer
import XCTest

/// One loader for both kinds of model directory, and models shipped with weights only.
final class TranslationModelTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("nmt-interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// The Translator's batches (sorted by length, 32 at a time, padded) give what
    /// transformers gives one sentence at a time.
    func testAMarianDirectoryTranslatesInBatchesAsTransformersDoes() throws {
        for name in MarianParityTests.models {
            let loaded = try TranslationModel.load(MarianParityTests.directory(name), vocabulary: nil)
            XCTAssertEqual(loaded.format, .marian)
            XCTAssertEqual(loaded.maximumInputTokens, 128, "max_position_embeddings")
            let expected = try MarianParityTests.expected(name).sentences
            let translations = try loaded.translator().translate(expected.map(\.source))
            XCTAssertEqual(translations, expected.map(\.beam_text), name)
        }
    }

    func testAVocabularyIsRequiredForOurModelsAndRefusedForMarian() throws {
        let marian = try MarianParityTests.directory("swish-tied")
        let vocabulary = marian.appendingPathComponent("vocab.json")
        XCTAssertThrowsError(try TranslationModel.load(marian, vocabulary: vocabulary)) {
            XCTAssertEqual($0 as? TranslationModelError, .vocabularyNotUsed(directory: marian.path, vocabulary: vocabulary.path))
        }
        XCTAssertThrowsError(try TranslationModel.load(directory, vocabulary: nil)) {
            XCTAssertEqual($0 as? TranslationModelError, .vocabularyNeeded(directory: directory.path))
            XCTAssertTrue("\($0)".contains("--vocab"), "\($0)")
        }
    }

    /// A checkpoint whose optimizer state was deleted (and its manifest entry with it)
    /// translates as before; resuming from it says the state is missing.
    func testACheckpointShippedWithoutItsOptimizerStateTranslates() throws {
        let vocabulary = directory.appendingPathComponent("vocab.txt")
        try Data("'<pad>'\n'<EOS>'\n'a_'\n'b_'\n'c_'\n'a'\n'b'\n'c'\n'_'\n".utf8).write(to: vocabulary)
        let tokenizer = try TokenizerFile.load(vocabulary)
        let configuration = TransformerConfiguration(
            vocabularySize: tokenizer.vocabularySize, hiddenSize: 16, layerCount: 1, headCount: 2, filterSize: 32)
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 3))
        let manifest = CheckpointManifest(
            configuration: configuration, vocabularyHash: try Checkpoint.vocabularyHash(of: vocabulary), step: 5, seed: 1,
            datasetPosition: DatasetPosition(epoch: 0, batchesInEpoch: 5))
        let models = directory.appendingPathComponent("model")
        let checkpoint = try Checkpoint.save(model: model, optimizer: Adam(), manifest: manifest, in: models, keep: 1)
        let sentences = ["a b c", "c a"]
        let before = try TranslationModel.load(models, vocabulary: vocabulary).translator().translate(sentences)

        try FileManager.default.removeItem(at: checkpoint.appendingPathComponent(Checkpoint.optimizerFileName))
        let manifestURL = checkpoint.appendingPathComponent("manifest.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        object["optimizerFile"] = nil
        try JSONSerialization.data(withJSONObject: object).write(to: manifestURL)

        let loaded = try TranslationModel.load(models, vocabulary: vocabulary)
        XCTAssertEqual(loaded.format, .swiftNMT)
        XCTAssertEqual(try loaded.translator().translate(sentences), before)
        let restored = try Checkpoint.load(from: checkpoint)
        XCTAssertNil(restored.optimizerState)
        var adam = Adam()
        XCTAssertThrowsError(try restored.restore(&adam)) {
            XCTAssertEqual($0 as? CheckpointError, .optimizerStateMissing(path: checkpoint.path, file: Checkpoint.optimizerFileName))
            XCTAssertTrue("\($0)".contains("training cannot resume"), "\($0)")
        }
    }
}
