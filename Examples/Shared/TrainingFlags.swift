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
    @Option(help: "Folder of the TFRecord shards (not with --init-from, which writes its own into MODEL_DIR/data).") public var dataDir: String?
    /// `--model-dir`.
    @OptionGroup public var directory: ModelDirectoryOption
    /// The vocabulary.
    @Option(help: "The vocabulary the data was encoded and the model trained with (not when fine-tuning a Marian model or an export, which carry their own).")
    public var vocab: String?
    /// `--init-from` and the text to fine-tune on.
    @OptionGroup public var fineTune: FineTuneFlags
    /// `--device` and `--shards`.
    @OptionGroup public var devices: DeviceOptions
    /// `--batch-size` and `--max-length`.
    @OptionGroup public var batches: BatchFlags
    /// Static [batch/max-length, max-length] batches.
    @Flag(help: "Static [batch/max-length, max-length] batches.") public var staticBatch = false
    /// The schedule: steps or epochs, iterations, time budget.
    @OptionGroup public var schedule: ScheduleFlags
    /// The optimizer and its learning rate.
    @OptionGroup public var optimizer: OptimizerFlags
    /// BLEU during training.
    @OptionGroup public var evaluation: EvaluationFlags
    /// Steps per call, per update and between checkpoints.
    @OptionGroup public var steps: StepFlags
    /// Seed of initialization, data order and dropout.
    @Option(help: "Seed of initialization, data order and dropout.") public var seed: UInt64 = 1
    /// Continue from the newest checkpoint in --model-dir (--no-resume refuses a directory with checkpoints).
    @Flag(inversion: .prefixedNo, help: "Continue from the newest checkpoint in --model-dir (--no-resume refuses a directory with checkpoints).")
    public var resume = true
    /// Threads the kernels use (default: the cores this process may run on; under nmt-train-distributed, its share of the host's).
    @Option(help: "Threads the kernels use (default: the cores this process may run on; under nmt-train-distributed, its share of the host's).")
    public var threads: Int?

    /// Creates the flags with their defaults (ArgumentParser fills them in).
    public init() {}

    /// Refuses flags that contradict each other or are out of range, naming the flag
    /// (each group checks its own first).
    public func validate() throws {
        try requireRange(threads, FlagBounds.threads, flag: "--threads")
        if config == nil && TransformerConfiguration.preset(named: paramSet) == nil {
            throw ValidationError("--param-set must be tiny, base or big, not '\(paramSet)'")
        }
        if let vocab { try requireExisting(vocab, flag: "--vocab") }
        let dataDirectory: URL, vocabulary: URL
        if fineTune.isFineTuning {
            if let dataDir { throw ValidationError("--data-dir \(dataDir): --init-from writes its own shards from --train-source and --train-target") }
            if let config { throw ValidationError("--config \(config): a fine-tuned model keeps the configuration of --init-from") }
            // Stand-ins for the checks below: the run's data and vocabulary are made later.
            (dataDirectory, vocabulary) = (directory.modelDirectory, directory.modelDirectory)
        } else {
            guard let dataDir else { throw ValidationError("give --data-dir (shards from nmt-prepare corpus), or --init-from to fine-tune on text") }
            guard let vocab else { throw ValidationError("give --vocab, the vocabulary the shards in --data-dir were encoded with") }
            try requireExisting(dataDir, flag: "--data-dir")
            (dataDirectory, vocabulary) = (URL(fileURLWithPath: dataDir), URL(fileURLWithPath: vocab))
        }
        // Every number the run depends on, checked before anything is loaded or logged.
        do { try options(dataDirectory: dataDirectory, vocabulary: vocabulary).validate() } catch { throw ValidationError("\(error)") }
    }

    /// The training options the flags describe, for shards in `dataDirectory` encoded with
    /// `vocabulary`.
    public func options(dataDirectory: URL, vocabulary: URL) -> TrainingOptions {
        var options = TrainingOptions(dataDirectory: dataDirectory, modelDirectory: directory.modelDirectory, vocabularyFile: vocabulary)
        (options.batchTokens, options.maxLength) = (batches.batchSize, batches.maxLength)
        options.staticBatches = staticBatch || devices.isStatic
        (options.seed, options.resume) = (seed, resume)
        schedule.apply(to: &options)
        optimizer.apply(to: &options, fineTuning: fineTune.isFineTuning)
        evaluation.apply(to: &options)
        steps.apply(to: &options)
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

    /// Trains on `device` (fine-tuning when `--init-from` is given) and logs the run's
    /// speed and scores.
    ///
    /// - Returns: the trainer's report.
    /// - Throws: the trainer's errors, and `FineTuning.prepare`'s.
    @discardableResult
    public func train(on device: Device, logger: Logger) throws -> TrainingReport {
        logger.info("BLAS: \(BLAS.implementation)")
        let trainer: Trainer
        if fineTune.isFineTuning {
            let setup = try fineTune.prepare(
                vocabulary: vocab.map { URL(fileURLWithPath: $0) }, modelDirectory: directory.modelDirectory, seed: seed,
                log: { logger.info("\($0)") })
            var options = options(dataDirectory: setup.dataDirectory, vocabulary: setup.vocabulary)
            if options.bleuSource == nil { (options.bleuSource, options.bleuReference) = (setup.dev.source, setup.dev.target) }
            trainer = try Trainer(
                options: options, configuration: setup.initialModel.configuration, device: device, logger: logger,
                initialModel: setup.initialModel)
            trainer.translationOptions = setup.decodingOptions
            if trainer.currentStep == 0, let source = options.bleuSource, let reference = options.bleuReference {
                let (uncased, cased) = try trainer.bleu(source: source, reference: reference)
                trainer.logger.info(
                    "before fine-tuning: BLEU uncased \(String(format: "%.2f", uncased)), cased \(String(format: "%.2f", cased)) on \(source.lastPathComponent)")
            }
        } else {
            trainer = try Trainer(
                options: options(dataDirectory: URL(fileURLWithPath: dataDir!), vocabulary: URL(fileURLWithPath: vocab!)),
                configuration: configuration(), device: device, logger: logger)
        }
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
