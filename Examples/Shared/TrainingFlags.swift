// The flags of nmt-train and nmt-train-distributed, and the run both make of them.
import ArgumentParser
import Foundation
import Logging
import NMT

/// Every flag of a training run (`nmt-train`, and `nmt-train-distributed`, which adds the
/// process group's own): model, data, schedule, optimizer, device, evaluation.
public struct TrainingFlags: ParsableArguments {
    /// Reference parameter set: tiny, base or big.
    @Option(help: "Reference parameter set: tiny, base or big.") public var paramSet: String = "tiny"
    /// A JSON TransformerConfiguration file (overrides --param-set).
    @Option(help: "A JSON TransformerConfiguration file (overrides --param-set).") public var config: String?
    /// Folder of the TFRecord shards.
    @Option(help: "Folder of the TFRecord shards.") public var dataDir: String
    /// `--model-dir` and `--vocab`.
    @OptionGroup public var model: ModelOptions
    /// `--device` and `--shards`.
    @OptionGroup public var devices: DeviceOptions
    /// Optimizer: adam, lazyadam (the reference's; equal to adam for this model), adamw or adafactor.
    @Option(help: "Optimizer: adam, lazyadam (the reference's; equal to adam for this model), adamw or adafactor.")
    public var optimizer: OptimizerKind = .adam
    /// AdamW's decoupled weight decay (fraction of a weight removed per unit of learning rate).
    @Option(help: "AdamW's decoupled weight decay (fraction of a weight removed per unit of learning rate).")
    public var weightDecay: Float = AdamW.defaultWeightDecay
    /// Total training steps (step basis; exclusive with --train-epochs).
    @Option(help: "Total training steps (step basis; exclusive with --train-epochs).") public var trainSteps: Int?
    /// Steps per train/evaluate iteration.
    @Option(help: "Steps per train/evaluate iteration.") public var stepsBetweenEvals: Int = 1000
    /// Training epochs (epoch basis; default 10 when no steps are given).
    @Option(help: "Training epochs (epoch basis; default 10 when no steps are given).") public var trainEpochs: Int?
    /// Epochs per train/evaluate iteration.
    @Option(help: "Epochs per train/evaluate iteration.") public var epochsBetweenEvals: Int = 1
    /// `--batch-size` and `--max-length`.
    @OptionGroup public var batches: BatchFlags
    /// Static [batch/max-length, max-length] batches.
    @Flag(help: "Static [batch/max-length, max-length] batches.") public var staticBatch = false
    /// Base learning rate of the warmup/rsqrt schedule.
    @Option(help: "Base learning rate of the warmup/rsqrt schedule.") public var learningRate: Float = 2.0
    /// Warmup steps of the schedule.
    @Option(help: "Warmup steps of the schedule.") public var warmupSteps: Int = 16000
    /// Source file to translate for BLEU after each evaluation.
    @Option(help: "Source file to translate for BLEU after each evaluation.") public var bleuSource: String?
    /// Reference translations of --bleu-source.
    @Option(help: "Reference translations of --bleu-source.") public var bleuRef: String?
    /// Stop once uncased BLEU reaches this.
    @Option(help: "Stop once uncased BLEU reaches this.") public var stopThreshold: Float?
    /// Stop after this many BLEU evaluations without a new best (needs --bleu-source); the best is kept in MODEL_DIR/checkpoint-best.
    @Option(help: "Stop after this many BLEU evaluations without a new best (needs --bleu-source); the best is kept in MODEL_DIR/checkpoint-best.")
    public var patience: Int?
    /// Steps per device call; the static device keeps weights in its memory for the loop.
    @Option(help: "Steps per device call; the static device keeps weights in its memory for the loop.") public var iterationsPerLoop: Int = 1
    /// Batches per update (gradient accumulation: K batches train as one K-times larger batch; CPU device).
    @Option(help: "Batches per update (gradient accumulation: K batches train as one K-times larger batch; CPU device).")
    public var accumulate: Int = 1
    /// Keep an exponential moving average of the weights with this decay (e.g. 0.999); evaluation and translation use it.
    @Option(help: "Keep an exponential moving average of the weights with this decay (e.g. 0.999); evaluation and translation use it.")
    public var emaDecay: Float?
    /// Seed of initialization, data order and dropout.
    @Option(help: "Seed of initialization, data order and dropout.") public var seed: UInt64 = 1
    /// Stop training after this many seconds (then evaluate and save).
    @Option(help: "Stop training after this many seconds (then evaluate and save).") public var maxSeconds: Double?
    /// Save a checkpoint every this many steps.
    @Option(help: "Save a checkpoint every this many steps.") public var checkpointEvery: Int = 1000
    /// Continue from the newest checkpoint in --model-dir (--no-resume refuses a directory with checkpoints).
    @Flag(inversion: .prefixedNo, help: "Continue from the newest checkpoint in --model-dir (--no-resume refuses a directory with checkpoints).")
    public var resume = true
    /// Threads the kernels use (default: the cores this process may run on; under nmt-train-distributed, its share of the host's).
    @Option(help: "Threads the kernels use (default: the cores this process may run on; under nmt-train-distributed, its share of the host's).")
    public var threads: Int?

