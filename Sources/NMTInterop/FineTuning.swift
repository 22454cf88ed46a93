import Foundation
import NMTData
import NMTSchedule
import NMTTransformer

/// A training run that starts from a model that already translates, on raw parallel text
/// tokenized with the model's own tokenizer: what `nmt-train --init-from` does.
///
/// ``prepare(initFrom:vocabulary:modelDirectory:train:dev:shards:seed:log:)`` loads the
/// model (a Hugging Face Marian directory, or a model directory, checkpoint or export of
/// ours: best / moving-average weights as ``ModelExport/resolveWeights(in:vocabularyHash:)``
/// chooses them), keeps a Marian model's tokenizer and configuration files in
/// `MODEL_DIR/tokenizer` (the run's vocabulary from then on; `nmt-translate`,
/// `nmt-serve` and `nmt-export` find it there), and writes the text as TFRecord shards
/// into `MODEL_DIR/data`. Hand ``initialModel``, ``trainingOptions`` and
/// ``decodingOptions`` to a `Trainer`; everything training offers (optimizers,
/// schedules, checkpoints and exact resume, moving average, best checkpoint by dev BLEU,
/// data parallelism) then applies. Preparing again in the same model directory with the
/// same files reuses what is there, so a run resumes; other files are refused.
public struct FineTuning {
    /// A source file and its line-aligned target file.
    public struct TextPair: Sendable, Equatable {
        /// One source sentence per line.
        public var source: URL
        /// The translation of each source line.
        public var target: URL

        /// The pair of files.
        public init(source: URL, target: URL) {
            self.source = source
            self.target = target
        }
    }

    /// The folder of the shards inside the model directory.
    public static let dataFolderName = "data"
    /// The record of the text files the shards were made from, inside the data folder.
    static let recordFileName = "fine-tuning-text.json"
    /// Without a dev set, the last 1 % of the pairs (at least 1, at most this many) are kept
    /// out of training to evaluate on.
    public static let maximumHeldOutPairs = 500

    /// The weights and configuration training starts from.
    public var initialModel: Transformer
    /// The run's vocabulary: `MODEL_DIR/tokenizer` for a Marian model, else the given
    /// vocabulary file.
    public var vocabulary: URL
    /// How the model is published to decode (and BLEU evaluation translates): a Marian
    /// model's `generate()` search, else the reference's beam search.
    public var decodingOptions: DecodingOptions
    /// `MODEL_DIR/data`, the shards.
    public var dataDirectory: URL
    /// The run's model directory.
    public var modelDirectory: URL
    /// The dev text BLEU is scored on (given, or held out of the training text and
    /// written into the data folder).
    public var dev: TextPair
    /// Which weights of the model given were taken.
    public var weights: ExportedWeights

    /// Training options for the run: its data, model directory and vocabulary, and BLEU on
    /// the dev text after each evaluation; every other option at its default for the
    /// caller to set.
    public var trainingOptions: TrainingOptions {
        var options = TrainingOptions(dataDirectory: dataDirectory, modelDirectory: modelDirectory, vocabularyFile: vocabulary)
        (options.bleuSource, options.bleuReference) = (dev.source, dev.target)
        return options
    }

