import Foundation
import NMTLayers

/// How a ``Trainer`` runs: data, model directory, batching, schedule, checkpoints, BLEU.
/// The defaults are the reference's for the base model on CPU.
public struct TrainingOptions: Codable, Sendable, Equatable {
    /// Folder of the TFRecord shards (`*train*` and `*dev*` files).
    public var dataDirectory: URL
    /// Folder of checkpoints; a run resumes from the newest one in it.
    public var modelDirectory: URL
    /// The vocabulary the data was encoded with.
    public var vocabularyFile: URL
    /// Tokens per batch (``defaultBatchTokens``).
    public var batchTokens = Self.defaultBatchTokens
    /// Examples longer than this (either side, EOS included) are skipped (``defaultMaxLength``).
    public var maxLength = Self.defaultMaxLength
    /// The reference's tokens per batch on a CPU-sized run (2048).
    public static let defaultBatchTokens = 2048
    /// The reference's longest training example (256 tokens).
    public static let defaultMaxLength = 256
    /// Static `[batchTokens / maxLength, maxLength]` batches.
    public var staticBatches = false
    /// Train this many steps (a step basis), evaluating every `stepsBetweenEvals`.
    public var trainSteps: Int?
    /// Steps per train-evaluate iteration on a step basis.
    public var stepsBetweenEvals = 1000
    /// Train this many epochs (an epoch basis; 10 when neither steps nor epochs are given).
    public var trainEpochs: Int?
    /// Epochs per iteration on an epoch basis.
    public var epochsBetweenEvals = 1
    /// Base learning rate of the warmup/rsqrt schedule.
    public var learningRate: Float = 2.0
    /// Warmup steps of the schedule.
    public var warmupSteps = 16000
    /// The optimizer (Adam with the reference's constants by default).
    public var optimizer: OptimizerKind = .adam
    /// λ of `AdamW`'s decoupled weight decay (ignored by other optimizers).
    public var weightDecay: Float = AdamW.defaultWeightDecay
    /// Training and evaluation examples, which convert epochs to steps on a static-batch
    /// device and set how often the data repeats; nil counts the records of the
    /// `*train*` and `*dev*` shards.
    public var exampleCounts: ScheduleManager.ExampleCounts?
    /// Seed of initialization, data order and dropout.
    public var seed: UInt64 = 1
    /// Steps handed to the device per call (the reference's `iterations_per_loop`): a
    /// static device keeps parameters in its own memory for the whole loop, and the
    /// per-step summaries come back when it ends. Loops end early at an evaluation or
    /// epoch boundary.
    public var iterationsPerLoop = 1
    /// Batches per update (gradient accumulation): each step trains on this many batches
    /// of ``batchTokens`` and updates once, as one batch of them all would (1: none). A
    /// small machine trains with a K-times larger effective batch at the memory of one.
    /// The CPU device accumulates; the static device refuses more than 1.
    public var accumulationSteps = 1
    /// Keep an exponential moving average of the weights with this decay (for example
    /// 0.999), saved in checkpoints and used for evaluation and translation; nil keeps none.
    public var emaDecay: Float?
    /// Save a checkpoint every this many steps (and at the end).
    public var checkpointEvery = 1000
    /// Checkpoints kept.
    public var keepCheckpoints = 5
    /// Translate this file after each evaluation and score it against `bleuReference`.
    public var bleuSource: URL?
    /// Reference translations of `bleuSource`.
    public var bleuReference: URL?
    /// Stop once the uncased BLEU reaches this.
    public var bleuThreshold: Float?
    /// Stop after this many BLEU evaluations in a row without a new best (needs
    /// `bleuSource`); nil trains on. The best checkpoint is kept either way whenever BLEU
    /// is evaluated (``BestCheckpoint``).
    public var patience: Int?
    /// Stop training after this many seconds (checked between steps, once this run has
    /// trained at least one; evaluation and a final checkpoint follow).
    public var maximumSeconds: Double?
    /// Continue from the newest checkpoint in the model directory; when false, a model
    /// directory that already holds checkpoints is refused instead.
    public var resume = true

    /// Creates options with the reference defaults.
    public init(dataDirectory: URL, modelDirectory: URL, vocabularyFile: URL) {
        self.dataDirectory = dataDirectory
        self.modelDirectory = modelDirectory
        self.vocabularyFile = vocabularyFile
    }
}

extension TrainingOptions {
    /// The most steps (or steps between evaluations, warm-up steps, checkpoint interval) a
    /// run takes: 10⁹, 1.6 years at 20 steps/s, and far from overflowing any sum of steps.
    public static let maximumCount = 1_000_000_000
    /// The most epochs: 10⁶.
    public static let maximumEpochs = 1_000_000
    /// The most batches accumulated into one update: 4,096.
    public static let maximumAccumulationSteps = 4_096
    /// The most tokens in one batch: 10⁷ (a base model needs about 100 GB for that).
    public static let maximumBatchTokens = 10_000_000
    /// The longest example: 10⁵ tokens.
    public static let maximumLength = 100_000

