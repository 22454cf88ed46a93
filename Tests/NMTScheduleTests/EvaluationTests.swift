import NMTAccelerator
import NMTData
import NMTSchedule
import NMTTensor
import NMTTransformer
import XCTest

/// Evaluation gives the same loss and metrics on every device: the static device's
/// replicas evaluate their sentences of each batch and their sums are combined.
final class EvaluationTests: XCTestCase {
    func testStaticDeviceReplicasEvaluateLikeTheCPUDevice() throws {
        let root = try SampleCorpus.prepared.get()
        let tokenizer = try Subtokenizer(vocabularyFile: root.appendingPathComponent("sample.vocab"))
        let configuration = SampleCorpus.configuration.withVocabularySize(tokenizer.vocabularySize)
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 4))
        let pattern = root.appendingPathComponent("data/*dev*").path
        func evaluate(_ device: Device) throws -> [String: Double] {
            // The CPU-configured model: evaluation sets it up for each device.
            try Evaluation.run(model: model, filePattern: pattern, batchTokens: 400, maxLength: 40, staticBatches: true, device: device)
        }
        let cpu = try evaluate(CPUDevice())
        // The loss is the mean over batches of each batch's label-smoothed mean, as computed here.
        let dataset = try TranslationDataset(
            filePattern: pattern, options: DatasetOptions(batchTokens: 400, maxLength: 40, staticBatches: true))
        let iterator = try dataset.makeIterator()
        var losses: [Double] = []
        while let tokens = try iterator.next() {
            let batch = try TransformerBatch(tokens, vocabularySize: configuration.vocabularySize)
            let logits = model(inputs: batch.inputs, targets: batch.targets, context: .inference(plan: .dynamicShapes))
            losses.append(Double(TransformerLoss.mean(logits: logits, labels: batch.targets, smoothing: 0.1).scalar))
        }
        XCTAssertGreaterThan(losses.count, 1)
        XCTAssertEqual(cpu["loss"]!, losses.reduce(0, +) / Double(losses.count), accuracy: 1e-6)
        for shards in [1, 2] {
            let results = try evaluate(try StaticShardedDevice(shards: shards, batchTokens: 400, maxLength: 40))
            XCTAssertNil(results["metrics/approx_bleu_score"], "no host metrics on the static device")
            XCTAssertEqual(Set(results.keys), Set(cpu.keys).subtracting(["metrics/approx_bleu_score", "metrics/rouge_2_fscore", "metrics/rouge_L_fscore"]))
            for (name, value) in results {
                XCTAssertEqual(value, cpu[name]!, accuracy: 1e-5 * max(1, abs(cpu[name]!)), "\(shards) shards: \(name)")
            }
        }
    }

    /// Data whose targets are only padding has no loss: an error saying so, not NaN.
    func testDataWithoutTargetTokensIsAnError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nmt-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TFRecordWriter(url: directory.appendingPathComponent("x-dev-00001-of-00001"))
        for _ in 0..<3 { try writer.write(TranslationExample(inputs: [5, 6, 1], targets: [0, 0]).serialized) }
        try writer.close()
        let configuration = SampleCorpus.configuration.withVocabularySize(9)
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 4))
        let pattern = directory.appendingPathComponent("*dev*").path
        XCTAssertThrowsError(
            try Evaluation.run(model: model, filePattern: pattern, batchTokens: 400, maxLength: 40, device: CPUDevice())
        ) { error in
            XCTAssertEqual(error as? EvaluationError, .noTargetTokens(pattern: pattern))
        }
    }
}
