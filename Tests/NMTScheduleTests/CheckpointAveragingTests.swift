import Foundation
import NMTData
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// Checkpoint averaging: the library call and `nmt-average`.
final class CheckpointAveragingTests: XCTestCase {
    let configuration = TransformerConfiguration(vocabularySize: 40, hiddenSize: 8, layerCount: 1, headCount: 2, filterSize: 12)
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("nmt-average-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Saves a model (from `seed`) as the checkpoint of `step` in `run`.
    @discardableResult
    func save(step: Int, seed: UInt64, run: String = "run", vocabularyHash: String = "0badf00d", configuration: TransformerConfiguration? = nil) throws -> (URL, Transformer) {
        let model = try Transformer(configuration: configuration ?? self.configuration, key: RandomKey(seed: seed))
        let optimizer = Adam()
        let manifest = CheckpointManifest(
            configuration: model.configuration, vocabularyHash: vocabularyHash, step: step, seed: 1,
            datasetPosition: DatasetPosition(epoch: 0, batchesInEpoch: step))
        let url = try Checkpoint.save(
            model: model, optimizer: optimizer, manifest: manifest, in: directory.appendingPathComponent(run), keep: 10)
        return (url, model)
    }

    /// Every weight is the mean of the inputs' (computed here in double precision from the
    /// inputs' floats); the result is a complete checkpoint of the newest step that lists
    /// the steps averaged and keeps the newest's optimizer state and data position.
    func testAverageIsTheElementWiseMeanInANewCheckpoint() throws {
        let inputs = try [(30, 7), (10, 5), (20, 6)].map { try save(step: $0.0, seed: UInt64($0.1)) }
        let output = directory.appendingPathComponent("average")
        let written = try Checkpoint.average(inputs.map(\.0), into: output)
        XCTAssertEqual(written.lastPathComponent, "checkpoint-00000030")
        let restored = try Checkpoint.load(from: written, expectedConfiguration: configuration, vocabularyHash: "0badf00d")
        XCTAssertEqual(restored.manifest.averagedSteps, [10, 20, 30])
        XCTAssertEqual(restored.manifest.step, 30)
        XCTAssertEqual(restored.manifest.datasetPosition, DatasetPosition(epoch: 0, batchesInEpoch: 30))
        XCTAssertEqual(
            try Data(contentsOf: written.appendingPathComponent(Checkpoint.optimizerFileName)),
            try Data(contentsOf: inputs[0].0.appendingPathComponent(Checkpoint.optimizerFileName)), "the newest's optimizer state")
        let parameters = inputs.map { Dictionary(uniqueKeysWithValues: $0.1.namedParameters.map { ($0.name, $0.tensor.scalars) }) }
        for (name, tensor) in restored.model.namedParameters {
            let expected = (0..<tensor.scalarCount).map { i in Float(parameters.map { Double($0[name]![i]) }.reduce(0, +) / 3) }
            XCTAssertEqual(tensor.scalars, expected, name)
        }
        // An average of one checkpoint is that checkpoint's weights.
        let single = try Checkpoint.average([inputs[0].0], into: directory.appendingPathComponent("single"))
        XCTAssertEqual(
            try Checkpoint.loadModel(at: single).namedParameters.map(\.tensor.scalars), inputs[0].1.namedParameters.map(\.tensor.scalars))
        XCTAssertEqual(try Checkpoint.newest(2, in: directory.appendingPathComponent("run")).map(\.lastPathComponent),
                       ["checkpoint-00000020", "checkpoint-00000030"])
    }

    /// Checkpoints that do not belong together are refused with the reason.
    func testMismatchedCheckpointsAreRefused() throws {
        let (a, _) = try save(step: 1, seed: 1)
        let (otherVocabulary, _) = try save(step: 2, seed: 2, run: "b", vocabularyHash: "12345678")
        let (otherModel, _) = try save(step: 3, seed: 3, run: "c", configuration: configuration.withVocabularySize(41))
        let (sameStep, _) = try save(step: 1, seed: 4, run: "d")
        let output = directory.appendingPathComponent("out")
        for (inputs, message) in [([a, otherVocabulary], "vocabulary"), ([a, otherModel], "another model configuration"),
                                  ([a, sameStep], "are both step 1"), ([], "no checkpoints")] {
            XCTAssertThrowsError(try Checkpoint.average(inputs, into: output)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
        XCTAssertThrowsError(try Checkpoint.newest(3, in: directory.appendingPathComponent("run"))) { error in
            XCTAssertTrue("\(error)".contains("holds 1 usable checkpoints; 3 were asked for"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "nothing written")
    }

    /// `nmt-average --model-dir DIR --last N --output OUT` writes the library's average;
    /// wrong flag combinations fail with a one-line reason.
    func testAverageCommand() throws {
        let inputs = try [(1, 1), (2, 2), (3, 3)].map { try save(step: $0.0, seed: UInt64($0.1)) }
        let run = directory.appendingPathComponent("run").path, output = directory.appendingPathComponent("avg").path
        let done = try runProduct("nmt-average", ["--model-dir", run, "--last", "2", "--output", output], testCase: Self.self)
        XCTAssertEqual(done.status, 0, done.error)
        XCTAssertTrue(done.output.contains("averaged checkpoint-00000002, checkpoint-00000003"), done.output)
        let expected = try Checkpoint.average(inputs[1...].map(\.0), into: directory.appendingPathComponent("library"))
        XCTAssertEqual(
            try Checkpoint.loadModel(at: URL(fileURLWithPath: output)).namedParameters.map(\.tensor.scalars),
            try Checkpoint.loadModel(at: expected).namedParameters.map(\.tensor.scalars))
        for (arguments, message) in [
            (["--output", output], "give --inputs"), (["--model-dir", run, "--output", output], "give --inputs"),
            (["--model-dir", run, "--last", "0", "--output", output], "--last must be in 1...1000"),
            (["--model-dir", run, "--last", "2", "--output", run], "holds the input"),
            (["--model-dir", run, "--last", "9", "--output", output], "holds 3 usable checkpoints; 9 were asked for"),
            (["--inputs", directory.appendingPathComponent("missing").path, "--output", output], "does not exist"),
        ] {
            let failed = try runProduct("nmt-average", arguments, testCase: Self.self)
            XCTAssertNotEqual(failed.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(failed.error.contains(message), "\(arguments): \(failed.error)")
        }
    }

    /// The bytes of every file of every checkpoint in `folder`, to show nothing changed.
    func contents(of folder: URL) throws -> [String: Data] {
        var result: [String: Data] = [:]
        for checkpoint in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let url = folder.appendingPathComponent(checkpoint)
            for file in (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [] {
                result[checkpoint + "/" + file] = try Data(contentsOf: url.appendingPathComponent(file))
            }
        }
        return result
    }

    /// An output that would replace, nest in or rotate away checkpoints is refused before
    /// anything is written: the training run's own folder (also through a symbolic link;
    /// it once had checkpoint-00011000 replaced), a folder of another run's checkpoints
    /// (the rotation of kept checkpoints once deleted 3 of its 7), an input checkpoint
    /// itself or a folder inside it. A new or empty folder is fine.
    func testOutputsThatWouldLoseCheckpointsAreRefused() throws {
        let inputs = try [(1, 1), (2, 2), (3, 3)].map { try save(step: $0.0, seed: UInt64($0.1)) }
        for step in 1...7 { try save(step: step, seed: UInt64(10 + step), run: "other") }
        let run = directory.appendingPathComponent("run"), other = directory.appendingPathComponent("other")
        let link = directory.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: run)
        let before = try contents(of: run), otherBefore = try contents(of: other)
        for (output, message) in [
            (run, "holds the input"), (link, "holds the input"),
            (other, "already holds checkpoints (checkpoint-00000001, checkpoint-00000002, checkpoint-00000003, …)"),
            (inputs[2].0, "is or lies inside the input"), (inputs[2].0.appendingPathComponent("nested"), "is or lies inside the input"),
        ] {
            XCTAssertThrowsError(try Checkpoint.average(inputs.map(\.0), into: output), output.path) { error in
                XCTAssertTrue("\(error)".contains(message), "\(output.path): \(error)")
            }
        }
        XCTAssertEqual(try contents(of: run), before, "the inputs' folder is untouched")
        XCTAssertEqual(try contents(of: other), otherBefore, "another run's checkpoints are untouched")
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertNoThrow(try Checkpoint.average(inputs.map(\.0), into: empty))
    }

    /// Every checkpoint file's checksum is in the manifest: a flipped bit in the weights is
    /// refused when loading and averaging (it was averaged and loaded silently).
    func testADamagedWeightsFileIsRefused() throws {
        let (checkpoint, _) = try save(step: 5, seed: 5)
        let (other, _) = try save(step: 6, seed: 6)
        let manifest = try Checkpoint.load(from: checkpoint).manifest
        XCTAssertEqual(manifest.fileChecksums?.keys.sorted(), ["configuration.json", "model.safetensors", "optimizer.safetensors"])
        let weights = checkpoint.appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count - 3] ^= 0x10
        try bytes.write(to: weights)
        for attempt in [{ _ = try Checkpoint.load(from: checkpoint) }, { _ = try Checkpoint.loadModel(at: checkpoint) },
                        { _ = try Checkpoint.average([checkpoint, other], into: self.directory.appendingPathComponent("avg")) }] {
            XCTAssertThrowsError(try attempt()) { XCTAssertTrue("\($0)".contains("model.safetensors is damaged"), "\($0)") }
        }
    }
}
