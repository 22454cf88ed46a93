import Foundation
import NMTData
import NMTSchedule
import NMTTensor
import NMTTransformer

/// Which weights of a model directory a model is exported with, and why: the one
/// documented answer to "what does this directory translate with" (see
/// Documentation/Deploy.md).
///
/// In order: a directory that holds `model.safetensors` itself (a saved model, one
/// checkpoint, an export) is that model; a training run's model directory with a
/// `checkpoint-best` folder gives its best checkpoint (best dev BLEU); otherwise its
/// newest usable checkpoint. In every case the moving average of the weights replaces
/// them when the checkpoint keeps one (`ema.safetensors`, flagged in its manifest).
public struct ExportedWeights: Sendable, Equatable {
    /// Why this checkpoint was chosen.
    public enum Choice: String, Sendable, Equatable {
        /// The directory is a model or a checkpoint itself.
        case given
        /// The best checkpoint by dev BLEU (`checkpoint-best`).
        case best
        /// The newest usable checkpoint.
        case newest
    }

    /// The folder the weights were read from.
    public var directory: URL
    /// Why it was chosen.
    public var choice: Choice
    /// Its training step, when it is a checkpoint.
    public var step: Int?
    /// Whether the weights are the run's moving average.
    public var movingAverage: Bool

    /// One line for a log: which folder, why, and which weights.
    public var description: String {
        let why = switch choice {
        case .given: "the given model"
        case .best: "the best checkpoint by dev BLEU"
        case .newest: "the newest checkpoint"
        }
        let step = self.step.map { " at step \($0)" } ?? ""
        return "\(directory.path) (\(why)\(step)), \(movingAverage ? "moving-average weights" : "trained weights")"
    }
}

/// Writes a model in a form that leaves swift-nmt's training behind: `nmt-export` and
/// ``exportSwiftNMT(modelDirectory:vocabulary:to:)``.
public enum ModelExport {
    /// The file an export writes beside the weights, naming what it holds.
    public static let recordFileName = "export.json"

    /// What an export folder holds, as ``recordFileName`` records it.
    public struct Record: Codable, Equatable, Sendable {
        /// "swift-nmt".
        public var format: String
        /// The vocabulary file's name inside the folder.
        public var vocabularyFile: String
        /// The step the weights were trained to, when known.
        public var step: Int?
        /// Whether the weights are a moving average.
        public var movingAverage: Bool
    }

    /// The model of `directory` and which weights it is (see ``ExportedWeights``).
    ///
    /// - Parameters:
    ///   - directory: a model directory, checkpoint or saved model of ours.
    ///   - vocabularyHash: the vocabulary's hash (nil skips the check); a checkpoint
    ///     trained with another vocabulary is refused.
    /// - Returns: the model, with the moving average applied where there is one, and
    ///   which weights they are.
    /// - Throws: `CheckpointError` when there is no usable model or it does not fit the
    ///   vocabulary.
    public static func resolveWeights(in directory: URL, vocabularyHash: String?) throws -> (Transformer, ExportedWeights) {
        let manager = FileManager.default
        var folder = directory, choice = ExportedWeights.Choice.given
        if !manager.fileExists(atPath: directory.appendingPathComponent(Transformer.weightsFileName).path) {
            let best = BestCheckpoint.directory(in: directory)
            if let newestBest = try Checkpoint.newestUsable(in: best).checkpoint {
                (folder, choice) = (newestBest, .best)
            } else {
                guard let newest = try Checkpoint.newestUsable(in: directory).checkpoint else {
                    throw CheckpointError.noModel(path: directory.path)
                }
                (folder, choice) = (newest, .newest)
            }
        }
        guard manager.fileExists(atPath: folder.appendingPathComponent(Checkpoint.manifestFileName).path) else {
            return (try Transformer.load(from: folder), ExportedWeights(directory: folder, choice: choice, step: nil, movingAverage: false))
        }
        let restored = try Checkpoint.load(from: folder, vocabularyHash: vocabularyHash)
        let weights = ExportedWeights(
            directory: folder, choice: choice, step: restored.manifest.step, movingAverage: restored.movingAverage != nil)
        guard let average = restored.movingAverage else { return (restored.model, weights) }
        return (try average.applied(to: restored.model), weights)
    }