    /// Checks every number the run divides by, multiplies with or counts down: each must be
    /// in its range (see ``maximumCount`` and the other bounds).
    ///
    /// - Throws: ``TrainingError/invalidOption(_:reason:)`` naming the first bad option.
    public func validate() throws(TrainingError) {
        func require(_ condition: Bool, _ option: String, _ reason: String) throws(TrainingError) {
            if !condition { throw .invalidOption(option, reason: reason) }
        }
        // Upper bounds far past any real run, so that no count can overflow the step
        // arithmetic (a step count of 2⁶³ − 1 once trapped) or size a buffer from nothing.
        func requireRange(_ value: Int?, _ range: ClosedRange<Int>, _ option: String) throws(TrainingError) {
            if let value, !range.contains(value) { throw .invalidOption(option, reason: "is \(value); must be in \(range.lowerBound)...\(range.upperBound)") }
        }
        try requireRange(trainSteps, 1...Self.maximumCount, "train steps")
        try requireRange(stepsBetweenEvals, 1...Self.maximumCount, "steps between evaluations")
        try requireRange(trainEpochs, 1...Self.maximumEpochs, "train epochs")
        try requireRange(epochsBetweenEvals, 1...Self.maximumEpochs, "epochs between evaluations")
        try requireRange(warmupSteps, 1...Self.maximumCount, "warmup steps")
        try requireRange(checkpointEvery, 1...Self.maximumCount, "checkpoint interval")
        try requireRange(keepCheckpoints, 1...1_000, "checkpoints kept")
        try requireRange(iterationsPerLoop, 1...1_000_000, "iterations per loop")
        try requireRange(accumulationSteps, 1...Self.maximumAccumulationSteps, "accumulation steps")
        try requireRange(batchTokens, 1...Self.maximumBatchTokens, "batch tokens")
        try requireRange(maxLength, 1...Self.maximumLength, "max length")
        try requireRange(patience, 1...1_000_000, "patience")
        try require(learningRate.isFinite && learningRate > 0, "learning rate", "is \(learningRate); must be a finite positive number")
        if let emaDecay { try require(emaDecay > 0 && emaDecay < 1, "EMA decay", "is \(emaDecay); must be in (0, 1)") }
        try require(weightDecay.isFinite && weightDecay >= 0, "weight decay", "is \(weightDecay); must be finite and ≥ 0")
        if let maximumSeconds {
            try require(maximumSeconds.isFinite && maximumSeconds > 0, "time budget", "is \(maximumSeconds) s; must be positive")
        }
        if let bleuThreshold { try require(bleuThreshold.isFinite, "BLEU threshold", "is \(bleuThreshold); must be finite") }
        if patience != nil {
            try require(bleuSource != nil && bleuReference != nil, "patience", "needs a BLEU source and reference to evaluate")
        }
    }
}

/// A training run that cannot start or cannot go on.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    /// An option has a value the run cannot use.
    case invalidOption(String, reason: String)
    /// A step's loss or gradient norm is not finite (NaN or infinite): training stopped
    /// before anything was saved from it.
    case nonFinite(step: Int, what: String, value: Float)
    /// Another process trains in this model directory (see ``ModelDirectoryLock``).
    case modelDirectoryInUse(path: String, holder: String)
    /// The data directory's training shards hold no examples.
    case noTrainingExamples(directory: String)
    /// The shards were encoded with another vocabulary than the run's (CRC-32C of each).
    case dataVocabularyMismatch(directory: String, shards: String, vocabulary: String)

    /// A sentence saying what is wrong.
    public var description: String {
        switch self {
        case .invalidOption(let option, let reason): return "invalid training option: \(option) \(reason)"
        case .nonFinite(let step, let what, let value):
            return "the \(what) of step \(step) is \(value); training stopped, and the last checkpoint (before it) is kept. "
                + "Lower the learning rate, lengthen the warm-up or check the data (a batch without target tokens)"
        case .modelDirectoryInUse(let path, let holder):
            return "the model directory \(path) is in use by \(holder); two trainings cannot write one directory"
        case .noTrainingExamples(let directory):
            return "the training shards in \(directory) hold no examples; prepare the data again (nmt-prepare corpus)"
        case .dataVocabularyMismatch(let directory, let shards, let vocabulary):
            return "the shards in \(directory) were encoded with another vocabulary (CRC-32C \(shards)) than the one given "
                + "(\(vocabulary)); give the vocabulary they were made with, or prepare them again"
        }
    }
}

/// What a finished run reports.
public struct TrainingReport: Sendable, Equatable {
    /// Updates applied in total (including those before a resume).
    public var steps: Int
    /// Updates applied by this run.
    public var stepsThisRun: Int
    /// Wall time of this run's training steps, in seconds.
    public var trainingSeconds: Double
    /// Non-padding target tokens trained on by this run.
    public var targetTokens: Int
    /// The last step's minibatch loss.
    public var finalLoss: Float
    /// Every minibatch loss of this run, in step order.
    public var losses: [Float]
    /// The last evaluation: "loss" and every `metrics/...` value.
    public var evaluation: [String: Double]
    /// The last BLEU scores (×100), if computed.
    public var bleuUncased: Float?, bleuCased: Float?
    /// The best checkpoint so far (this run's or an earlier one's), when BLEU is evaluated.
    public var best: BestCheckpoint?
    /// Whether training stopped because BLEU did not improve for ``TrainingOptions/patience``
    /// evaluations.
    public var stoppedEarly = false
}
