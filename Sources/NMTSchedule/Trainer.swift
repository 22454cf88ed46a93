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
/// Resuming is exact: the checkpoint holds the weights, the optimizer moments and step,
/// the seed and the data iterator's position, and step `s` draws its dropout from the
/// seed's key split by `s`, so N steps + resume + N steps equals 2N steps bit for bit.
public final class Trainer {
    /// Options of the run.
    public let options: TrainingOptions
    /// The model configuration (vocabulary size and device-dependent settings filled in).
    public private(set) var configuration: TransformerConfiguration
    /// The device that runs the steps.
    public let device: Device
    /// Where progress and results go.
    public var logger: Logger
    /// The model, updated as training proceeds.
    public private(set) var model: Transformer
    private var optimizer = Adam()
    private var step = 0
    private var datasetPosition = DatasetPosition.start
    private let tokenizer: Subtokenizer
    private let vocabularyHash: String

    /// Prepares a run: loads the vocabulary, configures the model for the device and
    /// resumes from the newest checkpoint in the model directory if there is one.
    ///
    /// - Throws: vocabulary, configuration and checkpoint errors (a checkpoint of another
    ///   configuration or vocabulary is refused).
    public init(options: TrainingOptions, configuration: TransformerConfiguration, device: Device, logger: Logger) throws {
        self.options = options
        self.device = device
        self.logger = logger
        tokenizer = try Subtokenizer(vocabularyFile: options.vocabularyFile)
        vocabularyHash = try Checkpoint.vocabularyHash(of: options.vocabularyFile)
        var configuration = configuration.withVocabularySize(tokenizer.vocabularySize)
        configuration.embeddingMethod = device.capabilities.embeddingMethod
        configuration.allowsPaddingRemoval = device.capabilities.allowsPaddingRemoval
        try configuration.validate()
        guard options.iterationsPerLoop > 0 else { throw ScheduleError.notPositive("iterations per loop") }
        if device.capabilities.requiresStaticShapes && !options.staticBatches {
            throw DeviceError.invalidConfiguration("this device requires static batches; set staticBatches (--static-batch)")
        }
        self.configuration = configuration
        if let latest = try Checkpoint.latest(in: options.modelDirectory) {
            guard options.resume else { throw CheckpointError.existingCheckpoints(path: options.modelDirectory.path) }
            let restored = try Checkpoint.load(from: latest, expectedConfiguration: configuration, vocabularyHash: vocabularyHash)
            model = restored.model
            optimizer = restored.optimizer
            step = restored.manifest.step
            datasetPosition = restored.manifest.datasetPosition
            logger.info("resuming from \(latest.lastPathComponent) at step \(step)")
        } else {
            model = try Transformer(configuration: configuration, key: RandomKey(seed: options.seed))
        }
    }

    /// The global step (updates applied so far).
    public var currentStep: Int { step }