    /// Loads the model and prepares the run's vocabulary and shards.
    ///
    /// - Parameters:
    ///   - initFrom: a Hugging Face Marian directory, or a model directory, checkpoint or
    ///     export of swift-nmt.
    ///   - vocabulary: the vocabulary a swift-nmt model was trained with (nil for a Marian
    ///     directory, or a folder that carries its own).
    ///   - modelDirectory: where the run writes (created when missing).
    ///   - train: the training text.
    ///   - dev: the dev text; nil holds out the last 1 % of the training pairs (at most
    ///     ``maximumHeldOutPairs``).
    ///   - shards: training shards to spread the examples over.
    ///   - seed: the shuffle of the training shards.
    ///   - log: told what is loaded and written.
    /// - Throws: the loaders' errors, ``FineTuningError`` for a model directory prepared
    ///   from other text or another model, `CorpusError` for unreadable or misaligned text.
    public static func prepare(
        initFrom: URL, vocabulary: URL?, modelDirectory: URL, train: TextPair, dev: TextPair?, shards: Int = 4, seed: UInt64 = 1,
        log: (String) -> Void = { _ in }
    ) throws -> FineTuning {
        let manager = FileManager.default
        try manager.createDirectory(at: modelDirectory, withIntermediateDirectories: true)
        let model: Transformer, weights: ExportedWeights, runVocabulary: URL
        if MarianModelDirectory.isMarian(initFrom) {
            if let vocabulary { throw TranslationModelError.vocabularyNotUsed(directory: initFrom.path, vocabulary: vocabulary.path) }
            model = try MarianModelDirectory.load(initFrom).model
            weights = ExportedWeights(directory: initFrom, choice: .given, step: nil, movingAverage: false)
            runVocabulary = try keepTokenizer(of: initFrom, in: modelDirectory)
        } else {
            guard let given = try vocabulary ?? ModelExport.bundledVocabulary(in: initFrom) else {
                throw TranslationModelError.vocabularyNeeded(directory: initFrom.path)
            }
            (model, weights) = try ModelExport.resolveWeights(in: initFrom, vocabularyHash: try Checkpoint.vocabularyHash(of: given))
            runVocabulary = MarianTokenizer.isTokenizerDirectory(given) ? try keepTokenizer(of: given, in: modelDirectory) : given
        }
        log("starting from \(weights.description)")
        let tokenizer = try TokenizerFile.load(runVocabulary)
        let data = modelDirectory.appendingPathComponent(dataFolderName)
        try manager.createDirectory(at: data, withIntermediateDirectories: true)
        let devText = try writeShards(
            train: train, dev: dev, tokenizer: tokenizer, vocabulary: runVocabulary, data: data, shards: shards, seed: seed, log: log)
        return FineTuning(
            initialModel: model, vocabulary: runVocabulary,
            decodingOptions: try TranslationModel.decodingOptions(vocabulary: runVocabulary, tokenizer: tokenizer, greedy: false),
            dataDirectory: data, modelDirectory: modelDirectory, dev: devText, weights: weights)
    }

    /// Copies the tokenizer and configuration files of a Marian directory (or of another
    /// run's tokenizer folder) into `MODEL_DIR/tokenizer`, or checks the copy already there.
    private static func keepTokenizer(of source: URL, in modelDirectory: URL) throws -> URL {
        let folder = modelDirectory.appendingPathComponent(ModelExport.tokenizerFolderName)
        let manager = FileManager.default
        if manager.fileExists(atPath: folder.path) {
            guard MarianTokenizer.isTokenizerDirectory(folder),
                try MarianTokenizer.checksum(ofDirectory: folder) == MarianTokenizer.checksum(ofDirectory: source)
            else { throw FineTuningError.otherModel(folder: folder.path, given: source.path) }
            return folder
        }
        // Written beside and renamed: an interrupted copy never looks complete.
        let temporary = modelDirectory.appendingPathComponent(".tokenizer.tmp-\(ProcessInfo.processInfo.processIdentifier)")
        try? manager.removeItem(at: temporary)
        try manager.createDirectory(at: temporary, withIntermediateDirectories: true)
        for name in MarianTokenizer.fileNames + ["config.json", "generation_config.json", "special_tokens_map.json"] {
            let file = source.appendingPathComponent(name)
            if manager.fileExists(atPath: file.path) { try manager.copyItem(at: file, to: temporary.appendingPathComponent(name)) }
        }
        // Another process of the run may have renamed its copy first: both are the same files.
        if rename(temporary.path, folder.path) != 0 { try? manager.removeItem(at: temporary) }
        return folder
    }

