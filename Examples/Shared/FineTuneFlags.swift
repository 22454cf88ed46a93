// The flags that start a training run from a model that already translates.
import ArgumentParser
import Foundation
import NMT

/// `--init-from` and the raw text a fine-tuning run trains on (see `FineTuning`).
public struct FineTuneFlags: ParsableArguments {
    /// The model to start from.
    @Option(help: "Fine-tune: start from this model (a Hugging Face Marian directory, or a model directory, checkpoint or export of swift-nmt) and train on --train-source/--train-target, tokenized with its own tokenizer, instead of --data-dir shards.")
    public var initFrom: String?
    /// Training source text.
    @Option(help: "Fine-tune: the source text, one sentence per line.") public var trainSource: String?
    /// Training target text.
    @Option(help: "Fine-tune: the target text, line-aligned with --train-source.") public var trainTarget: String?
    /// Dev source text.
    @Option(help: "Fine-tune: dev source text for the dev loss and BLEU (default: hold out the last 1% of the training pairs, at most 500).")
    public var devSource: String?
    /// Dev target text.
    @Option(help: "Fine-tune: the references of --dev-source.") public var devTarget: String?
    /// Training shards.
    @Option(help: "Fine-tune: TFRecord shards the training text is written into (MODEL_DIR/data).") public var trainShards = 4

    /// The base learning rate of a fine-tuning run's warmup/rsqrt schedule unless
    /// `--learning-rate` is given: with ``defaultWarmupSteps`` its peak is about 2.2e-4
    /// for a 512-wide model (`0.05 × 512^-0.5 × 200^-0.5`), a tenth of training from scratch.
    public static let defaultLearningRate: Float = 0.05
    /// The warmup of a fine-tuning run unless `--warmup-steps` is given: the weights are
    /// trained already, so the rate rises fast.
    public static let defaultWarmupSteps = 200

    /// Creates the flags (ArgumentParser fills them in).
    public init() {}

    /// Whether the run fine-tunes.
    public var isFineTuning: Bool { initFrom != nil }

    /// Refuses text flags without `--init-from`, a half-given pair, and missing files.
    public func validate() throws {
        let textFlags = [("--train-source", trainSource), ("--train-target", trainTarget), ("--dev-source", devSource), ("--dev-target", devTarget)]
        guard let initFrom else {
            if let given = textFlags.first(where: { $0.1 != nil }) {
                throw ValidationError("\(given.0) is for fine-tuning: give --init-from with it (or prepare shards with nmt-prepare and use --data-dir)")
            }
            return
        }
        try requireExisting(initFrom, flag: "--init-from")
        guard trainSource != nil, trainTarget != nil else { throw ValidationError("--init-from needs --train-source and --train-target") }
        guard (devSource == nil) == (devTarget == nil) else { throw ValidationError("give --dev-source and --dev-target together") }
        for (flag, path) in textFlags { if let path { try requireExisting(path, flag: flag) } }
        try requireRange(trainShards, 1...1024, flag: "--train-shards")
    }

    /// Loads the model and writes the run's vocabulary and shards into `modelDirectory`.
    ///
    /// - Throws: `FineTuning.prepare`'s errors.
    public func prepare(vocabulary: URL?, modelDirectory: URL, seed: UInt64, log: (String) -> Void) throws -> FineTuning {
        let url = { (path: String) in URL(fileURLWithPath: path) }
        let dev = devSource.flatMap { source in devTarget.map { FineTuning.TextPair(source: url(source), target: url($0)) } }
        return try FineTuning.prepare(
            initFrom: url(initFrom!), vocabulary: vocabulary, modelDirectory: modelDirectory,
            train: FineTuning.TextPair(source: url(trainSource!), target: url(trainTarget!)), dev: dev, shards: trainShards,
            seed: seed, log: log)
    }
}
