import Foundation
import Logging
import NMTAccelerator
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTransformer
import XCTest

/// Fine-tuning's start: a run with no checkpoint starts from the given weights, not a
/// random initialization; a model of another configuration is refused; a checkpoint in
/// the directory still wins (resuming).
final class InitialModelTests: XCTestCase {
    var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    func run(_ name: String, steps: Int, from initial: Transformer?) throws -> Transformer {
        let directory = SampleCorpus.directory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        var options = try SampleCorpus.options(modelDirectory: directory, steps: steps)
        options.checkpointEvery = 1
        let trainer = try Trainer(
            options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger, initialModel: initial)
        _ = try trainer.run()
        return try Checkpoint.loadModel(at: directory)
    }

    /// Largest element-wise difference between two models' weights.
    func distance(_ a: Transformer, _ b: Transformer) -> Float {
        zip(a.namedParameters, b.namedParameters).map { pair in
            zip(pair.0.tensor.scalars, pair.1.tensor.scalars).map { abs($0 - $1) }.max() ?? 0
        }.max() ?? 0
    }

    func testANewRunStartsFromTheGivenWeights() throws {
        // The run's configuration (vocabulary size included) with other random weights
        // than the run's own seed would draw.
        let configuration = try run("size", steps: 1, from: nil).configuration
        let initial = try Transformer(configuration: configuration, key: RandomKey(seed: 99))
        let fineTuned = try run("fine-tuned", steps: 2, from: initial)
        let fromScratch = try run("scratch", steps: 2, from: nil)
        // Two steps (the first at learning rate 0, the reference schedule) move each weight
        // by about the learning rate, far less than two random initializations differ.
        let moved = distance(fineTuned, initial), apart = distance(fromScratch, initial)
        XCTAssertGreaterThan(moved, 0, "the fine-tuned run trained")
        XCTAssertLessThan(moved * 10, apart, "fine-tuning moved \(moved) from the given weights; a new run is \(apart) away")
    }

    func testAModelOfAnotherConfigurationIsRefused() throws {
        var configuration = SampleCorpus.configuration
        configuration.vocabularySize = 7
        configuration.filterSize += 8
        let other = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        XCTAssertThrowsError(try run("other", steps: 1, from: other)) { error in
            XCTAssertTrue("\(error)".contains("the initial model") && "\(error)".contains("filterSize"), "\(error)")
        }
    }
}