    /// Writes the training and dev shards (or checks that those there were made from the
    /// same text) and returns the dev text.
    private static func writeShards(
        train: TextPair, dev: TextPair?, tokenizer: any Tokenizer, vocabulary: URL, data: URL, shards: Int, seed: UInt64,
        log: (String) -> Void
    ) throws -> TextPair {
        let heldOut = TextPair(source: data.appendingPathComponent("held-out.source"), target: data.appendingPathComponent("held-out.target"))
        let record = try TextRecord(train: train, dev: dev)
        let recordURL = data.appendingPathComponent(recordFileName)
        if let saved = try? JSONDecoder().decode(TextRecord.self, from: Data(contentsOf: recordURL)) {
            guard saved == record else { throw FineTuningError.otherText(directory: data.path) }
            log("reusing the shards in \(data.path)")
            return dev ?? heldOut
        }
        let targetTokenizer = (tokenizer as? MarianTokenizer)?.targetSide
        var (sources, targets) = try CorpusPreparer.alignedLines(source: train.source, target: train.target)
        guard !sources.isEmpty else { throw FineTuningError.tooFewPairs(path: train.source.path, count: 0) }
        let devSources: [String], devTargets: [String]
        if let dev {
            (devSources, devTargets) = try CorpusPreparer.alignedLines(source: dev.source, target: dev.target)
        } else {
            guard sources.count >= 2 else { throw FineTuningError.tooFewPairs(path: train.source.path, count: sources.count) }
            let count = min(maximumHeldOutPairs, max(1, sources.count / 100))
            (devSources, devTargets) = (Array(sources.suffix(count)), Array(targets.suffix(count)))
            sources.removeLast(count)
            targets.removeLast(count)
            try (devSources.joined(separator: "\n") + "\n").write(to: heldOut.source, atomically: true, encoding: .utf8)
            try (devTargets.joined(separator: "\n") + "\n").write(to: heldOut.target, atomically: true, encoding: .utf8)
            log("no dev text given: the last \(count) of \(sources.count + count) pairs of \(train.source.lastPathComponent) are held out to evaluate on")
        }
        _ = try CorpusPreparer.writeShards(
            sourceLines: devSources, targetLines: devTargets, tokenizer: tokenizer, targetTokenizer: targetTokenizer, directory: data,
            name: "fine-tuning", tag: "dev", shards: 1, shuffleSeed: nil)
        _ = try CorpusPreparer.writeShards(
            sourceLines: sources, targetLines: targets, tokenizer: tokenizer, targetTokenizer: targetTokenizer, directory: data,
            name: "fine-tuning", tag: "train", shards: shards, shuffleSeed: seed)
        log("encoded \(sources.count) training pairs into \(shards) shards in \(data.path)")
        try ShardVocabularyRecord(vocabularyFile: vocabulary).write(in: data)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(record).write(to: recordURL, options: .atomic)
        return dev ?? heldOut
    }

    /// What the shards were made from: each text file's path and CRC-32C.
    private struct TextRecord: Codable, Equatable {
        var files: [String: String]

        init(train: TextPair, dev: TextPair?) throws {
            files = [:]
            for (role, url) in [("train source", train.source), ("train target", train.target)]
                + (dev.map { [("dev source", $0.source), ("dev target", $0.target)] } ?? [])
            {
                files[role] = "\(url.standardizedFileURL.path) \(try CRC32C.hexChecksum(ofFile: url))"
            }
        }
    }
}

/// A fine-tuning run that cannot start.
public enum FineTuningError: Error, Equatable, CustomStringConvertible {
    /// The model directory was prepared from other text.
    case otherText(directory: String)
    /// The model directory holds the tokenizer of another model.
    case otherModel(folder: String, given: String)
    /// No pairs to train on, or too few to hold some out for evaluation.
    case tooFewPairs(path: String, count: Int)

    /// A sentence saying what to do.
    public var description: String {
        switch self {
        case .otherText(let directory):
            return "\(directory) holds shards made from other text files (or other contents); fine-tune into a new model directory"
        case .otherModel(let folder, let given):
            return "\(folder) holds the tokenizer of another model than \(given); fine-tune into a new model directory"
        case .tooFewPairs(let path, 0):
            return "\(path) has no sentence pair to train on"
        case .tooFewPairs(let path, let count):
            return "\(path) has \(count) sentence pair(s); give --dev-source and --dev-target, or at least 2 pairs to hold one out"
        }
    }
}