    /// Creates the flags with their defaults (ArgumentParser fills them in).
    public init() {}

    /// Refuses flags that contradict each other or are out of range, naming the flag.
    public func validate() throws {
        if trainSteps != nil && trainEpochs != nil { throw ValidationError("--train-steps and --train-epochs are mutually exclusive") }
        if (bleuSource == nil) != (bleuRef == nil) { throw ValidationError("--bleu-source and --bleu-ref go together") }
        if iterationsPerLoop < 1 { throw ValidationError("--iterations-per-loop must be at least 1") }
        if accumulate < 1 { throw ValidationError("--accumulate must be at least 1, not \(accumulate)") }
        try requireRange(threads, FlagBounds.threads, flag: "--threads")
        if stepsBetweenEvals < 1 || epochsBetweenEvals < 1 {
            throw ValidationError("--steps-between-evals and --epochs-between-evals must be at least 1")
        }
        if config == nil && TransformerConfiguration.preset(named: paramSet) == nil {
            throw ValidationError("--param-set must be tiny, base or big, not '\(paramSet)'")
        }
        try requireExisting(dataDir, flag: "--data-dir")
        // Every number the run depends on, checked before anything is loaded or logged.
        do { try options.validate() } catch { throw ValidationError("\(error)") }
    }

    /// The training options the flags describe.
    public var options: TrainingOptions {
        var options = TrainingOptions(
            dataDirectory: URL(fileURLWithPath: dataDir), modelDirectory: model.modelDirectory,
            vocabularyFile: model.vocabularyFile)
        options.optimizer = optimizer
        options.weightDecay = weightDecay
        options.trainSteps = trainSteps
        options.stepsBetweenEvals = stepsBetweenEvals
        options.trainEpochs = trainEpochs
        options.epochsBetweenEvals = epochsBetweenEvals
        options.batchTokens = batches.batchSize
        options.maxLength = batches.maxLength
        options.staticBatches = staticBatch || devices.isStatic
        options.learningRate = learningRate
        options.warmupSteps = warmupSteps
        options.bleuSource = bleuSource.map { URL(fileURLWithPath: $0) }
        options.bleuReference = bleuRef.map { URL(fileURLWithPath: $0) }
        options.bleuThreshold = stopThreshold
        options.patience = patience
        options.seed = seed
        options.maximumSeconds = maxSeconds
        options.checkpointEvery = checkpointEvery
        options.iterationsPerLoop = iterationsPerLoop
        options.accumulationSteps = accumulate
        options.emaDecay = emaDecay
        options.resume = resume
        return options
    }

    /// The model configuration: the `--config` file, or the `--param-set` preset.
    ///
    /// - Throws: `ValidationError` when the file cannot be read, or its decoding error.
    public func configuration() throws -> TransformerConfiguration {
        guard let config else { return TransformerConfiguration.preset(named: paramSet)! }
        guard let data = FileManager.default.contents(atPath: config) else { throw ValidationError("cannot read --config \(config)") }
        return try JSONDecoder().decode(TransformerConfiguration.self, from: data)
    }

    /// Trains on `device` and logs the run's speed and scores.
    ///
    /// - Returns: the trainer's report.
    /// - Throws: the trainer's errors.
    @discardableResult
    public func train(on device: Device, logger: Logger) throws -> TrainingReport {
        logger.info("BLAS: \(BLAS.implementation)")
        let trainer = try Trainer(options: options, configuration: configuration(), device: device, logger: logger)
        let report = try trainer.run()
        let seconds = report.trainingSeconds
        logger.info(
            "\(report.stepsThisRun) steps in \(String(format: "%.0f", seconds)) s: \(String(format: "%.2f", Double(report.stepsThisRun) / seconds)) steps/s, \(String(format: "%.0f", Double(report.targetTokens) / seconds)) target tokens/s; final loss \(report.finalLoss)")
        if let uncased = report.bleuUncased, let cased = report.bleuCased {
            logger.info("BLEU uncased \(String(format: "%.2f", uncased)), cased \(String(format: "%.2f", cased))")
        }
        return report
    }
}
