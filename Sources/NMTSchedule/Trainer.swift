import Foundation
import Logging
import NMTAccelerator
import NMTData
import NMTLayers
import NMTTensor
import NMTTransformer

/// The reference's run loop (`transformer_main.run_loop`): train for an iteration of
/// steps or epochs, evaluate on the dev set, optionally translate a source file and score
/// BLEU, stop at a BLEU threshold; with checkpoints that resume exactly.
///
/// Resuming is exact: the checkpoint holds the weights, the optimizer state and step,
/// the seed and the data iterator's position, and step `s` draws its dropout from the
/// seed's key split by `s`, so N steps + resume + N steps equals 2N steps bit for bit.
///
/// On a device with a `ProcessGroup` (`DataParallelDevice`),
/// each process runs a trainer: every one reads the same global batches, and the device
/// trains each on its part. Process 0 alone writes checkpoints and summaries, logs,
/// evaluates the dev loss and scores BLEU (every process translates its share of the
/// BLEU source); it decides when to stop (time budget, threshold, patience) and tells
/// the others. Process 0 also sends the others its newest checkpoint, so the
/// model directory need not be shared. The processes check at the start that they share
/// options, model, vocabulary, data, step and weights, and that their weights agree at
/// every checkpoint.
public final class Trainer {
    /// The stream of the run's dropout keys: the seed's key split by this constant, so that
    /// dropout never reuses the initialization's random numbers.
    static let dropoutStream: UInt64 = 0x0D50_0000

    /// Options of the run.
    public let options: TrainingOptions
    /// The model configuration (vocabulary size filled in).
    public let configuration: TransformerConfiguration
    /// The device that runs the steps (and decides how the model computes).
    public let device: Device
    /// Where progress and results go.
    public var logger: Logger
    /// The model, updated as training proceeds.
    public private(set) var model: Transformer
    /// The optimizer and its state, of the kind ``TrainingOptions/optimizer`` names.
    public private(set) var optimizer: any Optimizer
    var step = 0
    var datasetPosition = DatasetPosition.start
    /// The step of the newest checkpoint this trainer wrote or resumed from.
    var lastSavedStep: Int?
    /// The moving average of the weights, when ``TrainingOptions/emaDecay`` asks for one.
    public private(set) var movingAverage: ExponentialMovingAverage?
    /// How BLEU evaluation translates: the configuration's decoding settings
    /// (`TransformerConfiguration.decodingOptions`, the reference's beam search) unless
    /// set otherwise, as a fine-tuned Marian model's `generate()` search is.
    public var translationOptions: DecodingOptions
    let tokenizer: any Tokenizer
    let vocabularyHash: String
    /// Who writes, evaluates and decides: the one place that knows the device's group.
    let coordinator: RunCoordinator
    /// The writer's claim on the model directory: taken when the trainer is made (it reads
    /// the directory to resume) and held until ``run()`` returns.
    private var directoryLock: ModelDirectoryLock?

    /// Prepares a run: loads the vocabulary and resumes from the newest checkpoint in the
    /// model directory if there is one; otherwise starts from `initialModel` when given
    /// (fine-tuning: its configuration must be the run's, vocabulary size included) or
    /// from a random initialization.
    ///
    /// - Throws: vocabulary, configuration and checkpoint errors (a checkpoint or initial
    ///   model of another configuration, vocabulary or optimizer is refused), and
    ///   `TokenizerError` for a tokenizer whose padding and end-of-sentence ids are not 0
    ///   and 1.
    public init(
        options: TrainingOptions, configuration: TransformerConfiguration, device: Device, logger: Logger,
        initialModel: Transformer? = nil
    ) throws {
        self.options = options
        self.device = device
        coordinator = RunCoordinator(group: device.processGroup)
        self.logger = coordinator.logger(logger)
        tokenizer = try TokenizerFile.load(options.vocabularyFile)
        try tokenizer.requireReferenceIDs()
        vocabularyHash = try Checkpoint.vocabularyHash(of: options.vocabularyFile)
        try Self.checkShardVocabulary(options: options, vocabularyHash: vocabularyHash, tokenizer: tokenizer, logger: logger)
        let configuration = configuration.withVocabularySize(tokenizer.vocabularySize)
        try configuration.validate()
        try options.validate()
        try Self.check(device, runs: options)
        self.configuration = configuration
        translationOptions = configuration.decodingOptions
        optimizer = options.optimizer.makeOptimizer(weightDecay: options.weightDecay)
        // Before anything in the directory is read or removed: a second writer stops here.
        directoryLock = try coordinator.lockModelDirectory(options.modelDirectory)
        if directoryLock != nil {
            for stale in Checkpoint.removeStaleTemporaries(in: options.modelDirectory) {
                logger.warning("removed \(stale.lastPathComponent), left by an interrupted save")
            }
        }
        let start = try Self.start(
            options: options, configuration: configuration, vocabularyHash: vocabularyHash, coordinator: coordinator,
            optimizer: &optimizer, initialModel: initialModel, logger: self.logger)
        model = start.model
        step = start.step
        lastSavedStep = start.checkpointStep
        datasetPosition = start.datasetPosition
        movingAverage = start.movingAverage
        try coordinator.requireSameStart(
            {
                try RunFingerprint(
                    options: options, configuration: configuration, vocabularyHash: vocabularyHash, dataFiles: dataFiles(),
                    step: step, model: model)
            }, logger: self.logger)
    }