    /// Writes an inference-only swift-nmt model folder: `model.safetensors`,
    /// `configuration.json`, the vocabulary (a file, or a fine-tuned Marian model's
    /// tokenizer folder) and ``recordFileName``; no optimizer
    /// state, no moving average to apply (the weights written are those translated with).
    /// `nmt-translate --model-dir OUTPUT` and `nmt-serve` load it without `--vocab`.
    ///
    /// - Parameters:
    ///   - modelDirectory: a model directory, checkpoint or saved model of ours.
    ///   - vocabulary: the vocabulary it was trained with.
    ///   - output: the folder to write (created; must not hold a model already).
    /// - Returns: which weights were exported.
    /// - Throws: `CheckpointError` (see ``resolveWeights(in:vocabularyHash:)``),
    ///   ``ModelExportError/outputNotEmpty(_:)``, and file-system errors.
    @discardableResult
    public static func exportSwiftNMT(modelDirectory: URL, vocabulary: URL, to output: URL) throws -> ExportedWeights {
        let (model, weights) = try resolveWeights(in: modelDirectory, vocabularyHash: try Checkpoint.vocabularyHash(of: vocabulary))
        let manager = FileManager.default
        if let contents = try? manager.contentsOfDirectory(atPath: output.path), !contents.isEmpty {
            throw ModelExportError.outputNotEmpty(output.path)
        }
        try model.save(to: output)
        let vocabularyName = "vocabulary" + (vocabulary.pathExtension.isEmpty ? "" : "." + vocabulary.pathExtension)
        try manager.copyItem(at: vocabulary, to: output.appendingPathComponent(vocabularyName))
        let record = Record(format: "swift-nmt", vocabularyFile: vocabularyName, step: weights.step, movingAverage: weights.movingAverage)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(record).write(to: output.appendingPathComponent(recordFileName), options: .atomic)
        return weights
    }

    /// Writes a CTranslate2 model directory (see ``CTranslate2Export``) of a swift-nmt model
    /// (resolved as ``resolveWeights(in:vocabularyHash:)`` says, with its vocabulary) or of
    /// a Hugging Face Marian directory (`vocabulary` nil).
    ///
    /// - Parameters:
    ///   - modelDirectory: our model directory, checkpoint or export, or a Marian directory.
    ///   - vocabulary: our model's vocabulary (nil for a Marian directory, or a folder that
    ///     carries its own; see ``bundledVocabulary(in:)``).
    ///   - positions: rows of the position table (the longest sequence CTranslate2 handles;
    ///     a Marian model's own `max_position_embeddings` at most).
    ///   - output: the folder to write (new or empty).
    /// - Returns: which weights were exported.
    /// - Throws: the loaders' errors, and ``ModelExportError``.
    @discardableResult
    public static func exportCTranslate2(modelDirectory: URL, vocabulary: URL?, positions: Int = 1024, to output: URL) throws
        -> ExportedWeights
    {
        let source = try ExportSource(modelDirectory: modelDirectory, vocabulary: vocabulary)
        let model = source.model
        if let tokenizer = source.tokenizer as? MarianTokenizer {
            let rows = min(positions, model.configuration.architecture.maximumPositions ?? positions)
            try CTranslate2Export.write(
                model, sourceTokens: tokenizer.sourcePiecesInOrder, targetTokens: tokenizer.targetPieces,
                permutations: (tokenizer.sourcePermutation, tokenizer.targetPermutation),
                special: Self.marianSpecialTokens(tokenizer), positions: rows, to: output)
            return source.weights
        }
        let tokens: [String]
        if let subwords = source.tokenizer as? Subtokenizer {
            tokens = (0..<subwords.vocabularySize).map { subwords.subtoken(Int32($0)) }
        } else if let pieces = source.tokenizer as? SentencePiece {
            tokens = try (0..<pieces.vocabularySize).map { try pieces.piece(of: Int32($0)) }
        } else {
            throw ModelExportError.invalidRecord(source.vocabulary.path, reason: "is a vocabulary CTranslate2 export does not know")
        }
        // Our subword vocabulary has no unknown token: naming padding keeps CTranslate2 from adding one.
        let unknown = (source.tokenizer as? SentencePiece).map { (try? $0.piece(of: $0.unknownID)) ?? tokens[0] } ?? tokens[0]
        try CTranslate2Export.write(
            model, sourceTokens: tokens, targetTokens: tokens, permutations: nil, special: (tokens[0], tokens[1], unknown),
            positions: positions, to: output)
        return source.weights
    }

