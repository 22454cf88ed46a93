import Foundation
import Logging
import NMTAccelerator
import NMTData
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import Synchronization
import XCTest

/// A small corpus prepared once: 300 Ding pairs to train on, 60 to evaluate, a vocabulary
/// built from the training half.
enum SampleCorpus {
    /// Removed when the test process exits: several test classes share it.
    static let directory: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nmt-sample-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: SampleCorpus.directory) }
        return directory
    }()

    static let prepared: Result<URL, Error> = Result {
        let english = try CorpusPreparer.lines(of: fixture("sample.en")), german = try CorpusPreparer.lines(of: fixture("sample.de"))
        func write(_ lines: ArraySlice<String>, _ name: String) throws -> URL {
            let url = directory.appendingPathComponent(name)
            try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: url)
            return url
        }
        let trainEN = try write(english[..<300], "train.en"), trainDE = try write(german[..<300], "train.de")
        let devEN = try write(english[300...], "dev.en"), devDE = try write(german[300...], "dev.de")
        let tokenizer = try VocabularyBuilder.build(files: [trainEN, trainDE], targetSize: 0, threshold: 0, minCount: 4)
        let vocabulary = directory.appendingPathComponent("sample.vocab")
        try tokenizer.write(to: vocabulary)
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        _ = try CorpusPreparer.writeShards(source: trainEN, target: trainDE, tokenizer: tokenizer, directory: data, name: "sample", tag: "train", shards: 2, shuffleSeed: 1)
        _ = try CorpusPreparer.writeShards(source: devEN, target: devDE, tokenizer: tokenizer, directory: data, name: "sample", tag: "dev", shards: 1, shuffleSeed: nil)
        try ShardVocabularyRecord(vocabularyFile: vocabulary).write(in: data)
        return directory
    }

    static func fixture(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
    }

    static let configuration = TransformerConfiguration(hiddenSize: 32, layerCount: 2, headCount: 4, filterSize: 64)

    static func options(modelDirectory: URL, steps: Int) throws -> TrainingOptions {
        let root = try prepared.get()
        var options = TrainingOptions(
            dataDirectory: root.appendingPathComponent("data"), modelDirectory: modelDirectory,
            vocabularyFile: root.appendingPathComponent("sample.vocab"))
        options.batchTokens = 400
        options.maxLength = 40
        options.trainSteps = steps
        options.stepsBetweenEvals = steps
        options.warmupSteps = 20
        options.checkpointEvery = 1000
        options.seed = 3
        return options
    }
}

final class TrainerTests: XCTestCase {
    var modelDirectories: [URL] = []
    func modelDirectory() -> URL {
        let url = SampleCorpus.directory.appendingPathComponent("model-\(UUID().uuidString)")
        modelDirectories.append(url)
        return url
    }
    override func tearDown() { for url in modelDirectories { try? FileManager.default.removeItem(at: url) } }

    var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    func testTinyModelLossFalls() throws {
        let directory = modelDirectory()
        let trainer = try Trainer(
            options: SampleCorpus.options(modelDirectory: directory, steps: 40),
            configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
        let report = try trainer.run()
        XCTAssertEqual(report.steps, 40)
        XCTAssertEqual(report.losses.count, 40)
        let first = report.losses.prefix(5).reduce(0, +) / 5, last = report.losses.suffix(5).reduce(0, +) / 5
        // The first update has learning rate 0 (the reference's step convention), so the
        // first losses are the untrained model's, about ln(V) plus label smoothing.
        XCTAssertGreaterThan(first, 5.5)
        XCTAssertLessThan(last, first - 0.8, "losses \(report.losses)")
        XCTAssertNotNil(report.evaluation["metrics/accuracy"])
        XCTAssertNotNil(report.evaluation["loss"])

        // The TensorBoard event file: a version record, then one event per step.
        let eventFile = try XCTUnwrap(
            FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasPrefix("events.out.tfevents.") })
        let events = try TFRecordReader(url: directory.appendingPathComponent(eventFile)).readAll()
            .map { try Tensorflow_Event(serializedBytes: $0) }
        XCTAssertEqual(events.first?.fileVersion, "brain.Event:2")
        let losses = events.dropFirst().compactMap { event in
            event.summary.value.first { $0.tag == "training/minibatch_loss" }.map { (Int(event.step), $0.simpleValue) }
        }
        XCTAssertEqual(losses.map(\.0), Array(0..<40))
        XCTAssertEqual(losses.map(\.1), report.losses)
        XCTAssertTrue(events.dropFirst().allSatisfy { $0.summary.value.contains { $0.tag == "training/gradient_norm" } })
    }