    /// Runs the schedule (or what is left of it after a resume).
    public func run() throws -> TrainingReport {
        let schedule = try ScheduleManager(
            trainSteps: options.trainSteps, stepsBetweenEvals: options.stepsBetweenEvals, trainEpochs: options.trainEpochs,
            epochsBetweenEvals: options.epochsBetweenEvals, batchTokens: options.batchTokens, maxLength: options.maxLength,
            staticBatches: options.staticBatches, shards: device.capabilities.shardCount)
        let rates = WarmupRsqrtSchedule(
            baseLearningRate: options.learningRate, hiddenSize: configuration.hiddenSize, warmupSteps: options.warmupSteps)
        let train = try TranslationDataset(
            filePattern: options.dataDirectory.appendingPathComponent("*train*").path,
            options: DatasetOptions(
                batchTokens: options.batchTokens, maxLength: options.maxLength, staticBatches: options.staticBatches,
                shuffle: true, seed: options.seed, epochs: nil))
        let batches = PrefetchingIterator(try train.makeIterator(from: datasetPosition))
        defer { batches.cancel() }
        let key = RandomKey(seed: options.seed).split(0x0D50_0000)
        let started = Date()
        let firstStepThisRun = step
        var report = TrainingReport(
            steps: step, stepsThisRun: 0, trainingSeconds: 0, targetTokens: 0, finalLoss: .nan, losses: [], evaluation: [:])
        let iterations = options.bleuThreshold != nil ? Int(1e9) : schedule.iterations
        let progress = ProgressLine(logger: logger)
        // TensorBoard event files where the reference's Estimator puts them.
        let trainSummaries = try SummaryWriter(directory: options.modelDirectory)
        let evalSummaries = try SummaryWriter(directory: options.modelDirectory.appendingPathComponent("eval"))
        defer { try? trainSummaries.close(); try? evalSummaries.close() }
        // A batch fetched at an epoch boundary waits for the next iteration.
        var held: (batch: TokenBatch, position: DatasetPosition)?
        logger.info(
            "training \(configuration.hiddenSize)-hidden, \(configuration.layerCount)+\(configuration.layerCount)-layer model (V \(configuration.vocabularySize)) for \(iterations) iterations of \(schedule.trainIncrementDescription)")
        var outOfTime = false
        // Seconds spent in training steps (evaluation and BLEU excluded).
        var trainingSeconds = 0.0
        for iteration in 0..<iterations {
            let iterationStarted = Date()
            // An iteration ends after its steps, or when the data iterator enters the epoch
            // after this iteration's last.
            let endStep = schedule.singleIterationTrainSteps.map { step - (step % $0) + $0 }
            let endEpoch = schedule.singleIterationEpochs.map { (datasetPosition.epoch / $0 + 1) * $0 }
            if let total = options.trainSteps, step >= total { break }
            while true {
                if let endStep, step >= endStep { break }
                if let limit = options.maximumSeconds, Date().timeIntervalSince(started) >= limit {
                    logger.info("time budget of \(Int(limit)) s reached at step \(step)")
                    outOfTime = true
                    break
                }
                // One loop: up to iterationsPerLoop batches, ending early at the iteration's
                // last step or the first batch of the epoch after it (which is held back).
                let loopLimit = min(options.iterationsPerLoop, endStep.map { $0 - step } ?? Int.max)
                var loop: [(batch: TokenBatch, position: DatasetPosition)] = []
                var iterationEnds = false
                while loop.count < loopLimit {
                    let tokens: TokenBatch, position: DatasetPosition
                    if let waiting = held {
                        (tokens, position) = waiting
                        held = nil
                    } else {
                        guard let next = try batches.next() else {
                            iterationEnds = true
                            break
                        }
                        (tokens, position) = (next, batches.position)
                    }
                    if let endEpoch, position.epoch >= endEpoch {
                        held = (tokens, position)
                        iterationEnds = true
                        break
                    }
                    loop.append((tokens, position))
                }
                if loop.isEmpty { break }
                let summaries = try device.trainSteps(
                    model: &model, optimizer: &optimizer,
                    batches: try loop.map { try TransformerBatch($0.batch, vocabularySize: configuration.vocabularySize) },
                    firstStep: step, learningRate: { rates.learningRate(atStep: $0) }, randomKey: key,
                    loss: { model, batch, context in model.loss(batch, context: context) })
                let stepBefore = step
                step += summaries.count
                datasetPosition = loop.last!.position
                report.targetTokens += loop.reduce(0) { $0 + $1.batch.targetTokenCount }
                report.losses += summaries.map(\.loss)
                for summary in summaries {
                    var scalars = ["training/learning_rate": summary.learningRate, "training/minibatch_loss": summary.loss]
                    scalars["training/gradient_norm"] = summary.gradientNorm
                    try trainSummaries.add(scalars, step: summary.step)
                }
                report.finalLoss = summaries.last?.loss ?? report.finalLoss
                let elapsed = Date().timeIntervalSince(started)
                let secondsPerStep = elapsed / Double(max(step - firstStepThisRun, 1))
                // Whichever comes first: the remaining steps or the time budget.
                var remaining: Double?
                if let total = options.trainSteps { remaining = Double(total - step) * secondsPerStep }
                if let limit = options.maximumSeconds { remaining = min(remaining ?? .infinity, limit - elapsed) }
                progress.update(
                    step: step, loss: report.finalLoss, learningRate: summaries.last?.learningRate ?? 0,
                    tokensPerSecond: Double(report.targetTokens) / max(elapsed, 1e-9), remainingSeconds: remaining)
                // A checkpoint whenever the loop crossed a multiple of checkpointEvery.
                if stepBefore / options.checkpointEvery != step / options.checkpointEvery { try saveCheckpoint() }
                if iterationEnds { break }
            }
            progress.finish()
            trainingSeconds += Date().timeIntervalSince(iterationStarted)
            report.evaluation = try evaluate()
            logger.info("iteration \(iteration + 1), step \(step): \(Self.describe(report.evaluation))")
            try trainSummaries.flush()
            try evalSummaries.add(report.evaluation.mapValues { Float($0) }, step: step)
            if let source = options.bleuSource, let reference = options.bleuReference {
                let (uncased, cased) = try bleu(source: source, reference: reference)
                report.bleuUncased = uncased
                report.bleuCased = cased
                try evalSummaries.add(["bleu/uncased": uncased, "bleu/cased": cased], step: step)
                logger.info("BLEU (uncased) \(uncased), (cased) \(cased)")
                try evalSummaries.flush()
                if let threshold = options.bleuThreshold, uncased >= threshold {
                    logger.info("BLEU threshold \(threshold) reached")
                    break
                }
            }
            try evalSummaries.flush()
            if outOfTime { break }
            if let endEpoch, endEpoch >= (options.trainEpochs ?? 10) { break }
        }
        try saveCheckpoint()
        report.steps = step
        report.stepsThisRun = step - firstStepThisRun
        report.trainingSeconds = trainingSeconds
        return report
    }

