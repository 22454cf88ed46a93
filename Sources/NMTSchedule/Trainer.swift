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
    private var step = 0
    private var datasetPosition = DatasetPosition.start
    /// The step of the newest checkpoint this trainer wrote or resumed from.
    private var lastSavedStep: Int?
    /// The moving average of the weights, when ``TrainingOptions/emaDecay`` asks for one.
    public private(set) var movingAverage: ExponentialMovingAverage?
    private let tokenizer: Subtokenizer
    private let vocabularyHash: String
    /// The processes training together, when the device has several.
    private var group: ProcessGroup? { device.processGroup }
    /// Whether this process writes files, logs and evaluates (process 0, or the only one).
    private var isPrimary: Bool { group?.isPrimary ?? true }
    /// The writer's claim on the model directory: taken when the trainer is made (it reads
    /// the directory to resume) and held until ``run()`` returns.
    private var directoryLock: ModelDirectoryLock?

    /// Prepares a run: loads the vocabulary and resumes from the newest checkpoint in the
    /// model directory if there is one.
    ///
    /// - Throws: vocabulary, configuration and checkpoint errors (a checkpoint of another
    ///   configuration, vocabulary or optimizer is refused).
    public init(options: TrainingOptions, configuration: TransformerConfiguration, device: Device, logger: Logger) throws {
        self.options = options
        self.device = device
        self.logger = logger
        if let group = device.processGroup, !group.isPrimary, self.logger.logLevel < .warning {
            // Process 0 reports the run; the others speak only of trouble.
            self.logger.logLevel = .warning
        }
        tokenizer = try Subtokenizer(vocabularyFile: options.vocabularyFile)
        vocabularyHash = try Checkpoint.vocabularyHash(of: options.vocabularyFile)
        if let record = try ShardVocabularyRecord.read(in: options.dataDirectory) {
            guard record.vocabularyCRC32C == vocabularyHash else {
                throw TrainingError.dataVocabularyMismatch(
                    directory: options.dataDirectory.path,
                    shards: "\(record.vocabularyCRC32C), \(record.vocabularySize) subtokens",
                    vocabulary: "\(options.vocabularyFile.path): \(vocabularyHash), \(tokenizer.vocabularySize) subtokens")
            }
        } else {
            logger.warning(
                "\(options.dataDirectory.path) has no \(ShardVocabularyRecord.fileName): cannot check that its shards were made with \(options.vocabularyFile.lastPathComponent) (nmt-prepare corpus writes one)")
        }
        let configuration = configuration.withVocabularySize(tokenizer.vocabularySize)
        try configuration.validate()
        try options.validate()
        if device.capabilities.requiresStaticShapes && !options.staticBatches {
            throw DeviceError.invalidConfiguration("this device requires static batches; set staticBatches (--static-batch)")
        }
        if device.capabilities.requiresStaticShapes && options.accumulationSteps > 1 {
            // Its programs are traced with the dropout positions of one batch.
            throw DeviceError.invalidConfiguration("the static device does not accumulate gradients; use the CPU device for --accumulate")
        }
        self.configuration = configuration
        optimizer = options.optimizer.makeOptimizer(weightDecay: options.weightDecay)
        if device.processGroup?.isPrimary ?? true {
            // Before anything in the directory is read or removed: a second writer stops here.
            directoryLock = try ModelDirectoryLock(directory: options.modelDirectory)
            for stale in Checkpoint.removeStaleTemporaries(in: options.modelDirectory) {
                logger.warning("removed \(stale.lastPathComponent), left by an interrupted save")
            }
        }
        let latest: URL?
        var receivedCopy: URL?
        defer { if let receivedCopy { try? FileManager.default.removeItem(at: receivedCopy) } }
        if let group = device.processGroup {
            // Process 0 sends the others its newest checkpoint: the model directory need not
            // be shared between hosts.
            let shared = try CheckpointSharing.newest(in: options.modelDirectory, group: group, logger: logger)
            latest = shared.checkpoint
            receivedCopy = shared.temporary
        } else {
            let newest = try Checkpoint.newestUsable(in: options.modelDirectory)
            for (checkpoint, reason) in newest.skipped { logger.warning("skipping \(checkpoint.lastPathComponent): \(reason)") }
            latest = newest.checkpoint
        }
        if let latest {
            guard options.resume else { throw CheckpointError.existingCheckpoints(path: options.modelDirectory.path) }
            let restored = try Checkpoint.load(from: latest, expectedConfiguration: configuration, vocabularyHash: vocabularyHash)
            try restored.restore(&optimizer)
            model = restored.model
            step = restored.manifest.step
            lastSavedStep = step
            datasetPosition = restored.manifest.datasetPosition
            logger.info("resuming from \(latest.lastPathComponent) at step \(step)")
            if let decay = options.emaDecay, let saved = restored.movingAverage {
                movingAverage = ExponentialMovingAverage(decay: decay, weights: saved.weights)
            } else if options.emaDecay != nil {
                logger.info("the checkpoint keeps no moving average of the weights; starting one at step \(step)")
            }
        } else {
            model = try Transformer(configuration: configuration, key: RandomKey(seed: options.seed))
        }
        if let decay = options.emaDecay, movingAverage == nil {
            movingAverage = ExponentialMovingAverage(decay: decay, startingAt: model)
        }
        if let group = device.processGroup {
            try RunFingerprint(
                options: options, configuration: configuration, vocabularyHash: vocabularyHash, dataFiles: dataFiles(),
                step: step, model: model
            ).requireAgreement(in: group)
            logger.info("\(group.size) processes agree on options, model, vocabulary, data and weights")
        }
    }

    /// The global step (updates applied so far).
    public var currentStep: Int { step }

    /// Runs the schedule (or what is left of it after a resume): iterations of training
    /// then evaluation, until the schedule, the time budget or the BLEU threshold ends it.
    public func run() throws -> TrainingReport {
        if isPrimary && directoryLock == nil { directoryLock = try ModelDirectoryLock(directory: options.modelDirectory) }
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
            if try decidedByPrimary(reachedThreshold) || outOfTime { break }
            if let endEpoch, let total = run.schedule.trainEpochs, endEpoch >= total { break }
        }
        try saveCheckpoint()
        run.report.steps = step
        run.report.stepsThisRun = step - run.firstStep
        return run.report
    }

    /// Says what the run will do, and warns when the schedule trains fewer steps than asked.
    private func logPlan(of run: TrainingRun) {
        let model = "\(configuration.hiddenSize)-hidden, \(configuration.layerCount)+\(configuration.layerCount)-layer model (V \(configuration.vocabularySize))"
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
            options: options, firstStep: step, logger: logger, writesFiles: isPrimary)
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
            if try decidedByPrimary(step > run.firstStep && run.isOutOfTime) {
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
        let summaries = try device.trainSteps(
            model: &model, optimizer: &optimizer, microBatches: groups, firstStep: step,
            learningRate: { run.learningRates.learningRate(atStep: $0) },
            randomKey: RandomKey(seed: options.seed).split(Self.dropoutStream),
            loss: { model, batch, context in model.loss(batch, context: context) })
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

    /// Evaluates on the dev set and, when a BLEU source is set, translates and scores it;
    /// logs and writes the results. With several processes, process 0 evaluates the dev
    /// loss and keeps the records, and every process translates its share of the BLEU
    /// source.
    ///
    /// - Returns: whether the BLEU threshold is reached or the patience used up (process
    ///   0's answer counts).
    private func evaluate(afterIteration iteration: Int, _ run: TrainingRun) throws -> Bool {
        if isPrimary {
            run.report.evaluation = try evaluate()
            logger.info("iteration \(iteration + 1), step \(step): \(Self.describe(run.report.evaluation))")
            try run.trainSummaries?.flush()
            try run.evalSummaries?.add(run.report.evaluation.mapValues { Float($0) }, step: step)
        }
        defer { try? run.evalSummaries?.flush() }
        guard let source = options.bleuSource, let reference = options.bleuReference else { return false }
        let (uncased, cased) = try bleu(source: source, reference: reference)
        guard isPrimary else { return false }
        run.report.bleuUncased = uncased
        run.report.bleuCased = cased
        try run.evalSummaries?.add(["bleu/uncased": uncased, "bleu/cased": cased], step: step)
        logger.info("BLEU (uncased) \(uncased), (cased) \(cased)")
        if try recordBest(uncased: uncased, cased: cased, run) { return true }
        guard let threshold = options.bleuThreshold, uncased >= threshold else { return false }
        logger.info("BLEU threshold \(threshold) reached")
        return true
    }

    /// Keeps the checkpoint of a new best BLEU apart from the rolling ones, or counts one
    /// more evaluation without improvement.
    ///
    /// - Returns: whether the patience is used up.
    private func recordBest(uncased: Float, cased: Float, _ run: TrainingRun) throws -> Bool {
        var best = try run.report.best ?? BestCheckpoint.read(in: options.modelDirectory)
        if best.map({ uncased > $0.bleuUncased }) ?? true {
            try writeCheckpoint()
            try Checkpoint.save(
                model: model, optimizer: optimizer, manifest: manifest, in: BestCheckpoint.directory(in: options.modelDirectory),
                keep: 1, movingAverage: movingAverage)
            best = BestCheckpoint(step: step, bleuUncased: uncased, bleuCased: cased, evaluationsWithoutImprovement: 0)
            logger.info("new best BLEU \(uncased) at step \(step), kept in \(BestCheckpoint.directoryName)")
        } else {
            best!.evaluationsWithoutImprovement += 1
        }
        try best!.write(in: options.modelDirectory)
        run.report.best = best
        guard let patience = options.patience, best!.evaluationsWithoutImprovement >= patience else { return false }
        logger.info(
            "stopping early: no BLEU above \(best!.bleuUncased) (step \(best!.step)) in \(patience) evaluations")
        run.report.stoppedEarly = true
        return true
    }

    /// What process 0 decided (every process takes its decisions: their clocks and
    /// evaluations could disagree).
    private func decidedByPrimary(_ decision: Bool) throws -> Bool {
        guard let group else { return decision }
        return try group.broadcast(decision, from: 0)
    }

    /// Saves a checkpoint; every process calls it at the same steps. With several
    /// processes it first checks that their weights are identical.
    ///
    /// - Throws: `ProcessGroupError` when a process's weights differ.
    private func saveCheckpoint() throws {
        if let group {
            try group.requireAgreement(on: RunFingerprint.checksum(of: model), what: "weights at step \(step) (FNV-1a of every bit)")
        }
        try writeCheckpoint()
    }

    /// Writes a checkpoint of the current state from process 0 (the others write nothing).
    private func writeCheckpoint() throws {
        // The same step holds the same state: a second save (the final one after a
        // periodic one) would only rewrite identical files.
        guard isPrimary, step != lastSavedStep else { return }
        try Checkpoint.save(
            model: model, optimizer: optimizer, manifest: manifest, in: options.modelDirectory, keep: options.keepCheckpoints,
            movingAverage: movingAverage)
        lastSavedStep = step
    }

    /// The manifest of the current state.
    private var manifest: CheckpointManifest {
        CheckpointManifest(
            configuration: configuration, vocabularyHash: vocabularyHash, step: step, seed: options.seed,
            datasetPosition: datasetPosition, optimizer: optimizer.kind)
    }

    func filePattern(_ pattern: String) -> String { options.dataDirectory.appendingPathComponent(pattern).path }

    /// The weights evaluation and translation use: the moving average when one is kept.
    public func evaluationModel() throws -> Transformer {
        try movingAverage?.applied(to: model) ?? model
    }

    /// Loss and metrics on the dev set (`*dev*` shards), with the device's metrics (of the
    /// moving average of the weights when one is kept).
    public func evaluate() throws -> [String: Double] {
        try Evaluation.run(
            model: evaluationModel(), filePattern: filePattern("*dev*"), batchTokens: options.batchTokens, maxLength: options.maxLength,
            staticBatches: options.staticBatches, device: device)
    }

    /// Uncased and cased BLEU (×100) of translating `source` against `reference`, decoded
    /// on the training device with the training parameters (beam 4, α 0.6, extra length
    /// 50) as the reference.
    ///
    /// With several processes (a device with a `ProcessGroup`) every process must call
    /// it: each translates a contiguous share of the lines, and all receive every
    /// translation.
    public func bleu(source: URL, reference: URL) throws -> (uncased: Float, cased: Float) {
        var translator = try Translator(model: evaluationModel(), tokenizer: tokenizer)
        translator.extraDecodeLength = configuration.extraDecodeLength
        let lines = try CorpusPreparer.lines(of: source)
        // Decoding's sizes change every step: the training capacity would only hold them back.
        let translations = try BufferPool.shared.withCapacity(BufferPool.defaultCapacityBytes) {
            try translate(lines, with: translator)
        }
        // Every line terminated: an empty last translation must stay a line of its own.
        let hypotheses = translations.map { $0 + "\n" }.joined()
        let referenceText = try TextLines.text(of: reference)
        return (
            try BLEU.corpusScore(reference: referenceText, translation: hypotheses, caseSensitive: false),
            try BLEU.corpusScore(reference: referenceText, translation: hypotheses, caseSensitive: true)
        )
    }

    /// `lines` translated on the device; with several processes each translates its
    /// contiguous share and they gather the results in order.
    private func translate(_ lines: [String], with translator: Translator) throws -> [String] {
        guard let group, group.size > 1 else { return try translator.translate(lines, on: device) }
        let share = (group.rank * lines.count / group.size)..<((group.rank + 1) * lines.count / group.size)
        let mine = share.isEmpty ? [] : try translator.translate(Array(lines[share]), on: device)
        let gathered = try group.allGather(Array(JSONEncoder().encode(mine)))
        return try gathered.flatMap { try JSONDecoder().decode([String].self, from: Data($0)) }
    }

    static func describe(_ results: [String: Double]) -> String {
        results.keys.sorted().map { "\($0) = \(String(format: "%.4f", results[$0]!))" }.joined(separator: ", ")
    }
}