    /// Options the schedule would divide by or count down with are refused before training.
    func testInvalidOptionsAreRefused() throws {
        let cases: [(WritableKeyPath<TrainingOptions, Float>, Float, String)] = [
            (\.learningRate, .infinity, "learning rate"), (\.learningRate, .nan, "learning rate"),
            (\.learningRate, 0, "learning rate"), (\.learningRate, -1, "learning rate"),
            (\.weightDecay, -0.1, "weight decay"),
        ]
        for (keyPath, value, option) in cases {
            var options = try SampleCorpus.options(modelDirectory: modelDirectory(), steps: 2)
            options[keyPath: keyPath] = value
            XCTAssertThrowsError(try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)) {
                XCTAssertTrue("\($0)".contains(option), "\(value): \($0)")
            }
        }
        let integers: [(WritableKeyPath<TrainingOptions, Int>, Int, String)] = [
            (\.warmupSteps, 0, "warmup steps"), (\.warmupSteps, -5, "warmup steps"),
            (\.checkpointEvery, 0, "checkpoint interval"), (\.checkpointEvery, -2, "checkpoint interval"),
            (\.keepCheckpoints, 0, "checkpoints kept"),
            // Values that once overflowed the step arithmetic or made no step without a word.
            (\.accumulationSteps, Int.max, "accumulation steps is 9223372036854775807; must be in 1...4096"),
            (\.batchTokens, Int.max, "batch tokens is 9223372036854775807"),
        ]
        for (keyPath, value, option) in integers {
            var options = try SampleCorpus.options(modelDirectory: modelDirectory(), steps: 2)
            options[keyPath: keyPath] = value
            XCTAssertThrowsError(try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)) {
                XCTAssertTrue("\($0)".contains(option), "\(value): \($0)")
            }
        }
        let optionals: [(WritableKeyPath<TrainingOptions, Int?>, Int, String)] = [
            (\.trainSteps, Int.max, "train steps is 9223372036854775807; must be in 1...1000000000"),
            (\.trainEpochs, Int.max, "train epochs is 9223372036854775807"),
        ]
        for (keyPath, value, option) in optionals {
            var options = try SampleCorpus.options(modelDirectory: modelDirectory(), steps: 2)
            options[keyPath: keyPath] = value
            if keyPath == \.trainEpochs { options.trainSteps = nil }
            XCTAssertThrowsError(try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)) {
                XCTAssertTrue("\($0)".contains(option), "\(value): \($0)")
            }
        }
        var options = try SampleCorpus.options(modelDirectory: modelDirectory(), steps: 2)
        options.maximumSeconds = -1
        XCTAssertThrowsError(try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)) {
            XCTAssertTrue("\($0)".contains("time budget"), "\($0)")
        }
    }

    /// A learning rate that makes the weights blow up stops training at the first
    /// non-finite step with an error naming it; no checkpoint of that or a later step is
    /// written and the good ones stay.
    func testNonFiniteLossStopsTrainingAndKeepsGoodCheckpoints() throws {
        let directory = modelDirectory()
        var options = try SampleCorpus.options(modelDirectory: directory, steps: 2)
        options.checkpointEvery = 1
        _ = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger).run()
        let good = try Checkpoint.checkpoints(in: directory).map(\.lastPathComponent)
        XCTAssertEqual(good, ["checkpoint-00000001", "checkpoint-00000002"])
        options.trainSteps = 40
        options.stepsBetweenEvals = 40
        options.learningRate = 1e12
        let trainer = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
        XCTAssertThrowsError(try trainer.run()) { error in
            guard case .nonFinite(let step, _, let value)? = error as? TrainingError else { return XCTFail("\(error)") }
            XCTAssertFalse(value.isFinite)
            XCTAssertTrue("\(error)".contains("step \(step)"), "\(error)")
            // Every checkpoint left holds finite weights, and none holds the failing update
            // (checkpoint N is the model after N updates, before update number N).
            let left = (try? Checkpoint.checkpoints(in: directory)) ?? []
            XCTAssertTrue(left.allSatisfy { Int($0.lastPathComponent.dropFirst("checkpoint-".count))! <= step }, "\(left)")
            XCTAssertEqual(Array(left.prefix(2)).map(\.lastPathComponent), good)
            for checkpoint in left {
                let model = try? Checkpoint.load(from: checkpoint).model
                XCTAssertTrue(model?.namedParameters.allSatisfy { $0.tensor.scalars.allSatisfy(\.isFinite) } ?? false)
            }
        }
    }

    /// Training 2N steps in one run equals training N, stopping, resuming and training N
    /// more, bit for bit, with every optimizer (its state goes through the checkpoint).
    func testResumeIsExactForEveryOptimizer() throws {
        for kind in OptimizerKind.allCases {
            let straight = modelDirectory(), resumed = modelDirectory()
            var straightOptions = try SampleCorpus.options(modelDirectory: straight, steps: 4)
            straightOptions.optimizer = kind
            straightOptions.stepsBetweenEvals = 2
            let once = try Trainer(
                options: straightOptions, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
            _ = try once.run()
            var options = try SampleCorpus.options(modelDirectory: resumed, steps: 2)
            options.optimizer = kind
            _ = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger).run()
            options.trainSteps = 4
            let second = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
            XCTAssertEqual(second.currentStep, 2, "\(kind): resumed from the checkpoint")
            XCTAssertEqual(second.optimizer.step, 2, "\(kind): the optimizer's step was restored")
            _ = try second.run()
            XCTAssertEqual(second.currentStep, 4)
            for (a, b) in zip(once.model.namedParameters, second.model.namedParameters) {
                XCTAssertEqual(a.tensor.scalars, b.tensor.scalars, "\(kind): \(a.name)")
            }
            let (onceState, secondState) = (once.optimizer.state, second.optimizer.state)
            XCTAssertEqual(Set(onceState.keys), Set(secondState.keys), "\(kind)")
            for (name, tensor) in onceState { XCTAssertEqual(tensor.scalars, secondState[name]?.scalars, "\(kind): \(name)") }
            // The checkpoint names its optimizer: resuming with another is refused.
            options.optimizer = kind == .adam ? .adafactor : .adam
            XCTAssertThrowsError(
                try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
            ) { error in
                XCTAssertTrue("\(error)".contains("was trained with optimizer \(kind.rawValue)"), "\(error)")
            }
        }
    }

    /// Handing the device several steps per call changes nothing but when summaries come
    /// back: the same losses, the same model, on the CPU device and the static device;
    /// a loop stops at the evaluation boundary (3 steps in loops of 2 + 1).
    func testIterationsPerLoopTrainTheSameSteps() throws {
        for makeDevice in [{ CPUDevice() as Device }, { try! StaticShardedDevice(shards: 2, batchTokens: 400, maxLength: 40) }] {
            var results: [(losses: [Float], model: Transformer)] = []
            for iterationsPerLoop in [1, 2] {
                var options = try SampleCorpus.options(modelDirectory: modelDirectory(), steps: 3)
                options.iterationsPerLoop = iterationsPerLoop
                options.staticBatches = makeDevice().capabilities.requiresStaticShapes
                let trainer = try Trainer(options: options, configuration: SampleCorpus.configuration, device: makeDevice(), logger: logger)
                let report = try trainer.run()
                XCTAssertEqual(report.steps, 3)
                results.append((report.losses, trainer.model))
            }
            XCTAssertEqual(results[0].losses, results[1].losses)
            for (a, b) in zip(results[0].model.namedParameters, results[1].model.namedParameters) {
                XCTAssertEqual(a.tensor.scalars, b.tensor.scalars, a.name)
            }
        }
        var options = try SampleCorpus.options(modelDirectory: modelDirectory(), steps: 2)
        options.iterationsPerLoop = 0
        XCTAssertThrowsError(try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)) {
            XCTAssertEqual($0 as? TrainingError, .invalidOption("iterations per loop", reason: "is 0; must be in 1...1000000"))
        }
    }

    /// A run trained on the CPU device resumes on the static device: the embedding method
    /// and padding removal are the device's plan, not the model's, and the result matches
    /// staying on the CPU.
    func testResumeOnAnotherDevice() throws {
        let straight = modelDirectory(), switched = modelDirectory()
        var options = try SampleCorpus.options(modelDirectory: straight, steps: 3)
        options.staticBatches = true
        let cpuOnly = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)
        let expected = try cpuOnly.run()
        options.modelDirectory = switched
        options.trainSteps = 2
        options.stepsBetweenEvals = 2
        _ = try Trainer(options: options, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger).run()
        options.trainSteps = 3
        options.stepsBetweenEvals = 1
        let device = try StaticShardedDevice(shards: 2, batchTokens: options.batchTokens, maxLength: options.maxLength)
        let resumed = try Trainer(options: options, configuration: SampleCorpus.configuration, device: device, logger: logger)
        XCTAssertEqual(resumed.currentStep, 2)
        let report = try resumed.run()
        XCTAssertEqual(report.losses.count, 1)
        XCTAssertEqual(report.losses[0], expected.losses[2], accuracy: 1e-5 * expected.losses[2])
        for (a, b) in zip(cpuOnly.model.namedParameters, resumed.model.namedParameters) {
            assertClose(b.tensor, a.tensor, absoluteTolerance: 1e-5, relativeTolerance: 1e-5, a.name)
        }
    }

    func testCheckpointOfAnotherModelOrVocabularyIsRefused() throws {
        let directory = modelDirectory()
        _ = try Trainer(options: SampleCorpus.options(modelDirectory: directory, steps: 1),
                        configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger).run()
        var other = SampleCorpus.configuration
        other.filterSize = 48
        XCTAssertThrowsError(try Trainer(options: SampleCorpus.options(modelDirectory: directory, steps: 2),
                                         configuration: other, device: CPUDevice(), logger: logger)) {
            XCTAssertTrue("\($0)".contains("different model configuration (filterSize: saved 64, now 48)"), "\($0)")
        }
        // Another vocabulary (of another size, so another configuration too) is named as
        // such, not as "a different model configuration".
        let checkpoint = try XCTUnwrap(Checkpoint.latest(in: directory))
        XCTAssertThrowsError(
            try Checkpoint.load(
                from: checkpoint, expectedConfiguration: SampleCorpus.configuration.withVocabularySize(3), vocabularyHash: "00000003")
        ) {
            guard case .vocabularyMismatch? = $0 as? CheckpointError else { return XCTFail("\($0)") }
        }
        var fresh = try SampleCorpus.options(modelDirectory: directory, steps: 2)
        fresh.resume = false
        XCTAssertThrowsError(try Trainer(options: fresh, configuration: SampleCorpus.configuration, device: CPUDevice(), logger: logger)) {
            XCTAssertEqual($0 as? CheckpointError, .existingCheckpoints(path: directory.path))
        }
        let latest = try XCTUnwrap(Checkpoint.latest(in: directory))
        XCTAssertThrowsError(try Checkpoint.load(from: latest, vocabularyHash: "00000000")) {
            XCTAssertTrue("\($0)".contains("vocabulary"), "\($0)")
        }
    }

    /// A translator with an untrained model of the sample corpus's vocabulary.
    func untrainedTranslator() throws -> Translator {
        let root = try SampleCorpus.prepared.get()
        let tokenizer = try Subtokenizer(vocabularyFile: root.appendingPathComponent("sample.vocab"))
        let model = try Transformer(configuration: SampleCorpus.configuration.withVocabularySize(tokenizer.vocabularySize), key: RandomKey(seed: 9))
        return try Translator(model: model, tokenizer: tokenizer)
    }

    func testTranslatorKeepsInputOrder() throws {
        var translator = try untrainedTranslator()
        let model = translator.model
        translator.batchSize = 1
        translator.extraDecodeLength = 3
        // Different lengths, so the translator reorders them (longest first) internally.
        let lines = ["Good.", "This is a much longer sentence than the others.", "It is raining today.", "Yes"]
        let together = try translator.translate(lines)
        let alone = try lines.map { try translator.translate($0) }
        // Exact by construction: with batches of 1 both decode each line alone, same shapes.
        XCTAssertEqual(together, alone)
        XCTAssertThrowsError(try Translator(model: model, tokenizer: Subtokenizer(vocabularyFile: SampleCorpus.fixture("sample.en"))))

        // Several threads may translate with one translator at once.
        let shared = translator
        let results = Parallel.concurrentMap(3) { _ in (try? shared.translate(lines)) ?? [] }
        for i in 0..<3 { XCTAssertEqual(results[i], together, "thread \(i)") }
    }

    /// The static device's translations (fixed-shape batches, static beam search, parts of
    /// a batch on concurrent replicas) equal the CPU device's when the decode limits agree
    /// (one batch whose longest line sets both the CPU width and the static max length),
    /// wherever a line's best candidate is ahead by more than rounding.
    func testStaticDeviceTranslatesLikeTheCPUDevice() throws {
        var translator = try untrainedTranslator()
        let tokenizer = translator.tokenizer
        translator.extraDecodeLength = 3
        let lines = ["Good.", "This is a much longer sentence than the others.", "It is raining today.", "Yes", ""]
        let longest = try lines.map { try tokenizer.encode($0, addEOS: true).count }.max()!
        let onCPU = try translator.translate(lines, on: CPUDevice())
        XCTAssertEqual(onCPU, try translator.translate(lines), "the same device, batches and shapes: exact")
        // The static device computes with other shapes (one-hot embedding, no padding
        // removal), so a line may differ where its two best candidates tie to rounding.
        let encoded = try lines.map { try tokenizer.encode($0, addEOS: true) }
        let batch = IndexTensor(
            shape: [lines.count, longest], scalars: encoded.flatMap { $0 + [Int32](repeating: 0, count: longest - $0.count) })
        let beams = translator.model.allBeams(
            batch, beamSize: BeamSearchStrategy.defaultBeamSize, alpha: BeamSearchStrategy.defaultAlpha, extraDecodeLength: 3)
        let decided = beams.scores.map { $0[0] - $0[1] > 2 * decodingTolerance(at: $0[0]) }
        XCTAssertGreaterThan(decided.filter { $0 }.count, 2, "most lines are not ties")
        for shards in [1, 2] {
            // 6 rows for 5 lines: the last row is filled with an empty sentence.
            let device = try StaticShardedDevice(shards: shards, batchTokens: 6 * longest, maxLength: longest)
            let onStatic = try translator.translate(lines, on: device)
            for (i, line) in lines.enumerated() where decided[i] {
                XCTAssertEqual(onStatic[i], onCPU[i], "\(shards) shards, \"\(line)\"")
            }
        }
        let narrow = try StaticShardedDevice(shards: 1, batchTokens: 6 * (longest - 1), maxLength: longest - 1)
        XCTAssertThrowsError(try translator.translate(lines, on: narrow)) { error in
            XCTAssertEqual(error as? TranslatorError, .sentenceTooLong(line: 2, tokens: longest, limit: longest - 1))
        }
        // On any device, a line past the translator's input limit is refused before decoding.
        translator.maximumInputTokens = longest - 1
        XCTAssertThrowsError(try translator.translate(lines, on: CPUDevice())) { error in
            XCTAssertEqual(error as? TranslatorError, .sentenceTooLong(line: 2, tokens: longest, limit: longest - 1))
        }
        translator.extraDecodeLength = -1
        XCTAssertThrowsError(try translator.translate(lines)) { error in
            XCTAssertTrue("\(error)".contains("extraDecodeLength is -1"), "\(error)")
        }
    }

    /// Each device hands every forward pass its own execution plan, in training and in
    /// inference: the same model runs with gather embedding and padding removal on the CPU
    /// device and with the one-hot product and no padding removal on the static device.
    func testDevicesGiveTheModelTheirExecutionPlan() throws {
        let configuration = TransformerConfiguration(vocabularySize: 9, hiddenSize: 8, layerCount: 1, headCount: 2, filterSize: 8)
        let initial = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        let ids = IndexTensor(shape: [2, 4], scalars: [3, 4, 1, 0, 5, 1, 0, 0])
        let batch = try TransformerBatch(inputs: ids, targets: ids, vocabularySize: 9)
        let staticDevice = try StaticShardedDevice(shards: 1, batchTokens: 8, maxLength: 4, compiles: false)
        for (device, expected) in [(CPUDevice() as Device, ExecutionPlan.dynamicShapes), (staticDevice, .staticShapes)] {
            var model = initial, optimizer = Adam()
            // The loss may run on replica threads: the plans it sees are collected under a lock.
            let trainingPlans = Mutex<[ExecutionPlan]>([])
            let request = TrainingRequest<Transformer, TransformerBatch>(
                batches: [batch], firstStep: 0, learningRate: { _ in 0.1 }, randomKey: RandomKey(seed: 1)
            ) { model, batch, context in
                trainingPlans.withLock { $0.append(context.plan) }
                XCTAssertTrue(context.isTraining)
                return model.loss(batch, context: context)
            }
            _ = try device.trainSteps(model: &model, optimizer: &optimizer, request)
            XCTAssertEqual(trainingPlans.withLock { $0 }, [expected])
            let inferencePlan = try device.run(model: model, batch: SourceBatch(inputs: ids)) { _, _, context in context.plan }
            XCTAssertEqual(inferencePlan, expected)
            let shardPlans = try device.runSharded(model: model, batch: SourceBatch(inputs: ids)) { _, _, context in context.plan }
            XCTAssertEqual(shardPlans, [expected])
        }
        // The CPU device runs the static plan when asked (the same work as the static device).
        XCTAssertEqual(CPUDevice(executionPlan: .staticShapes).capabilities.executionPlan, .staticShapes)
    }
}