    /// Refuses shards made with another vocabulary, and warns when the data directory
    /// cannot say which it was made with.
    private static func checkShardVocabulary(
        options: TrainingOptions, vocabularyHash: String, tokenizer: any Tokenizer, logger: Logger
    ) throws {
        guard let record = try ShardVocabularyRecord.read(in: options.dataDirectory) else {
            logger.warning(
                "\(options.dataDirectory.path) has no \(ShardVocabularyRecord.fileName): cannot check that its shards were made with \(options.vocabularyFile.lastPathComponent) (nmt-prepare corpus writes one)")
            return
        }
        guard record.vocabularyCRC32C == vocabularyHash else {
            throw TrainingError.dataVocabularyMismatch(
                directory: options.dataDirectory.path,
                shards: "\(record.vocabularyCRC32C), \(record.vocabularySize) subtokens",
                vocabulary: "\(options.vocabularyFile.path): \(vocabularyHash), \(tokenizer.vocabularySize) subtokens")
        }
    }

    /// Refuses options a static-shape device cannot run.
    private static func check(_ device: Device, runs options: TrainingOptions) throws {
        guard device.capabilities.requiresStaticShapes else { return }
        if !options.staticBatches {
            throw DeviceError.invalidConfiguration("this device requires static batches; set staticBatches (--static-batch)")
        }
        if options.accumulationSteps > 1 {
            // Its programs are traced with the dropout positions of one batch.
            throw DeviceError.invalidConfiguration("the static device does not accumulate gradients; use the CPU device for --accumulate")
        }
    }

    /// Where a run starts: the newest checkpoint's model, step, data position and
    /// moving average (its optimizer state restored into `optimizer`), or a new model.
    private struct Start {
        var model: Transformer
        var step = 0
        var datasetPosition = DatasetPosition.start
        var movingAverage: ExponentialMovingAverage?
        /// The step of the checkpoint it came from (nil for a new model).
        var checkpointStep: Int?
    }

    /// The start from the newest checkpoint in the model directory, or else a new model:
    /// `initialModel` (fine-tuning) or a random initialization.
    private static func start(
        options: TrainingOptions, configuration: TransformerConfiguration, vocabularyHash: String,
        coordinator: RunCoordinator, optimizer: inout any Optimizer, initialModel: Transformer?, logger: Logger
    ) throws -> Start {
        let (latest, receivedCopy) = try coordinator.newestCheckpoint(in: options.modelDirectory, logger: logger)
        defer { if let receivedCopy { try? FileManager.default.removeItem(at: receivedCopy) } }
        guard let latest else {
            if let initialModel, initialModel.configuration != configuration {
                throw CheckpointError.configurationMismatch(
                    path: "the initial model",
                    differences: Checkpoint.differences(saved: initialModel.configuration, current: configuration))
            }
            if initialModel != nil { logger.info("starting from the given weights (fine-tuning)") }
            let model = try initialModel ?? Transformer(configuration: configuration, key: RandomKey(seed: options.seed))
            return Start(model: model, movingAverage: options.emaDecay.map { ExponentialMovingAverage(decay: $0, startingAt: model) })
        }
        guard options.resume else { throw CheckpointError.existingCheckpoints(path: options.modelDirectory.path) }
        let restored = try Checkpoint.load(from: latest, expectedConfiguration: configuration, vocabularyHash: vocabularyHash)
        try restored.restore(&optimizer)
        var start = Start(
            model: restored.model, step: restored.manifest.step, datasetPosition: restored.manifest.datasetPosition,
            checkpointStep: restored.manifest.step)
        logger.info("resuming from \(latest.lastPathComponent) at step \(start.step)")
        if let decay = options.emaDecay {
            if let saved = restored.movingAverage {
                start.movingAverage = ExponentialMovingAverage(decay: decay, weights: saved.weights)
            } else {
                logger.info("the checkpoint keeps no moving average of the weights; starting one at step \(start.step)")
                start.movingAverage = ExponentialMovingAverage(decay: decay, startingAt: restored.model)
            }
        }
        return start
    }