    /// Writes a Hugging Face `MarianMTModel` directory (see ``HuggingFaceExport``) of a
    /// Marian directory's model, or of a Marian model fine-tuned here (its vocabulary a
    /// Marian tokenizer directory), with its decoding and tokenizer.
    ///
    /// - Parameters:
    ///   - modelDirectory: a Marian directory, or our model directory, checkpoint or export
    ///     of a fine-tuned Marian model.
    ///   - vocabulary: the fine-tuned model's tokenizer directory when `modelDirectory`
    ///     does not carry it (nil otherwise).
    ///   - output: the folder to write (new or empty).
    /// - Returns: which weights were exported.
    /// - Throws: ``ModelExportError`` for a model of the reference family (it has no
    ///   Hugging Face layout), the loaders' errors.
    @discardableResult
    public static func exportHuggingFace(modelDirectory: URL, vocabulary: URL? = nil, to output: URL) throws -> ExportedWeights {
        let source = try ExportSource(modelDirectory: modelDirectory, vocabulary: vocabulary)
        guard let tokenizer = source.tokenizer as? MarianTokenizer else {
            throw ModelExportError.invalidRecord(
                modelDirectory.path, reason: "is not a Marian model; the Hugging Face export writes MarianMTModel directories only")
        }
        let decoding = try MarianModelDirectory.decodingOptions(in: source.vocabulary, tokenizer: tokenizer)
        guard let generation = decoding.strategy as? GenerateStrategy else {
            preconditionFailure("MarianModelDirectory.decodingOptions decodes with a GenerateStrategy")
        }
        try HuggingFaceExport.write(source.model, tokenizer: tokenizer, generation: generation, assets: source.vocabulary, to: output)
        return source.weights
    }

    /// A model to export, its tokenizer, where the tokenizer's files are and which weights
    /// were taken.
    private struct ExportSource {
        var model: Transformer
        var tokenizer: any Tokenizer
        /// The vocabulary file, or the folder holding a Marian model's tokenizer and
        /// configuration files.
        var vocabulary: URL
        var weights: ExportedWeights

        init(modelDirectory: URL, vocabulary: URL?) throws {
            if MarianModelDirectory.isMarian(modelDirectory) {
                if let vocabulary { throw TranslationModelError.vocabularyNotUsed(directory: modelDirectory.path, vocabulary: vocabulary.path) }
                let marian = try MarianModelDirectory.load(modelDirectory)
                (model, tokenizer, self.vocabulary) = (marian.model, marian.tokenizer, modelDirectory)
                weights = ExportedWeights(directory: modelDirectory, choice: .given, step: nil, movingAverage: false)
                return
            }
            guard let vocabulary = try vocabulary ?? bundledVocabulary(in: modelDirectory) else {
                throw TranslationModelError.vocabularyNeeded(directory: modelDirectory.path)
            }
            (model, weights) = try resolveWeights(in: modelDirectory, vocabularyHash: try Checkpoint.vocabularyHash(of: vocabulary))
            tokenizer = try TokenizerFile.load(vocabulary)
            self.vocabulary = vocabulary
        }
    }

    /// A Marian model's decoder start (the configured start id's own target piece: with
    /// separate vocabularies it need not be the target's `<pad>`), EOS and unknown tokens.
    static func marianSpecialTokens(_ tokenizer: MarianTokenizer) -> (padding: String, endOfSentence: String, unknown: String) {
        let target = tokenizer.targetPermutation.originalIDs
        return (tokenizer.targetPieces[Int(target[0])], tokenizer.targetPieces[Int(target[1])], "<unk>")
    }

    /// The folder a fine-tuned Marian model keeps its tokenizer in, inside its model
    /// directory (a copy of the Marian directory it started from, without the weights).
    public static let tokenizerFolderName = "tokenizer"

    /// The vocabulary a model folder carries, or nil when it carries none: the file an
    /// export names in ``recordFileName``, else the Marian tokenizer directory
    /// ``tokenizerFolderName`` of a fine-tuned Marian model.
    ///
    /// - Throws: ``ModelExportError/invalidRecord(_:reason:)`` for a record that cannot be
    ///   read or names a file that is not there.
    public static func bundledVocabulary(in directory: URL) throws -> URL? {
        let url = directory.appendingPathComponent(recordFileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            let tokenizer = directory.appendingPathComponent(tokenizerFolderName)
            return MarianTokenizer.isTokenizerDirectory(tokenizer) ? tokenizer : nil
        }
        let record: Record
        do { record = try JSONDecoder().decode(Record.self, from: Data(contentsOf: url)) } catch {
            throw ModelExportError.invalidRecord(url.path, reason: "\(error)")
        }
        let vocabulary = directory.appendingPathComponent(record.vocabularyFile)
        guard record.vocabularyFile == vocabulary.lastPathComponent, FileManager.default.fileExists(atPath: vocabulary.path) else {
            throw ModelExportError.invalidRecord(url.path, reason: "names the vocabulary \(record.vocabularyFile), which is not in the folder")
        }
        return vocabulary
    }
}

/// An export that cannot be written or read.
public enum ModelExportError: Error, Equatable, CustomStringConvertible {
    /// The output folder already holds files.
    case outputNotEmpty(String)
    /// An export record that cannot be used.
    case invalidRecord(String, reason: String)

    /// A sentence naming the path.
    public var description: String {
        switch self {
        case .outputNotEmpty(let path): return "output \(path) is not empty; export into a new folder"
        case .invalidRecord(let path, let reason): return "export record \(path) \(reason)"
        }
    }
}
