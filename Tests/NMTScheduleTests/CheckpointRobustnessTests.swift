import Foundation
import Logging
import NMTAccelerator
import NMTData
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// Broken, stale and inconsistent checkpoint folders: resuming and translating fall back
/// to the newest usable checkpoint, stale temporaries are removed, contradictions are
/// refused with their reason.
final class CheckpointRobustnessTests: XCTestCase {
    var directory: URL!
    var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// A model directory with checkpoints 1 and 2 of a 2-step run.
    override func setUpWithError() throws {
        directory = SampleCorpus.directory.appendingPathComponent("robust-\(UUID().uuidString)")
        var options = try SampleCorpus.options(modelDirectory: directory, steps: 2)
        options.checkpointEvery = 1
        _ = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger).run()
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func names() throws -> [String] { try Checkpoint.checkpoints(in: directory).map(\.lastPathComponent) }

    func testBrokenNewerCheckpointsAreSkipped() throws {
        let manager = FileManager.default
        try manager.createDirectory(at: directory.appendingPathComponent("checkpoint-00000700"), withIntermediateDirectories: true)
        try Data("not a folder".utf8).write(to: directory.appendingPathComponent("checkpoint-00000800"))
        try Data().write(to: directory.appendingPathComponent("checkpoint-notes"))
        // A copy of checkpoint 2 under another step's name contradicts its manifest.
        try manager.copyItem(at: directory.appendingPathComponent("checkpoint-00000002"), to: directory.appendingPathComponent("checkpoint-00000009"))
        XCTAssertEqual(try names(), ["checkpoint-00000001", "checkpoint-00000002", "checkpoint-00000009", "checkpoint-00000700"])
        let (usable, skipped) = try Checkpoint.newestUsable(in: directory)
        XCTAssertEqual(usable?.lastPathComponent, "checkpoint-00000002")
        XCTAssertEqual(skipped.map(\.0.lastPathComponent), ["checkpoint-00000700", "checkpoint-00000009"])
        XCTAssertTrue(skipped[1].1.contains("folder name says step 9, the manifest 2"), skipped[1].1)
        XCTAssertThrowsError(try Checkpoint.load(from: directory.appendingPathComponent("checkpoint-00000009"))) {
            XCTAssertTrue("\($0)".contains("inconsistent"), "\($0)")
        }

        // Resuming and translating use checkpoint 2.
        var options = try SampleCorpus.options(modelDirectory: directory, steps: 3)
        options.checkpointEvery = 1
        let trainer = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
        XCTAssertEqual(trainer.currentStep, 2)
        let expected = try Checkpoint.load(from: directory.appendingPathComponent("checkpoint-00000002")).model
        let loaded = try Checkpoint.loadModel(at: directory)
        XCTAssertEqual(loaded.namedParameters.map(\.tensor.scalars), expected.namedParameters.map(\.tensor.scalars))
    }

    func testStaleTemporariesOfDeadProcessesAreRemoved() throws {
        // No process has this PID (above Linux's default pid_max of 4194304); PID 1 lives.
        let dead = directory.appendingPathComponent(".checkpoint-00000003.tmp-4194999")
        let alive = directory.appendingPathComponent(".checkpoint-00000003.tmp-1")
        for folder in [dead, alive] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(count: 1000).write(to: folder.appendingPathComponent("model.safetensors"))
        }
        var options = try SampleCorpus.options(modelDirectory: directory, steps: 2)
        options.checkpointEvery = 1
        _ = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead.path), "a dead process's temporary is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: alive.path), "a running process may still be writing")
    }

    func testInconsistentManifestsAreRefused() throws {
        let checkpoint = directory.appendingPathComponent("checkpoint-00000002")
        // Checked behind the file checksums, as in a checkpoint written before them.
        try removeFileChecksums(fromCheckpoint: checkpoint)
        let manifestURL = checkpoint.appendingPathComponent("manifest.json")
        let original = try Data(contentsOf: manifestURL)
        var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: original) as? [String: Any])

        manifest["step"] = -4
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        XCTAssertThrowsError(try Checkpoint.load(from: checkpoint)) { XCTAssertTrue("\($0)".contains("step -4 is negative"), "\($0)") }

        // configuration.json that describes another model than the manifest.
        try original.write(to: manifestURL)
        let configurationURL = checkpoint.appendingPathComponent("configuration.json")
        var configuration = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: configurationURL)) as? [String: Any])
        configuration["labelSmoothing"] = 0.3
        try JSONSerialization.data(withJSONObject: configuration).write(to: configurationURL)
        XCTAssertThrowsError(try Checkpoint.load(from: checkpoint)) {
            XCTAssertTrue("\($0)".contains("configuration.json and the manifest"), "\($0)")
        }
    }

    func testAnotherVocabularyIsRefusedWhenLoadingForTranslation() throws {
        let hash = try XCTUnwrap(Checkpoint.load(from: directory.appendingPathComponent("checkpoint-00000002")).manifest.vocabularyHash)
        XCTAssertNoThrow(try Checkpoint.loadModel(at: directory, vocabularyHash: hash))
        XCTAssertThrowsError(try Checkpoint.loadModel(at: directory, vocabularyHash: "0badf00d")) { error in
            XCTAssertEqual(error as? CheckpointError, .vocabularyMismatch(
                path: directory.appendingPathComponent("checkpoint-00000002").path, saved: hash, current: "0badf00d"))
        }
    }

    /// Steps past 8 digits get longer names and still sort by step; 2^62 keeps its digits.
    func testLargeStepsAreNamedAndOrderedByNumber() throws {
        let restored = try Checkpoint.load(from: directory.appendingPathComponent("checkpoint-00000002"))
        var optimizer = Adam()
        try restored.restore(&optimizer)
        for step in [99_999_999, 100_000_000, 1 << 62] {
            var manifest = restored.manifest
            manifest.step = step
            try Checkpoint.save(model: restored.model, optimizer: optimizer, manifest: manifest, in: directory, keep: 10)
        }
        XCTAssertEqual(
            try names().suffix(3), ["checkpoint-99999999", "checkpoint-100000000", "checkpoint-4611686018427387904"])
        XCTAssertEqual(try Checkpoint.latest(in: directory)?.lastPathComponent, "checkpoint-4611686018427387904")
    }
}