    /// The global step (updates applied so far).
    public var currentStep: Int { step }

    /// Runs the schedule (or what is left of it after a resume): iterations of training
    /// then evaluation, until the schedule, the time budget or the BLEU threshold ends it.
    public func run() throws -> TrainingReport {
        if directoryLock == nil { directoryLock = try coordinator.lockModelDirectory(options.modelDirectory) }
        // Released when the run ends: a finished trainer no longer writes the directory.
        defer { directoryLock = nil }
        // Steps repeat the same buffer sizes: keep them all for reuse (see BufferPool).
        return try BufferPool.shared.withCapacity(BufferPool.trainingCapacityBytes) { try runLoop() }
    }

    private func runLoop() throws -> TrainingReport {
        let run = try startRun()
        logPlan(of: run)
        // A BLEU threshold replaces the iteration count: train until it is reached.
        let iterations = options.bleuThreshold != nil ? Int.max : run.schedule.iterations
        for iteration in 0..<iterations {
            if let total = options.trainSteps, step >= total { break }
            let endEpoch = run.schedule.singleIterationEpochs.map { (datasetPosition.epoch / $0 + 1) * $0 }
            let iterationStarted = Date()
            let outOfTime = try trainIteration(run, endEpoch: endEpoch)
            run.report.trainingSeconds += Date().timeIntervalSince(iterationStarted)
            let reachedThreshold: Bool
            do { reachedThreshold = try evaluate(afterIteration: iteration, run) } catch {
                // The training before it is not lost to a failing evaluation.
                try writeCheckpoint()
                throw error
            }
            if try coordinator.decided(reachedThreshold) || outOfTime { break }
            if let endEpoch, let total = run.schedule.trainEpochs, endEpoch >= total { break }
        }
        try saveCheckpoint()
        run.report.steps = step
        run.report.stepsThisRun = step - run.firstStep
        return run.report
    }

    /// Says what the run will do, and warns when the schedule trains fewer steps than asked.
    private func logPlan(of run: TrainingRun) {
        let model = "\(configuration.hiddenSize)-hidden, \(configuration.layerCount)+\(configuration.decoderLayers)-layer model (V \(configuration.vocabularySize))"
        let length = options.bleuThreshold.map { "until uncased BLEU reaches \($0)" } ?? "for \(run.schedule.iterations) iterations"
        logger.info("training \(model) with \(optimizer.kind.rawValue) \(length), evaluating every \(run.schedule.trainIncrementDescription)")
        if let total = options.trainSteps, options.bleuThreshold == nil, total % options.stepsBetweenEvals != 0 {
            logger.warning(
                "\(total) train steps are not a multiple of the \(options.stepsBetweenEvals) steps between evaluations: training \(run.schedule.iterations * options.stepsBetweenEvals) steps, whole iterations only (as the reference)")
        }
    }

