import Foundation

/// What a training run counts: the reference's `utils/schedule.Manager`.
///
/// A run trains in iterations of a number of steps or of epochs (never both), evaluating
/// after each. On a device with static batches, epochs convert to steps with
/// `examples · maxLength · epochs / batchTokens` (every batch then holds
/// `batchTokens / maxLength` sentences), and the sentences per batch must divide by the
/// shard count.
public struct ScheduleManager: Sendable, Equatable {
    /// Epochs trained when neither steps nor epochs are given (the reference's 10).
    public static let defaultTrainEpochs = 10

    /// Iterations of train-then-evaluate.
    public let iterations: Int
    /// Epochs in all on an epoch basis (nil on a step basis).
    public let trainEpochs: Int?
    /// Steps per iteration on a step basis, or on a static-batch device; nil means "until
    /// the data of `singleIterationEpochs` epochs is used up".
    public let singleIterationTrainSteps: Int?
    /// Epochs per iteration on an epoch basis.
    public let singleIterationEpochs: Int?
    /// Evaluation steps per iteration on a static-batch device (nil: the whole dev set).
    public let singleIterationEvalSteps: Int?
    /// How often the training data repeats within an iteration (nil: forever).
    public let repeatDataset: Int?

    /// Training examples and evaluation examples, for epoch-to-step conversion.
    public struct ExampleCounts: Sendable, Equatable, Codable {
        /// Training examples per epoch.
        public var train: Int
        /// Evaluation examples.
        public var eval: Int
        /// The reference's WMT English-German counts: 4,572,160 and 3,000.
        public static let wmt = ExampleCounts(train: 4_572_160, eval: 3000)
        /// Creates counts.
        public init(train: Int, eval: Int) {
            self.train = train
            self.eval = eval
        }
    }

    /// Creates a schedule.
    ///
    /// - Parameters:
    ///   - trainSteps: steps in all (a step basis; exclusive with `trainEpochs`).
    ///   - stepsBetweenEvals: steps per iteration on a step basis.
    ///   - trainEpochs: epochs in all (an epoch basis).
    ///   - epochsBetweenEvals: epochs per iteration on an epoch basis.
    ///   - defaultTrainEpochs: the epochs when neither steps nor epochs are given.
    ///   - batchTokens: tokens per batch.
    ///   - maxLength: the longest example; with static batches, every sentence's length.
    ///   - staticBatches: the device requires static batches (TPU-style): epochs become steps.
    ///   - shards: replicas of the device; `batchTokens / maxLength` must divide by it.
    ///   - examples: the training and evaluation example counts of the corpus.
    /// - Throws: ``ScheduleError`` when both bases are given, a count is not positive, or the
    ///   batch does not divide across the shards.
    public init(
        trainSteps: Int? = nil, stepsBetweenEvals: Int = 1000, trainEpochs: Int? = nil, epochsBetweenEvals: Int = 1,
        defaultTrainEpochs: Int = ScheduleManager.defaultTrainEpochs, batchTokens: Int, maxLength: Int, staticBatches: Bool = false, shards: Int = 1,
        examples: ExampleCounts = .wmt
    ) throws(ScheduleError) {
        if trainSteps != nil && trainEpochs != nil { throw .bothStepsAndEpochs }
        guard examples.train > 0, examples.eval >= 0 else { throw .notPositive("training examples") }
        if staticBatches {
            let sentences = batchTokens / maxLength
            guard sentences > 0, sentences % shards == 0 else {
                throw .indivisibleBatch(sentences: sentences, shards: shards)
            }
        }
        func toSteps(_ epochs: Int, _ count: Int) -> Int { count * maxLength * epochs / batchTokens }
        if let trainSteps {
            guard trainSteps > 0, stepsBetweenEvals > 0 else { throw .notPositive("train steps and steps between evals") }
            guard trainSteps >= stepsBetweenEvals else { throw .noIteration(trainSteps: trainSteps, stepsBetweenEvals: stepsBetweenEvals) }
            iterations = trainSteps / stepsBetweenEvals
            singleIterationTrainSteps = stepsBetweenEvals
            singleIterationEpochs = nil
            self.trainEpochs = nil
            repeatDataset = trainSteps > examples.train ? (trainSteps + examples.train - 1) / examples.train : nil
        } else {
            let epochs = trainEpochs ?? defaultTrainEpochs
            guard epochs > 0, epochsBetweenEvals > 0 else { throw .notPositive("train epochs and epochs between evals") }
            iterations = epochs / epochsBetweenEvals
            self.trainEpochs = epochs
            singleIterationEpochs = epochsBetweenEvals
            singleIterationTrainSteps = staticBatches ? toSteps(epochsBetweenEvals, examples.train) : nil
            repeatDataset = epochsBetweenEvals
        }
        singleIterationEvalSteps = staticBatches ? toSteps(1, examples.eval) : nil
    }

    /// "N steps.", "N epochs." or, with static batches on an epoch basis, "~N epochs. (S steps)".
    public var trainIncrementDescription: String {
        if let epochs = singleIterationEpochs {
            if let steps = singleIterationTrainSteps { return "~\(epochs) epochs. (\(steps) steps)" }
            return "\(epochs) epochs."
        }
        return "\(singleIterationTrainSteps ?? 0) steps."
    }
}

/// A schedule that cannot be run.
public enum ScheduleError: Error, Equatable, CustomStringConvertible {
    /// Steps and epochs were both given.
    case bothStepsAndEpochs
    /// A count is zero or negative.
    case notPositive(String)
    /// Fewer train steps than steps per iteration: no iteration would run.
    case noIteration(trainSteps: Int, stepsBetweenEvals: Int)
    /// Static batches of this many sentences cannot be split evenly across the shards.
    case indivisibleBatch(sentences: Int, shards: Int)

    /// A sentence saying what is wrong.
    public var description: String {
        switch self {
        case .bothStepsAndEpochs: return "train steps and train epochs are mutually exclusive; give one"
        case .notPositive(let what): return "\(what) must be positive"
        case .noIteration(let steps, let between):
            return "\(steps) train steps are fewer than the \(between) steps between evaluations: nothing would be trained"
        case .indivisibleBatch(let sentences, let shards):
            return "a static batch of \(sentences) sentences (batch tokens / max length) does not divide across \(shards) shards"
        }
    }
}
