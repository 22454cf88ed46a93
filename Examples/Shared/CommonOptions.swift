// Options every example program shares, as ArgumentParser groups (`@OptionGroup`).
import ArgumentParser
import Foundation
import NMT

/// The devices a program can run on.
public enum DeviceKind: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// ``NMTAccelerator/CPUDevice``.
    case cpu
    /// ``NMTAccelerator/StaticShardedDevice``: static batches, replicas on threads.
    case `static`
}

/// `--device cpu|static` and `--shards N`.
public struct DeviceOptions: ParsableArguments {
    /// The device.
    @Option(help: "Device: cpu, or static (the TPU-style device: static [batch, max-length] batches split across replicas).")
    public var device: DeviceKind = .cpu
    /// Replicas: the static device's, or the CPU device's concurrent parts of each training batch.
    @Option(help: "Replicas. The static device splits each batch across them; the CPU device trains each batch's parts concurrently, one thread each (default: one per core this process may use).")
    public var shards: Int?

    /// Creates the options with their defaults (ArgumentParser fills them in).
    public init() {}

    /// Refuses a shard count the device cannot use.
    public func validate() throws {
        try requireRange(shards, FlagBounds.shards, flag: "--shards")
    }

    /// Whether the device needs static batches.
    public var isStatic: Bool { device == .static }

    /// The device, for batches of `batchTokens` tokens of at most `maxLength` each.
    ///
    /// - Throws: ``NMTAccelerator/DeviceError`` when a static batch does not divide across the shards.
    public func makeDevice(batchTokens: Int, maxLength: Int) throws -> Device {
        switch device {
        case .cpu: return CPUDevice(replicas: shards ?? ComputeThreads.count)
        case .static: return try StaticShardedDevice(shards: shards ?? 1, batchTokens: batchTokens, maxLength: maxLength)
        }
    }
}

/// `--model-dir`: a model directory (its newest checkpoint) or one checkpoint directory.
public struct ModelDirectoryOption: ParsableArguments {
    /// The model directory.
    @Option(help: "A model directory (its newest checkpoint is used) or a checkpoint directory.") public var modelDir: String

    /// Creates the option (ArgumentParser fills it in).
    public init() {}

    /// The model directory as a URL.
    public var modelDirectory: URL { URL(fileURLWithPath: modelDir) }
}

/// `--model-dir` and an optional `--vocab`, for the programs that translate: a swift-nmt
/// model needs its vocabulary, a Hugging Face Marian directory has its own.
public struct TranslationModelOptions: ParsableArguments {
    /// `--model-dir`.
    @OptionGroup public var directory: ModelDirectoryOption
    /// The vocabulary file, for a swift-nmt model.
    @Option(help: "The vocabulary a swift-nmt model was trained with (not for a Hugging Face Marian directory, which has its own).")
    public var vocab: String?
    /// `--int8`: quantize the weights for int8 inference.
    @Flag(help: "Compute with int8 weights (per output channel) and activations (per row): faster on the CPU, translations change slightly. CPU device only.")
    public var int8 = false

    /// Creates the options (ArgumentParser fills them in).
    public init() {}

    /// Refuses a missing model directory or vocabulary file.
    public func validate() throws {
        try requireExisting(directory.modelDir, flag: "--model-dir")
        if let vocab { try requireExisting(vocab, flag: "--vocab") }
    }

    /// Loads the model, telling the format apart (see `TranslationModel.load`), and
    /// quantizes it with `--int8`; skipped checkpoints are warned about on standard error.
    public func load(greedy: Bool) throws -> TranslationModel {
        let loaded = try TranslationModel.load(
            directory.modelDirectory, vocabulary: vocab.map { URL(fileURLWithPath: $0) }, greedy: greedy,
            warning: { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) })
        return int8 ? try loaded.int8Quantized() : loaded
    }
}

/// `--batch-size` and `--max-length`: batches of examples read from TFRecord shards
/// (training and evaluation batch alike, so that nmt-evaluate's loss is the trainer's).
public struct BatchFlags: ParsableArguments {
    /// Tokens per batch.
    @Option(help: "Tokens per batch.") public var batchSize = TrainingOptions.defaultBatchTokens
    /// Longest example kept, in tokens with EOS.
    @Option(help: "Longest example kept (tokens, EOS included).") public var maxLength = TrainingOptions.defaultMaxLength

    /// Creates the flags with their defaults (ArgumentParser fills them in).
    public init() {}

    /// Refuses sizes out of range, naming the flag.
    public func validate() throws {
        try requireRange(batchSize, FlagBounds.batchTokens, flag: "--batch-size")
        try requireRange(maxLength, FlagBounds.sentenceTokens, flag: "--max-length")
    }
}

/// Exits with a one-line reason when `path` does not exist.
public func requireExisting(_ path: String, flag: String) throws {
    guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(flag) \(path) does not exist") }
}

extension OptimizerKind: ExpressibleByArgument {}