    private func saveCheckpoint() throws {
        let manifest = CheckpointManifest(
            configuration: configuration, vocabularyHash: vocabularyHash, step: step, seed: options.seed,
            datasetPosition: datasetPosition)
        try Checkpoint.save(
            model: model, optimizer: optimizer, manifest: manifest, in: options.modelDirectory, keep: options.keepCheckpoints)
    }

    /// Loss and metrics on the dev set (`*dev*` shards), with the device's metrics.
    public func evaluate() throws -> [String: Double] {
        try Evaluation.run(
            model: model, filePattern: options.dataDirectory.appendingPathComponent("*dev*").path,
            batchTokens: options.batchTokens, maxLength: options.maxLength, staticBatches: options.staticBatches,
            device: device)
    }

    /// Uncased and cased BLEU (×100) of translating `source` against `reference`, decoded
    /// on the training device with the training parameters (beam 4, α 0.6, extra length
    /// 50) as the reference.
    public func bleu(source: URL, reference: URL) throws -> (uncased: Float, cased: Float) {
        var translator = try Translator(model: model, tokenizer: tokenizer)
        translator.extraDecodeLength = configuration.extraDecodeLength
        let hypotheses = try translator.translate(try CorpusPreparer.lines(of: source), on: device).joined(separator: "\n")
        let referenceText = try String(contentsOf: reference, encoding: .utf8)
        return (
            try BLEU.corpusScore(reference: referenceText, translation: hypotheses, caseSensitive: false),
            try BLEU.corpusScore(reference: referenceText, translation: hypotheses, caseSensitive: true)
        )
    }

    static func describe(_ results: [String: Double]) -> String {
        results.keys.sorted().map { "\($0) = \(String(format: "%.4f", results[$0]!))" }.joined(separator: ", ")
    }
}
