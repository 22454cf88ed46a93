import Foundation
import NMTData
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTransformer
import XCTest

/// Manifests of every format this library has written decode; newer ones are refused.
final class CheckpointManifestTests: XCTestCase {
    /// A version-1 manifest as the library wrote it before the execution plan left the
    /// configuration and before the optimizer was recorded.
    let versionOne = """
        {
          "configuration" : {
            "allowsPaddingRemoval" : false, "alpha" : 0.6, "attentionDropout" : 0.1, "beamSize" : 4,
            "embeddingMethod" : "matmul", "extraDecodeLength" : 50, "filterSize" : 64, "headCount" : 4,
            "hiddenSize" : 32, "labelSmoothing" : 0.1, "layerCount" : 2, "postprocessDropout" : 0.1,
            "reluDropout" : 0.1, "vocabularySize" : 120
          },
          "datasetPosition" : { "batchesInEpoch" : 7, "epoch" : 1 },
          "optimizerFile" : "optimizer.safetensors",
          "seed" : 3,
          "step" : 12,
          "vocabularyHash" : "0badf00d"
        }
        """

    func testVersionOneManifestLoadsWithAdamAndWithoutDeviceSettings() throws {
        let manifest = try JSONDecoder().decode(CheckpointManifest.self, from: Data(versionOne.utf8))
        XCTAssertEqual(manifest.formatVersion, 1)
        XCTAssertEqual(manifest.optimizer, .adam)
        XCTAssertEqual(manifest.step, 12)
        XCTAssertEqual(manifest.datasetPosition, DatasetPosition(epoch: 1, batchesInEpoch: 7))
        XCTAssertEqual(
            manifest.configuration,
            TransformerConfiguration(vocabularySize: 120, hiddenSize: 32, layerCount: 2, headCount: 4, filterSize: 64))
    }

    func testCurrentManifestRoundTripsAndNewerFormatsAreRefused() throws {
        let manifest = CheckpointManifest(
            configuration: .tiny.withVocabularySize(50), vocabularyHash: "12345678", step: 5, seed: 9,
            datasetPosition: .start, optimizer: .adafactor)
        let encoded = try JSONEncoder().encode(manifest)
        let decoded = try JSONDecoder().decode(CheckpointManifest.self, from: encoded)
        XCTAssertEqual(decoded, manifest)
        XCTAssertEqual(decoded.formatVersion, CheckpointManifest.currentFormatVersion)
        var newer = try XCTUnwrap(JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        newer["formatVersion"] = CheckpointManifest.currentFormatVersion + 1
        XCTAssertThrowsError(
            try JSONDecoder().decode(CheckpointManifest.self, from: JSONSerialization.data(withJSONObject: newer))
        ) { error in
            XCTAssertEqual(
                error as? CheckpointError,
                .unsupportedFormat(version: CheckpointManifest.currentFormatVersion + 1, supported: CheckpointManifest.currentFormatVersion))
        }
    }

    /// A whole version-1 checkpoint directory (weights, Adam state, old manifest) loads and
    /// restores an Adam optimizer.
    func testVersionOneCheckpointDirectoryLoads() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nmt-v1-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = TransformerConfiguration(vocabularySize: 120, hiddenSize: 32, layerCount: 2, headCount: 4, filterSize: 64)
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        try model.save(to: directory)
        try SafeTensors.write(
            ["step": Tensor(12), "beta1_power": Tensor(0.28), "beta2_power": Tensor(0.96)],
            to: directory.appendingPathComponent(Checkpoint.optimizerFileName))
        try Data(versionOne.utf8).write(to: directory.appendingPathComponent("manifest.json"))
        let restored = try Checkpoint.load(from: directory, expectedConfiguration: configuration, vocabularyHash: "0badf00d")
        var adam = Adam()
        try restored.restore(&adam)
        XCTAssertEqual(adam.step, 12)
        XCTAssertEqual(restored.model.namedParameters.map(\.tensor.scalars), model.namedParameters.map(\.tensor.scalars))
        var adafactor = Adafactor()
        XCTAssertThrowsError(try restored.restore(&adafactor)) { error in
            XCTAssertTrue("\(error)".contains("optimizer adam, not adafactor"), "\(error)")
        }
    }
}
