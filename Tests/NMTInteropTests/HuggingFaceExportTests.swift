import Foundation
import NMTInterop
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// `nmt-export --format huggingface`: a MarianMTModel directory whose weights are the
/// original file's, bit for bit, and which swift-nmt reads back to the same translations.
/// (transformers' own reading is checked by Scripts/reference/huggingface_export_check.py.)
final class HuggingFaceExportTests: XCTestCase {
    func testTheExportHoldsTheOriginalWeightsAndTranslatesTheSame() throws {
        for name in ["swish-tied", "gelu-separate"] {
            let fixture = try MarianParityTests.directory(name)
            let output = try temporaryDirectory(for: self, prefix: "nmt-hf").appendingPathComponent(name)
            try ModelExport.exportHuggingFace(modelDirectory: fixture, to: output)
            let exported = try SafeTensors.read(from: output.appendingPathComponent("model.safetensors")).tensors
            let safetensors = fixture.appendingPathComponent("model.safetensors")
            let original =
                FileManager.default.fileExists(atPath: safetensors.path)
                ? try SafeTensors.read(from: safetensors).tensors
                : try TorchCheckpoint.read(from: fixture.appendingPathComponent("pytorch_model.bin"))
            XCTAssertFalse(exported.isEmpty)
            for (key, tensor) in exported {
                let stored = try XCTUnwrap(original[key], "\(name): \(key) is not in the original")
                XCTAssertEqual(tensor.shape, stored.shape, "\(name): \(key)")
                XCTAssertEqual(tensor.scalars, stored.scalars, "\(name): \(key)")
            }
            let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("config.json"))) as? [String: Any])
            let originalConfig = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: fixture.appendingPathComponent("config.json"))) as? [String: Any])
            for key in ["vocab_size", "decoder_vocab_size", "pad_token_id", "eos_token_id", "d_model", "encoder_layers", "decoder_layers"] {
                XCTAssertEqual(config[key] as? Int, originalConfig[key] as? Int, "\(name): \(key)")
            }
            let expected = try MarianParityTests.expected(name).sentences.prefix(8)
            let reloaded = try TranslationModel.load(output, vocabulary: nil)
            XCTAssertEqual(try reloaded.translator().translate(expected.map(\.source)), expected.map(\.beam_text), name)
        }
    }

    func testOurModelsHaveNoHuggingFaceLayout() throws {
        let directory = try temporaryDirectory(for: self, prefix: "nmt-hf-ours")
        let vocabulary = directory.appendingPathComponent("vocab.txt"), saved = directory.appendingPathComponent("model")
        try Data("'<pad>'\n'<EOS>'\n'a_'\n".utf8).write(to: vocabulary)
        let configuration = TransformerConfiguration(vocabularySize: 3, hiddenSize: 8, layerCount: 1, headCount: 2, filterSize: 16)
        try Transformer(configuration: configuration, key: RandomKey(seed: 1)).save(to: saved)
        XCTAssertThrowsError(
            try ModelExport.exportHuggingFace(modelDirectory: saved, vocabulary: vocabulary, to: directory.appendingPathComponent("out"))
        ) {
            XCTAssertTrue("\($0)".contains("MarianMTModel directories only"), "\($0)")
        }
    }
}
