// The groups of training flags: schedule, optimizer, evaluation and step loop, each
// writing its part of TrainingOptions.
import ArgumentParser
import Foundation
import NMT

/// How long a run trains and how often it evaluates.
public struct ScheduleFlags: ParsableArguments {
    /// Total training steps.
    @Option(help: "Total training steps (step basis; exclusive with --train-epochs).") public var trainSteps: Int?
    /// Steps per train/evaluate iteration.
    @Option(help: "Steps per train/evaluate iteration.") public var stepsBetweenEvals: Int = 1000
    /// Training epochs.
    @Option(help: "Training epochs (epoch basis; default 10 when no steps are given).") public var trainEpochs: Int?
    /// Epochs per train/evaluate iteration.
    @Option(help: "Epochs per train/evaluate iteration.") public var epochsBetweenEvals: Int = 1
    /// The time budget.
    @Option(help: "Stop training after this many seconds (then evaluate and save).") public var maxSeconds: Double?

    /// Creates the flags with their defaults (ArgumentParser fills them in).
    public init() {}

    /// Refuses a schedule on both bases or with empty iterations.
    public func validate() throws {
        if trainSteps != nil && trainEpochs != nil { throw ValidationError("--train-steps and --train-epochs are mutually exclusive") }
        if stepsBetweenEvals < 1 || epochsBetweenEvals < 1 {
            throw ValidationError("--steps-between-evals and --epochs-between-evals must be at least 1")
        }
    }

    /// Writes the schedule into `options`.
    public func apply(to options: inout TrainingOptions) {
        (options.trainSteps, options.trainEpochs) = (trainSteps, trainEpochs)
        (options.stepsBetweenEvals, options.epochsBetweenEvals) = (stepsBetweenEvals, epochsBetweenEvals)
        options.maximumSeconds = maxSeconds
    }
}

/// The optimizer, its learning-rate schedule and the moving average of the weights.
public struct OptimizerFlags: ParsableArguments {
    /// The optimizer.
    @Option(help: "Optimizer: adam, lazyadam (the reference's name for adam), adamw or adafactor.")
    public var optimizer: OptimizerKind = .adam
    /// AdamW's decoupled weight decay.
    @Option(help: "AdamW's decoupled weight decay (fraction of a weight removed per unit of learning rate).")
    public var weightDecay: Float = AdamW.defaultWeightDecay
    /// Base learning rate of the warmup/rsqrt schedule (nil: 2.0, or 0.05 when fine-tuning).
    @Option(help: "Base learning rate of the warmup/rsqrt schedule (default 2.0; 0.05 when fine-tuning).") public var learningRate: Float?
    /// Warmup steps of the schedule (nil: 16000, or 200 when fine-tuning).
    @Option(help: "Warmup steps of the schedule (default 16000; 200 when fine-tuning).") public var warmupSteps: Int?
    /// The decay of a moving average of the weights (off by default).
    @Option(help: "Keep an exponential moving average of the weights with this decay (e.g. 0.999); evaluation and translation use it.")
    public var emaDecay: Float?

    /// Creates the flags with their defaults (ArgumentParser fills them in).
    public init() {}

    /// Writes the optimizer settings into `options`; a schedule not given is training's
    /// from scratch (`TrainingOptions`' defaults) or, when `fineTuning`, `FineTuneFlags`'.
    public func apply(to options: inout TrainingOptions, fineTuning: Bool) {
        (options.optimizer, options.weightDecay) = (optimizer, weightDecay)
        options.learningRate = learningRate ?? (fineTuning ? FineTuneFlags.defaultLearningRate : options.learningRate)
        options.warmupSteps = warmupSteps ?? (fineTuning ? FineTuneFlags.defaultWarmupSteps : options.warmupSteps)
        options.emaDecay = emaDecay
    }
}

/// BLEU after each evaluation, and stopping on it.
public struct EvaluationFlags: ParsableArguments {
    /// The source file translated for BLEU.
    @Option(help: "Source file to translate for BLEU after each evaluation.") public var bleuSource: String?
    /// Its reference translations.
    @Option(help: "Reference translations of --bleu-source.") public var bleuRef: String?
    /// The BLEU that ends the run.
    @Option(help: "Stop once uncased BLEU reaches this.") public var stopThreshold: Float?
    /// BLEU evaluations without a new best that end the run.
    @Option(help: "Stop after this many BLEU evaluations without a new best (needs --bleu-source); the best is kept in MODEL_DIR/checkpoint-best.")
    public var patience: Int?

    /// Creates the flags with their defaults (ArgumentParser fills them in).
    public init() {}

    /// Refuses a BLEU source without references, or the other way round.
    public func validate() throws {
        if (bleuSource == nil) != (bleuRef == nil) { throw ValidationError("--bleu-source and --bleu-ref go together") }
    }

    /// Writes the BLEU settings into `options`.
    public func apply(to options: inout TrainingOptions) {
        options.bleuSource = bleuSource.map { URL(fileURLWithPath: $0) }
        options.bleuReference = bleuRef.map { URL(fileURLWithPath: $0) }
        (options.bleuThreshold, options.patience) = (stopThreshold, patience)
    }
}

/// How steps run: per device call, per update, between checkpoints.
public struct StepFlags: ParsableArguments {
    /// Steps per device call.
    @Option(help: "Steps per device call; the static device keeps weights in its memory for the loop.") public var iterationsPerLoop: Int = 1
    /// Batches per update.
    @Option(help: "Batches per update (gradient accumulation: K batches train as one K-times larger batch; CPU device).")
    public var accumulate: Int = 1
    /// Steps between checkpoints.
    @Option(help: "Save a checkpoint every this many steps.") public var checkpointEvery: Int = 1000

    /// Creates the flags with their defaults (ArgumentParser fills them in).
    public init() {}

    /// Refuses loops and updates of no step.
    public func validate() throws {
        if iterationsPerLoop < 1 { throw ValidationError("--iterations-per-loop must be at least 1") }
        if accumulate < 1 { throw ValidationError("--accumulate must be at least 1, not \(accumulate)") }
    }

    /// Writes the step settings into `options`.
    public func apply(to options: inout TrainingOptions) {
        (options.iterationsPerLoop, options.accumulationSteps) = (iterationsPerLoop, accumulate)
        options.checkpointEvery = checkpointEvery
    }
}
