@testable import NMTAccelerator
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// The static sharded device computes what the CPU device computes: the same loss,
/// gradients (through the updated weights) for 1, 2, 4 and 8 shards, with dropout and
/// word dropout on.
final class StaticShardedDeviceTests: XCTestCase {
    let cpuConfiguration: TransformerConfiguration = {
        var c = TransformerConfiguration(vocabularySize: 13, hiddenSize: 8, layerCount: 2, headCount: 2, filterSize: 12)
        // A replayed program must draw a new token mask every step, and shards must
        // drop the tokens the whole batch drops.
        c.wordDropout = 0.2
        return c
    }()

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

    func train<Update: Optimizer>(
        _ device: Device, batches: [[TransformerBatch]], optimizer: Update = Adam()
    ) throws -> (Transformer, [StepSummary]) {
        var model = try Transformer(configuration: cpuConfiguration, key: RandomKey(seed: 1))
        var optimizer = optimizer
        var summaries: [StepSummary] = []
        var step = 10
        for loop in batches {
            summaries += try device.trainSteps(
                model: &model, optimizer: &optimizer, TrainingRequest<Transformer, TransformerBatch>(batches: loop, firstStep: step, learningRate: { _ in 0.01 },
                randomKey: RandomKey(seed: 2), loss: { model, batch, context in model.loss(batch, context: context) }))
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
        try checkParity(optimizer: Adam())
        // Decoupled weight decay strong enough to matter in two steps.
        try checkParity(optimizer: AdamW(weightDecay: 0.5))
    }

    func checkParity<Update: Optimizer>(optimizer: Update) throws {
        let batches = [try batch(3), try batch(4)]
        let (reference, referenceSummaries) = try train(CPUDevice(), batches: batches.map { [$0] }, optimizer: optimizer)
        // The CPU gradient of the first step, for the first step's combined gradient.
        let initial = try Transformer(configuration: cpuConfiguration, key: RandomKey(seed: 1))
        let context = ForwardContext.training(key: RandomKey(seed: 2).split(10), plan: .dynamicShapes)
        let (_, firstGradients) = valueAndGradient(of: initial, attaching: batches[0]) { $0.loss($1, context: context) }
        for shards in [1, 2, 4, 8] {
            let device = try StaticShardedDevice(shards: shards, batchTokens: 48, maxLength: 6)
            _ = try train(device, batches: [[batches[0]]])
            for name in firstGradients.names {
                assertClose(
                    device.lastGradient(named: name)!, firstGradients[name]!, absoluteTolerance: 1e-6, relativeTolerance: 1e-5,
                    "\(shards) shards: gradient of \(name)")
            }
            let (model, summaries) = try train(device, batches: batches.map { [$0] }, optimizer: optimizer)
            for (a, b) in zip(summaries, referenceSummaries) {
                XCTAssertEqual(a.loss, b.loss, accuracy: abs(b.loss) * 1e-5, "\(optimizer.kind), \(shards) shards, step \(a.step)")
                XCTAssertEqual(a.step, b.step)
            }
            assertSameModel(model, reference, "\(optimizer.kind), \(shards) shards")
        }
    }

    /// The CPU device with concurrent replicas (dynamic shapes, each part on a thread of
    /// its own) trains what one replica trains: losses and weights after two steps with
    /// dropout equal to rounding (the tolerance of the static device's shards: the parts'
    /// weighted sums round differently), 3 replicas splitting 8 sentences unevenly; and a
    /// given replica count gives the same floats every run.
    func testCPUReplicasTrainWhatOneReplicaTrains() throws {
        let batches = [try batch(3), try batch(4)].map { [$0] }
        let (reference, referenceSummaries) = try train(CPUDevice(), batches: batches)
        for replicas in [2, 3] {
            let (model, summaries) = try train(CPUDevice(replicas: replicas), batches: batches)
            for (a, b) in zip(summaries, referenceSummaries) {
                XCTAssertEqual(a.loss, b.loss, accuracy: abs(b.loss) * 1e-5, "\(replicas) replicas, step \(a.step)")
            }
            assertSameModel(model, reference, "\(replicas) replicas")
            let (again, againSummaries) = try train(CPUDevice(replicas: replicas), batches: batches)
            XCTAssertEqual(againSummaries, summaries)
            for (x, y) in zip(again.namedParameters, model.namedParameters) { XCTAssertEqual(x.tensor.scalars, y.tensor.scalars, x.name) }
        }
        // More replicas than sentences: the empty parts add nothing. The one sentence runs
        // with its kernels on one thread instead of split across the cores, which may round
        // a product differently on some GEMM kernels: equal to rounding.
        let single = try TransformerBatch(
            inputs: IndexTensor(shape: [1, 3], scalars: [5, 6, 1]), targets: IndexTensor(shape: [1, 3], scalars: [7, 8, 1]),
            vocabularySize: 13)
        let (one, oneSummaries) = try train(CPUDevice(), batches: [[single]])
        let (four, fourSummaries) = try train(CPUDevice(replicas: 4), batches: [[single]])
        for (a, b) in zip(fourSummaries, oneSummaries) { XCTAssertEqual(a.loss, b.loss, accuracy: abs(b.loss) * 1e-5) }
        assertSameModel(four, one, "4 replicas, 1 sentence")
    }

    /// A process alone sums its replicas' gradients inside the optimizer's update; that
    /// gives the floats of summing them in the exchange buffer (`CPUDevice.gradients`) and
    /// updating along the sum: weights, losses and gradient norms bit for bit, 2 and 3
    /// replicas, two steps.
    func testReplicasSummedInsideTheUpdateEqualTheExchangeBuffersSum() throws {
        let batches = [try batch(3), try batch(4)]
        for replicas in [2, 3] {
            let device = CPUDevice(replicas: replicas)
            let (trained, summaries) = try train(device, batches: [batches])
            var model = try Transformer(configuration: cpuConfiguration, key: RandomKey(seed: 1))
            var optimizer = Adam()
            let request = TrainingRequest<Transformer, TransformerBatch>(
                batches: batches, firstStep: 10, learningRate: { _ in 0.01 }, randomKey: RandomKey(seed: 2),
                loss: { model, batch, context in model.loss(batch, context: context) })
            for index in batches.indices {
                let (loss, gradients) = try device.gradients(
                    of: model, parts: request.parts(ofStep: index, evenSplit: false), key: request.key(forStep: 10 + index),
                    loss: request.loss)
                optimizer.update(&model, along: gradients, learningRate: 0.01)
                XCTAssertEqual(summaries[index].loss.bitPattern, loss.bitPattern, "\(replicas) replicas, loss of step \(index)")
                XCTAssertEqual(
                    summaries[index].gradientNorm?.bitPattern, CPUDevice.globalNorm(gradients).bitPattern,
                    "\(replicas) replicas, gradient norm of step \(index)")
            }
            for (x, y) in zip(trained.namedParameters, model.namedParameters) {
                let differing = zip(x.tensor.scalars, y.tensor.scalars).filter { $0.bitPattern != $1.bitPattern }.count
                XCTAssertEqual(differing, 0, "\(replicas) replicas: elements of \(x.name) differ")
            }
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

    /// After compilation a step allocates no tensor memory: parameters, moments and
    /// gradients live in the device, and only the end of a loop copies them to the host.
    func testReplayedStepsAllocateNothing() throws {
        let device = try StaticShardedDevice(shards: 2, batchTokens: 48, maxLength: 6)
        var model = try Transformer(configuration: cpuConfiguration, key: RandomKey(seed: 1))
        var optimizer = Adam()
        let batches = [try batch(11), try batch(12), try batch(13)]
        func loop(_ batches: [TransformerBatch], from step: Int) throws -> (buffers: Int, bytes: Int) {
            let before = BufferPool.shared.allocationCounts
            _ = try device.trainSteps(
                model: &model, optimizer: &optimizer, TrainingRequest<Transformer, TransformerBatch>(batches: batches, firstStep: step, learningRate: { _ in 0.01 },
                randomKey: RandomKey(seed: 2), loss: { model, batch, context in model.loss(batch, context: context) }))
            let after = BufferPool.shared.allocationCounts
            return (after.buffers - before.buffers, after.bytes - before.bytes)
        }
        _ = try loop([batches[0]], from: 0)  // compiles
        XCTAssertEqual(device.compilations, 1)
        let oneStep = try loop([batches[1]], from: 1)
        let threeSteps = try loop(batches, from: 2)
        let parameters = model.namedParameters
        // Per loop: a copy of each parameter and of its two moments for the host.
        XCTAssertEqual(oneStep.buffers, 3 * parameters.count)
        XCTAssertEqual(oneStep.bytes, 3 * 4 * parameters.reduce(0) { $0 + $1.tensor.scalarCount })
        XCTAssertEqual(threeSteps.buffers, oneStep.buffers, "two more replayed steps allocate no buffer")
        XCTAssertEqual(threeSteps.bytes, oneStep.bytes)
    }

    /// The device updates its own memory, never the host's: a copy of the model made before
    /// a loop keeps its values, and a model or optimizer replaced on the host between loops
    /// (a restored checkpoint) is what the next loop trains.
    func testHostValuesAreCopiedNotShared() throws {
        let device = try StaticShardedDevice(shards: 2, batchTokens: 48, maxLength: 6)
        var model = try Transformer(configuration: cpuConfiguration, key: RandomKey(seed: 1))
        let initial = model
        let initialValues = initial.namedParameters.map(\.tensor.scalars)
        var optimizer = Adam()
        func loop(_ device: StaticShardedDevice, _ model: inout Transformer, _ optimizer: inout Adam, seed: UInt64) throws -> Float {
            try device.trainSteps(
                model: &model, optimizer: &optimizer, TrainingRequest<Transformer, TransformerBatch>(batches: [try batch(seed)], firstStep: Int(seed),
                learningRate: { _ in 0.01 }, randomKey: RandomKey(seed: 2),
                loss: { model, batch, context in model.loss(batch, context: context) }))[0].loss
        }
        _ = try loop(device, &model, &optimizer, seed: 20)
        _ = try loop(device, &model, &optimizer, seed: 21)
        XCTAssertEqual(initial.namedParameters.map(\.tensor.scalars), initialValues, "the host's copy is untouched")
        XCTAssertNotEqual(model.namedParameters[0].tensor.scalars, initialValues[0])

        // Back to the initial model and a fresh optimizer: the device must train those, as a
        // new device would.
        var restored = initial, freshOptimizer = Adam()
        let restoredLoss = try loop(device, &restored, &freshOptimizer, seed: 20)
        var reference = initial, referenceOptimizer = Adam()
        let referenceLoss = try loop(try StaticShardedDevice(shards: 2, batchTokens: 48, maxLength: 6), &reference, &referenceOptimizer, seed: 20)
        XCTAssertEqual(restoredLoss, referenceLoss)
        XCTAssertEqual(restored.namedParameters.map(\.tensor.scalars), reference.namedParameters.map(\.tensor.scalars))
        XCTAssertEqual(freshOptimizer.step, 1)
        XCTAssertEqual(freshOptimizer.firstMoments.mapValues(\.scalars), referenceOptimizer.firstMoments.mapValues(\.scalars))
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
        XCTAssertEqual(device.capabilities.executionPlan, .staticShapes)
        XCTAssertEqual(device.capabilities.shardCount, 2)
        XCTAssertFalse(device.capabilities.hostMetrics)
    }
}
