import Foundation
import Logging
import NMTAccelerator
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// Gradient accumulation: K micro-batches per update equal one batch of them all.
final class GradientAccumulationTests: XCTestCase {
    let configuration = TransformerConfiguration(vocabularySize: 13, hiddenSize: 8, layerCount: 2, headCount: 2, filterSize: 12)

    /// 8 sentences of 2-5 tokens, EOS and padding to 6.
    func batch(_ seed: UInt64) throws -> TransformerBatch {
        let draws = Tensor.randomUniform([96], key: RandomKey(seed: seed)).scalars
        func ids(_ offset: Int) -> [Int32] {
            (0..<48).map { i in
                let (row, column) = (i / 6, i % 6)
                let length = 2 + (row * 3 + Int(offset / 48)) % 4
                if column < length { return 2 + Int32(draws[offset + i] * 11) }
                return column == length ? 1 : 0
            }
        }
        return try TransformerBatch(
            inputs: IndexTensor(shape: [8, 6], scalars: ids(0)), targets: IndexTensor(shape: [8, 6], scalars: ids(48)),
            vocabularySize: 13)
    }

    /// With dropout on, the loss and every gradient of 2 or 3 micro-batches equal the whole
    /// batch's to float rounding: each micro-batch is weighted by its target tokens, and its
    /// dropout masks are the ones its sentences get in the whole batch.
    func testMicroBatchesGiveTheWholeBatchGradient() throws {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 3))
        let whole = try batch(7)
        let device = CPUDevice()
        let key = RandomKey(seed: 11)
        let loss = { (model: Transformer, batch: TransformerBatch, context: ForwardContext) in model.loss(batch, context: context) }
        func gradients(_ microBatches: [TransformerBatch], key: RandomKey) throws -> (loss: Float, gradients: ParameterGradients) {
            let parts = try BatchPart.parts(of: microBatches, rank: 0, size: 1, evenSplit: false)
            return try device.gradients(of: model, parts: parts, key: key, loss: loss)
        }
        let (wholeLoss, wholeGradients) = try gradients([whole], key: key)
        for ranges in [[0..<4, 4..<8], [0..<2, 2..<5, 5..<8]] {
            let (partsLoss, partsGradients) = try gradients(ranges.map { whole.sentences($0) }, key: key)
            XCTAssertEqual(partsLoss, wholeLoss, accuracy: 2e-6 * abs(wholeLoss), "\(ranges)")
            for name in wholeGradients.names {
                assertClose(partsGradients[name]!, wholeGradients[name]!, absoluteTolerance: 1e-6, relativeTolerance: 1e-4, "\(name), \(ranges)")
            }
        }
        // The comparison ran with dropout: another key gives another gradient.
        let (otherLoss, _) = try gradients([whole], key: RandomKey(seed: 12))
        XCTAssertNotEqual(otherLoss, wholeLoss)
    }

    /// The trainer with --accumulate 2 makes one update per 2 batches: 5 steps read the
    /// 10 batches (and tokens) 10 steps read without it, and the checkpoint's data
    /// position says so; the static device refuses accumulation.
    func testTrainerUpdatesOncePerKBatches() throws {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        func run(steps: Int, accumulate: Int) throws -> (TrainingReport, CheckpointManifest) {
            let directory = SampleCorpus.directory.appendingPathComponent("accumulate-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            var options = try SampleCorpus.options(modelDirectory: directory, steps: steps)
            options.accumulationSteps = accumulate
            let report = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger).run()
            let manifest = try Checkpoint.load(from: try XCTUnwrap(Checkpoint.latest(in: directory))).manifest
            return (report, manifest)
        }
        let (plain, plainManifest) = try run(steps: 10, accumulate: 1)
        let (accumulated, accumulatedManifest) = try run(steps: 5, accumulate: 2)
        XCTAssertEqual(accumulated.steps, 5)
        XCTAssertEqual(accumulated.losses.count, 5)
        XCTAssertEqual(accumulated.targetTokens, plain.targetTokens)
        XCTAssertEqual(accumulatedManifest.datasetPosition, plainManifest.datasetPosition)

        var options = try SampleCorpus.options(modelDirectory: SampleCorpus.directory.appendingPathComponent("static-\(UUID().uuidString)"), steps: 4)
        options.accumulationSteps = 2
        options.staticBatches = true
        let device = try StaticShardedDevice(shards: 1, batchTokens: options.batchTokens, maxLength: options.maxLength)
        XCTAssertThrowsError(try Trainer(options: options, configuration: SampleCorpus.configuration, device: device, logger: logger)) {
            XCTAssertTrue("\($0)".contains("does not accumulate"), "\($0)")
        }
    }
}
