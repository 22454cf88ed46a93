import Foundation
import Logging
import NMTAccelerator
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// The exponential moving average of the weights (`--ema-decay`).
final class MovingAverageTests: XCTestCase {
    /// One update is decay · average + (1 - decay) · weights; three at once use decay³.
    func testUpdateFormula() throws {
        let configuration = TransformerConfiguration(vocabularySize: 20, hiddenSize: 8, layerCount: 1, headCount: 2, filterSize: 12)
        let start = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        let next = try Transformer(configuration: configuration, key: RandomKey(seed: 2))
        var average = ExponentialMovingAverage(decay: 0.9, startingAt: start)
        average.update(toward: next)
        let old = Dictionary(uniqueKeysWithValues: start.namedParameters.map { ($0.name, $0.tensor.scalars) })
        for (name, tensor) in next.namedParameters {
            let expected = zip(old[name]!, tensor.scalars).map { $0 * Float(0.9) + $1 * (1 - Float(0.9)) }
            XCTAssertEqual(average.weights[name]!.scalars, expected, name)
        }
        var threeAtOnce = ExponentialMovingAverage(decay: 0.9, startingAt: start)
        threeAtOnce.update(toward: next, steps: 3)
        let kept = Float(0.729)
        for (name, tensor) in next.namedParameters {
            assertClose(
                threeAtOnce.weights[name]!, Tensor(shape: tensor.shape, scalars: zip(old[name]!, tensor.scalars).map { $0 * kept + $1 * (1 - kept) }),
                absoluteTolerance: 1e-6, name)
        }
        XCTAssertEqual(
            try average.applied(to: start).namedParameters.map(\.tensor.scalars), next.namedParameters.map { average.weights[$0.name]!.scalars })
    }

    /// Training with a decay saves the average beside the weights; loading a model hands
    /// out the average (or the weights when asked); a resumed run continues the average.
    func testTrainerKeepsSavesAndResumesTheAverage() throws {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let directory = SampleCorpus.directory.appendingPathComponent("ema-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = try SampleCorpus.options(modelDirectory: directory, steps: 10)
        options.emaDecay = 0.9
        let trainer = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
        _ = try trainer.run()
        let average = try XCTUnwrap(trainer.movingAverage)
        let checkpoint = try XCTUnwrap(Checkpoint.latest(in: directory))
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint.appendingPathComponent(ExponentialMovingAverage.fileName).path))
        XCTAssertEqual(try Checkpoint.load(from: checkpoint).manifest.emaDecay, 0.9)
        let averaged = try Checkpoint.loadModel(at: directory)
        let raw = try Checkpoint.loadModel(at: directory, averagedWeights: false)
        XCTAssertEqual(averaged.namedParameters.map(\.tensor.scalars), averaged.namedParameters.map { average.weights[$0.name]!.scalars })
        XCTAssertEqual(raw.namedParameters.map(\.tensor.scalars), trainer.model.namedParameters.map(\.tensor.scalars))
        XCTAssertNotEqual(averaged.namedParameters.map(\.tensor.scalars), raw.namedParameters.map(\.tensor.scalars))
        XCTAssertEqual(try trainer.evaluationModel().namedParameters.map(\.tensor.scalars), averaged.namedParameters.map(\.tensor.scalars))

        options.trainSteps = 20
        let resumed = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
        XCTAssertEqual(
            resumed.movingAverage?.weights.mapValues(\.scalars), average.weights.mapValues(\.scalars), "the saved average continues")
        options.emaDecay = 1
        XCTAssertThrowsError(try options.validate()) { XCTAssertTrue("\($0)".contains("EMA decay"), "\($0)") }
    }
}