    /// The schedule, learning rates, data and summary writers of a run from the current step.
    private func startRun() throws -> TrainingRun {
        let datasetOptions = DatasetOptions(
            batchTokens: options.batchTokens, maxLength: options.maxLength, staticBatches: options.staticBatches,
            shuffle: true, seed: options.seed, epochs: nil)
        let train = try TranslationDataset(filePattern: filePattern("*train*"), options: datasetOptions)
        let examples = try options.exampleCounts ?? ScheduleManager.ExampleCounts(
            train: train.recordCount(),
            eval: TranslationDataset(filePattern: filePattern("*dev*"), options: datasetOptions).recordCount())
        if examples.train == 0 { throw TrainingError.noTrainingExamples(directory: options.dataDirectory.path) }
        let schedule = try ScheduleManager(
            trainSteps: options.trainSteps, stepsBetweenEvals: options.stepsBetweenEvals, trainEpochs: options.trainEpochs,
            epochsBetweenEvals: options.epochsBetweenEvals, batchTokens: options.batchTokens, maxLength: options.maxLength,
            staticBatches: options.staticBatches, shards: device.capabilities.shardCount, examples: examples)
        let rates = WarmupRsqrtSchedule(
            baseLearningRate: options.learningRate, hiddenSize: configuration.hiddenSize, warmupSteps: options.warmupSteps)
        return try TrainingRun(
            schedule: schedule, learningRates: rates, batcher: TrainingBatcher(dataset: train, from: datasetPosition),
            options: options, firstStep: step, logger: logger, writesFiles: coordinator.isPrimary)
    }

    /// Trains one iteration in loops of up to ``TrainingOptions/iterationsPerLoop`` steps,
    /// until its last step, the end of epoch `endEpoch - 1` or the time budget.
    ///
    /// - Returns: whether the time budget ran out.
    private func trainIteration(_ run: TrainingRun, endEpoch: Int?) throws -> Bool {
        defer { run.progress.finish() }
        let endStep = run.schedule.singleIterationTrainSteps.map { step - (step % $0) + $0 }
        while endStep.map({ step < $0 }) ?? true {
            // At least one step per run: a budget shorter than a step still trains one
            // (it once saved an untrained checkpoint and reported a NaN loss).
            if try coordinator.decided(step > run.firstStep && run.isOutOfTime) {
                logger.info("time budget of \(Int(options.maximumSeconds ?? 0)) s reached at step \(step)")
                return true
            }
            let loopSteps = min(options.iterationsPerLoop, endStep.map { $0 - step } ?? Int.max)
            let loop = try run.batcher.nextLoop(maximumSteps: loopSteps * options.accumulationSteps, endEpoch: endEpoch)
            if !loop.batches.isEmpty { try train(loop, run) }
            if loop.endsIteration { break }
        }
        return false
    }

    /// One device call: the loop's steps, their summaries, and a checkpoint whenever the
    /// loop crossed a multiple of ``TrainingOptions/checkpointEvery``.
    private func train(_ loop: TrainingLoop, _ run: TrainingRun) throws {
        let vocabularySize = configuration.vocabularySize
        let batches = try loop.batches.map { try TransformerBatch($0, vocabularySize: vocabularySize) }
        // With accumulation, every K batches make one step (the last of an epoch may have fewer).
        let groups = stride(from: 0, to: batches.count, by: options.accumulationSteps).map {
            Array(batches[$0..<min(batches.count, $0 + options.accumulationSteps)])
        }
        let request = TrainingRequest<Transformer, TransformerBatch>(
            steps: groups, firstStep: step, learningRate: { run.learningRates.learningRate(atStep: $0) },
            randomKey: RandomKey(seed: options.seed).split(Self.dropoutStream),
            loss: { model, batch, context in model.loss(batch, context: context) })
        let summaries = try device.trainSteps(model: &model, optimizer: &optimizer, request)
        // A non-finite step poisons every later weight: stop before it is recorded or saved.
        for summary in summaries {
            if !summary.loss.isFinite { throw TrainingError.nonFinite(step: summary.step, what: "loss", value: summary.loss) }
            if let norm = summary.gradientNorm, !norm.isFinite {
                throw TrainingError.nonFinite(step: summary.step, what: "gradient norm", value: norm)
            }
        }
        movingAverage?.update(toward: model, steps: summaries.count)
        let stepBefore = step
        step += summaries.count
        datasetPosition = loop.position
        try run.record(summaries, targetTokens: loop.targetTokens, step: step)
        if stepBefore / options.checkpointEvery != step / options.checkpointEvery { try saveCheckpoint() }
    }

    func filePattern(_ pattern: String) -> String { options.dataDirectory.appendingPathComponent(pattern).path }
}
