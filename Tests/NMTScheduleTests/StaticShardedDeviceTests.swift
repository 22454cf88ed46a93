import NMTAccelerator
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// The static sharded device computes what the CPU device computes: the same loss,
/// gradients (through the updated weights) for 1, 2, 4 and 8 shards, with dropout on.
final class StaticShardedDeviceTests: XCTestCase {
    let cpuConfiguration = TransformerConfiguration(vocabularySize: 13, hiddenSize: 8, layerCount: 2, headCount: 2, filterSize: 12)

    /// 8 sentences of 6 tokens, padded: the static shape [48 / 6, 6].
    func batch(_ seed: UInt64) throws -> TransformerBatch {
        let draws = Tensor.randomUniform([2, 8, 6], key: RandomKey(seed: seed)).scalars
        func ids(_ offset: Int) -> [Int32] {
            (0..<48).map { i in
                let (row, column) = (i / 6, i % 6)
                let length = 2 + row % 4  // 2...5 real tokens, then EOS, then padding
                if column < length { return 2 + Int32(draws[offset + i] * 11) }
                return column == length ? 1 : 0
            }
        }
        return try TransformerBatch(
            inputs: IndexTensor(shape: [8, 6], scalars: ids(0)), targets: IndexTensor(shape: [8, 6], scalars: ids(48)),
            vocabularySize: 13)
    }

    func train(_ device: Device, batches: [[TransformerBatch]]) throws -> (Transformer, [StepSummary]) {
        var configuration = cpuConfiguration
        configuration.embeddingMethod = device.capabilities.embeddingMethod
        configuration.allowsPaddingRemoval = device.capabilities.allowsPaddingRemoval
        var model = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        var optimizer = Adam()
        var summaries: [StepSummary] = []
        var step = 10
        for loop in batches {
            summaries += try device.trainSteps(
                model: &model, optimizer: &optimizer, batches: loop, firstStep: step, learningRate: { _ in 0.01 },
                randomKey: RandomKey(seed: 2), loss: { model, batch, context in model.loss(batch, context: context) })
            step += loop.count
        }
        return (model, summaries)
    }

    func assertSameModel(_ a: Transformer, _ b: Transformer, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        for (x, y) in zip(a.namedParameters, b.namedParameters) {
            assertClose(x.tensor, y.tensor, absoluteTolerance: 1e-5, relativeTolerance: 1e-5, "\(message): \(x.name)", file: file, line: line)
        }
    }

    func testParityWithTheCPUDeviceForEveryShardCount() throws {
        let batches = [try batch(3), try batch(4)]
        let (reference, referenceSummaries) = try train(CPUDevice(), batches: batches.map { [$0] })
        for shards in [1, 2, 4, 8] {
            let device = try StaticShardedDevice(shards: shards, batchTokens: 48, maxLength: 6)
            let (model, summaries) = try train(device, batches: batches.map { [$0] })
            for (a, b) in zip(summaries, referenceSummaries) {
                XCTAssertEqual(a.loss, b.loss, accuracy: abs(b.loss) * 1e-5, "\(shards) shards, step \(a.step)")
                XCTAssertEqual(a.step, b.step)
            }
            assertSameModel(model, reference, "\(shards) shards")
        }
    }

    /// A compiled program replayed on new data computes exactly what eager execution does.
    func testCompiledStepsReplayExactlyAndCompileOncePerShape() throws {
        let batches = [try batch(8), try batch(9), try batch(10)].map { [$0] }
        let compiled = try StaticShardedDevice(shards: 2, batchTokens: 48, maxLength: 6)
        let eager = try StaticShardedDevice(shards: 2, batchTokens: 48, maxLength: 6, compiles: false)
        let (compiledModel, compiledSummaries) = try train(compiled, batches: batches)
        let (eagerModel, eagerSummaries) = try train(eager, batches: batches)
        XCTAssertEqual(compiledSummaries, eagerSummaries)
        for (x, y) in zip(compiledModel.namedParameters, eagerModel.namedParameters) {
            XCTAssertEqual(x.tensor.scalars, y.tensor.scalars, x.name)
        }
        XCTAssertEqual(compiled.compilations, 1, "one static shape, compiled once")
        XCTAssertGreaterThan(compiled.compilationSeconds, 0)
        XCTAssertEqual(eager.compilations, 0)
    }

    func testIterationsPerLoopEqualSingleSteps() throws {
        let device = try StaticShardedDevice(shards: 2, batchTokens: 48, maxLength: 6)
        let batches = [try batch(5), try batch(6), try batch(7)]
        let (looped, loopedSummaries) = try train(device, batches: [batches])
        let (single, singleSummaries) = try train(device, batches: batches.map { [$0] })
        XCTAssertEqual(loopedSummaries, singleSummaries)
        for (x, y) in zip(looped.namedParameters, single.namedParameters) { XCTAssertEqual(x.tensor.scalars, y.tensor.scalars, x.name) }
    }

    func testRejections() throws {
        XCTAssertThrowsError(try StaticShardedDevice(shards: 3, batchTokens: 48, maxLength: 6)) { error in
            XCTAssertTrue("\(error)".contains("8 sentences") && "\(error)".contains("3 shards"), "\(error)")
        }
        let device = try StaticShardedDevice(shards: 2, batchTokens: 48, maxLength: 6)
        let wrong = try TransformerBatch(
            inputs: IndexTensor(shape: [8, 5], scalars: [Int32](repeating: 2, count: 40)),
            targets: IndexTensor(shape: [8, 5], scalars: [Int32](repeating: 2, count: 40)), vocabularySize: 13)
        XCTAssertThrowsError(try train(device, batches: [[wrong]])) { error in
            XCTAssertEqual(error as? DeviceError, .batchShape(expected: [8, 6], actual: [8, 5]))
        }
        XCTAssertThrowsError(try device.capabilities.validate(embeddingMethod: .gather, paddingRemoval: false))
        XCTAssertThrowsError(try device.capabilities.validate(embeddingMethod: .matmul, paddingRemoval: true))
        XCTAssertEqual(device.capabilities.shardCount, 2)
        XCTAssertFalse(device.capabilities.hostMetrics)
    }
}
