import Foundation
import NMTInterop
import NMTTensor
import NMTTestSupport
import XCTest
import ZIPFoundation

/// Broken and hostile Marian directories and PyTorch files: each is refused with an error
/// that names the file and what is wrong; none crashes, hangs or allocates what the file
/// does not hold.
final class MarianRobustnessTests: XCTestCase {
    /// A copy of a fixture directory, with `edit` applied to its config.json.
    func directory(_ fixture: String = "swish-tied", config edit: (inout [String: Any]) -> Void = { _ in }) throws -> URL {
        let copy = try temporaryDirectory(for: self, prefix: "nmt-marian-bad").appendingPathComponent(fixture)
        try FileManager.default.copyItem(at: MarianParityTests.directory(fixture), to: copy)
        let url = copy.appendingPathComponent("config.json")
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        return copy
    }

    func assertRefused(_ url: URL, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try MarianModelDirectory.load(url), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "\(error)", file: file, line: line)
        }
    }

    func testBadConfigurationsAreRefusedByKey() throws {
        assertRefused(try directory { $0["d_model"] = 1_000_000 }, "the configuration says [500, 1000000]")
        assertRefused(try directory { $0["encoder_layers"] = 40 }, "model.encoder.layers.39.fc1.weight is missing")
        assertRefused(try directory { $0["encoder_layers"] = "six" }, "encoder_layers is six, not an integer")
        assertRefused(try directory { $0["activation_function"] = "tanh" }, "activation_function is tanh")
        assertRefused(try directory { $0["vocab_size"] = 400 }, "vocab_size 400")
        assertRefused(try directory { $0["eos_token_id"] = 499 }, "must be two of them")
        assertRefused(try directory { $0["decoder_start_token_id"] = 3 }, "decoder_start_token_id 3 differs from pad_token_id")
        assertRefused(try directory { $0["d_model"] = 30 }, "headCount")
        assertRefused(try directory { $0["max_position_embeddings"] = 1 }, "maximumPositions")
        assertRefused(try directory { $0["eos_token_id"] = [0, 2] }, "eos_token_id lists 2 ids")
        XCTAssertFalse(MarianModelDirectory.isMarian(try directory { $0["model_type"] = "bart" }))
    }

    func testMissingAndMalformedFilesAreRefusedByName() throws {
        let noSPM = try directory()
        try FileManager.default.removeItem(at: noSPM.appendingPathComponent("source.spm"))
        assertRefused(noSPM, "source.spm is missing")
        let badVocabulary = try directory()
        try Data("[1, 2]".utf8).write(to: badVocabulary.appendingPathComponent("vocab.json"))
        assertRefused(badVocabulary, "vocab.json is not a JSON object")
        let twice = try directory()
        try Data(#"{"</s>": 0, "<unk>": 0}"#.utf8).write(to: twice.appendingPathComponent("vocab.json"))
        assertRefused(twice, "each once")
        let noWeights = try directory()
        try FileManager.default.removeItem(at: noWeights.appendingPathComponent("model.safetensors"))
        assertRefused(noWeights, "model.safetensors or pytorch_model.bin is missing")
        let badGeneration = try directory()
        try Data(#"{"bad_words_ids": [[1, 2]]}"#.utf8).write(to: badGeneration.appendingPathComponent("generation_config.json"))
        assertRefused(badGeneration, "bad_words_ids holds the sequence [1, 2]")
        let truncated = try directory()
        let weights = truncated.appendingPathComponent("model.safetensors")
        try Data(contentsOf: weights).prefix(1000).write(to: weights)
        XCTAssertThrowsError(try MarianModelDirectory.load(truncated))
    }

    /// Thousands of damaged variants of a good PyTorch file (bytes of its pickle changed,
    /// the pickle cut short): each reads or throws a `TorchCheckpointError`; none traps.
    func testDamagedPicklesNeverCrash() throws {
        let good = try XCTUnwrap(Bundle.module.url(forResource: "good", withExtension: "bin", subdirectory: "Fixtures/malicious"))
        let archive = try Archive(url: good, accessMode: .read)
        var files: [(String, Data)] = []
        for entry in archive {
            var data = Data()
            _ = try archive.extract(entry) { data.append($0) }
            files.append((entry.path, data))
        }
        let pickleIndex = try XCTUnwrap(files.firstIndex { $0.0.hasSuffix("data.pkl") })
        let pickle = [UInt8](files[pickleIndex].1)
        var generator = SystemRandomNumberGenerator()
        let directory = try temporaryDirectory(for: self, prefix: "nmt-pickle-fuzz")
        for trial in 0..<600 {
            var damaged = pickle
            if trial % 3 == 0 {
                damaged = Array(damaged.prefix(Int.random(in: 0..<damaged.count, using: &generator)))
            } else {
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    damaged[Int.random(in: 0..<damaged.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            var variant = files
            variant[pickleIndex].1 = Data(damaged)
            let url = directory.appendingPathComponent("trial-\(trial).bin")
            try TorchZipWriter.write(variant, to: url)
            // read(from:) throws TorchCheckpointError only (typed throws): a refusal is fine.
            do { _ = try TorchCheckpoint.read(from: url) } catch { XCTAssertFalse(error.description.isEmpty) }
            try FileManager.default.removeItem(at: url)
        }
    }
}
