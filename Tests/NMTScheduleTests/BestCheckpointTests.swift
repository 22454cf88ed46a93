import Foundation
import Logging
import NMTAccelerator
import NMTData
import NMTSchedule
import NMTTestSupport
import XCTest

/// The best checkpoint by dev BLEU and early stopping (`TrainingOptions.patience`).
final class BestCheckpointTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws {
        directory = SampleCorpus.directory.appendingPathComponent("best-\(UUID().uuidString)")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// Options that evaluate BLEU on 4 dev sentences every 5 steps.
    func options(steps: Int, patience: Int?) throws -> TrainingOptions {
        var options = try SampleCorpus.options(modelDirectory: directory, steps: steps)
        options.stepsBetweenEvals = 5
        let root = try SampleCorpus.prepared.get()
        for language in ["en", "de"] {
            let lines = try CorpusPreparer.lines(of: root.appendingPathComponent("dev.\(language)")).prefix(4)
            try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: root.appendingPathComponent("bleu-\(language).txt"))
        }
        options.bleuSource = root.appendingPathComponent("bleu-en.txt")
        options.bleuReference = root.appendingPathComponent("bleu-de.txt")
        options.patience = patience
        return options
    }

    /// A barely trained model scores BLEU 0 at every evaluation: the first is the best and
    /// is kept in checkpoint-best; with patience 2 training stops after two more
    /// evaluations; a resumed run carries the count on and stops at its next evaluation
    /// with patience 3.
    func testBestIsKeptApartAndPatienceStopsTraining() throws {
        let report = try Trainer(
            options: options(steps: 40, patience: 2), configuration: SampleCorpus.configuration, device: CPUDevice(),
            logger: logger
        ).run()
        XCTAssertTrue(report.stoppedEarly)
        XCTAssertEqual(report.steps, 15, "evaluations at 5 (best), 10 and 15 (no better)")
        XCTAssertEqual(report.bleuUncased, 0)
        XCTAssertEqual(report.best, BestCheckpoint(step: 5, bleuUncased: 0, bleuCased: 0, evaluationsWithoutImprovement: 2))
        XCTAssertEqual(try BestCheckpoint.read(in: directory), report.best)
        let best = BestCheckpoint.directory(in: directory)
        XCTAssertEqual(try Checkpoint.checkpoints(in: best).map(\.lastPathComponent), ["checkpoint-00000005"])
        XCTAssertEqual(try Checkpoint.latest(in: directory)?.lastPathComponent, "checkpoint-00000015", "rolling ones as before")
        _ = try Checkpoint.loadModel(at: best)

        let resumed = try Trainer(
            options: options(steps: 40, patience: 3), configuration: SampleCorpus.configuration, device: CPUDevice(),
            logger: logger
        ).run()
        XCTAssertTrue(resumed.stoppedEarly)
        XCTAssertEqual(resumed.steps, 20)
        XCTAssertEqual(resumed.best?.evaluationsWithoutImprovement, 3)
        XCTAssertEqual(resumed.best?.step, 5)
    }

    /// Patience needs BLEU and a positive count.
    func testPatienceIsValidated() throws {
        var options = try options(steps: 10, patience: 0)
        XCTAssertThrowsError(try options.validate()) { XCTAssertTrue("\($0)".contains("patience"), "\($0)") }
        options.patience = 2
        options.bleuSource = nil
        XCTAssertThrowsError(try options.validate()) { XCTAssertTrue("\($0)".contains("needs a BLEU source"), "\($0)") }
    }
}
