// nmt-prepare: builds vocabularies, encodes and decodes text, writes and dumps TFRecord
// files, extracts the Ding corpus and prepares a full corpus (vocabulary + shards).
// Other tools and tests call it; keep its output formats stable.
import ArgumentParser
import Foundation
import NMTCommandLine
import NMTData
import NMTSchedule

@main
struct NMTPrepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-prepare",
        abstract: "Prepare translation data: subword vocabularies, encodings, TFRecord shards, the Ding corpus.",
        subcommands: [Vocab.self, Encode.self, Decode.self, Records.self, Dump.self, Ding.self, Corpus.self])
}

/// Writes a line to standard error.
func note(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

/// Progress of writing shards: a live line on a terminal, otherwise a line per 10,000 pairs.
func progressLine(_ label: String) -> (Int, Int) -> Void {
    ProgressReporter(interval: 10_000).counter(label + ": pairs")
}

/// Lines of a file as they are, without the final newline (for encode/decode).
func rawLines(_ path: String) throws -> [Substring] {
    guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
    guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(path) is not valid UTF-8") }
    return TextLines.split(text)
}

struct Vocab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a subword vocabulary exactly as the reference does from FILE... in the given order.")
    @Option(help: "Where to write the vocabulary.") var output: String
    @Option(help: "Wanted number of subtokens (binary search over min_count).") var targetSize: Int = 32768
    @Option(help: "Stop the search within this distance of the target size.") var threshold: Int = 327
    @Option(help: "Use this fixed minimum count instead of the search.") var minCount: Int?
    @Option(help: "Characters read per file at most (the reference's 1e6).") var fileByteLimit: Int = 1_000_000
    @Argument(help: "Text files, one sentence per line.") var files: [String]

    func validate() throws {
        try requireRange(targetSize, 1...10_000_000, flag: "--target-size")
        try requireRange(threshold, 0...10_000_000, flag: "--threshold")
        try requireRange(minCount, 1...Int(Int32.max), flag: "--min-count")
        try requireRange(fileByteLimit, 1...Int(Int32.max), flag: "--file-byte-limit")
    }

    func run() throws {
        let start = Date()
        let tokenizer = try VocabularyBuilder.build(
            files: files.map { URL(fileURLWithPath: $0) }, targetSize: targetSize, threshold: threshold, minCount: minCount,
            fileByteLimit: fileByteLimit) { note("  \($0)") }
        try tokenizer.write(to: URL(fileURLWithPath: output))
        note(String(format: "wrote %d subtokens to %@ in %.1f s", tokenizer.vocabularySize, output, Date().timeIntervalSince(start)))
    }
}

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the ids of each line of FILE, space-separated, one line each.")
    @Option(help: "The vocabulary file.") var vocab: String
    @Flag(help: "Append the end-of-sentence id (1).") var eos = false
    @Argument(help: "A text file.") var file: String

    func run() throws {
        let tokenizer = try TokenizerFile.load(URL(fileURLWithPath: vocab))
        var out = ""
        for line in try rawLines(file) {
            out += try tokenizer.encode(String(line), addEOS: eos).map(String.init).joined(separator: " ") + "\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the text of each line of space-separated ids in FILE.")
    @Option(help: "The vocabulary file.") var vocab: String
    @Argument(help: "A file of space-separated ids, one sentence per line.") var file: String

    func run() throws {
        let tokenizer = try TokenizerFile.load(URL(fileURLWithPath: vocab))
        var out = ""
        for (number, line) in try rawLines(file).enumerated() {
            let ids = try line.split(separator: " ").map { field -> Int32 in
                guard let id = Int32(field), id >= 0 else {
                    throw ValidationError("\(file), line \(number + 1): '\(field)' is not an id")
                }
                return id
            }
            out += try tokenizer.decode(ids) + "\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}

struct Records: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one TFRecord file of inputs/targets examples (EOS appended) from line-aligned files.")
    @Option(help: "The vocabulary file.") var vocab: String
    @Option(help: "Source sentences, one per line.") var source: String
    @Option(help: "Target sentences, line-aligned with the source.") var target: String
    @Option(help: "The TFRecord file to write.") var output: String

    func run() throws {
        let tokenizer = try TokenizerFile.load(URL(fileURLWithPath: vocab))
        let sources = try CorpusPreparer.lines(of: URL(fileURLWithPath: source))
        let targets = try CorpusPreparer.lines(of: URL(fileURLWithPath: target))
        guard sources.count == targets.count else {
            throw CorpusError.lineCountMismatch(source: source, sourceLines: sources.count, target: target, targetLines: targets.count)
        }
        let writer = try TFRecordWriter(url: URL(fileURLWithPath: output))
        for (s, t) in zip(sources, targets) {
            try writer.write(TranslationExample(inputs: tokenizer.encode(s, addEOS: true), targets: tokenizer.encode(t, addEOS: true)).serialized)
        }
        try writer.close()
        note("wrote \(sources.count) examples to \(output)")
    }
}

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print each record's inputs<TAB>targets ids.",
        discussion: "Negative ids, and with --vocab ids the vocabulary does not have, are printed as they are and reported on standard error.")
    @Argument(help: "A TFRecord file of translation examples.") var file: String
    @Option(help: "The vocabulary the records should be encoded with (to report ids outside it).") var vocab: String?

    func run() throws {
        let vocabularySize = try vocab.map { try TokenizerFile.load(URL(fileURLWithPath: $0)).vocabularySize }
        var out = "", outOfRange = 0
        for (index, record) in try TFRecordReader(url: URL(fileURLWithPath: file)).readAll().enumerated() {
            let example: TranslationExample
            do { example = try TranslationExample(serialized: record) } catch {
                throw ValidationError("\(file): record \(index + 1): \(error)")
            }
            for (feature, ids) in [("inputs", example.inputs), ("targets", example.targets)] {
                for id in ids where id < 0 || Int(id) >= vocabularySize ?? .max {
                    outOfRange += 1
                    // The first few name their place; the total follows at the end.
                    if outOfRange <= 5 { note("warning: \(file): record \(index + 1): \(feature) id \(id) is \(describe(id, vocabularySize))") }
                }
            }
            out += example.inputs.map(String.init).joined(separator: " ") + "\t"
                + example.targets.map(String.init).joined(separator: " ") + "\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        if outOfRange > 0 { note("warning: \(file): \(outOfRange) ids outside the vocabulary") }
    }

    private func describe(_ id: Int32, _ vocabularySize: Int?) -> String {
        if id < 0 { return "negative" }
        return "outside the vocabulary of \(vocabularySize ?? 0) subtokens"
    }
}

struct Ding: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Extract English-German sentence pairs from the Ding dictionary (Debian's trans-de-en).",
        discussion: """
            Writes train.en, train.de, test.en and test.de to the output directory; with --dev-every N \
            also dev.en and dev.de, about 1 in N English sentences of train (none shared with train or test).
            """)
    @Option(help: "The dictionary file.") var input: String = DingExtractor.defaultPath
    @Option(help: "The output directory.") var output: String
    @Option(help: "Carve a development split of about 1 in N training sentences out of train (19: about 1,000 pairs).")
    var devEvery: Int?

    func validate() throws {
        try requireRange(devEvery, 2...1_000_000, flag: "--dev-every")
    }

    func run() throws {
        var (train, test) = try DingExtractor.extract(from: URL(fileURLWithPath: input))
        var splits = [("test", test)]
        if let devEvery {
            let dev: [DingExtractor.Pair]
            (train, dev) = DingExtractor.splitDevelopment(train, every: devEvery)
            splits.append(("dev", dev))
        }
        let directory = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (split, pairs) in [("train", train)] + splits {
            try Data(pairs.map { $0.english + "\n" }.joined().utf8).write(to: directory.appendingPathComponent("\(split).en"), options: .atomic)
            try Data(pairs.map { $0.german + "\n" }.joined().utf8).write(to: directory.appendingPathComponent("\(split).de"), options: .atomic)
        }
        note("extracted " + ([("train", train)] + splits).map { "\($0.1.count) \($0.0)" }.joined(separator: ", ") + " pairs into \(output)")
    }
}

struct Corpus: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a vocabulary from the training text and write train and dev TFRecord shards.",
        discussion: "Outputs NAME.vocab, NAME-train-000NN-of-000MM and NAME-dev-00001-of-00001; existing complete shards are kept.")
    @Option(help: "Training source sentences.") var trainSource: String
    @Option(help: "Training target sentences.") var trainTarget: String
    @Option(help: "Development source sentences.") var devSource: String
    @Option(help: "Development target sentences.") var devTarget: String
    @Option(help: "The output directory.") var output: String
    @Option(help: "File name prefix.") var name: String = "corpus"
    @Option(help: "Training shards.") var shards: Int = 4
    @Option(help: "Wanted vocabulary size.") var targetSize: Int = 8192
    @Option(help: "subword (the reference's, NAME.vocab) or sentencepiece (a model trained by the SentencePiece library, NAME.model).")
    var tokenizer: TokenizerKind = .subword
    @Option(help: "With --tokenizer sentencepiece: the model type to train, unigram or bpe.") var modelType: SentencePieceModelType = .unigram
    @Option(help: "With --tokenizer sentencepiece: use this existing model (padding id 0, end of sentence id 1) instead of training one; it is copied to NAME.model.")
    var sentencepieceModel: String?
    @Option(help: "With --tokenizer sentencepiece: write every training pair this many times, each time with a sampled segmentation (subword regularization; BPE-dropout for a BPE model). 1 writes the best segmentation once.")
    var sampleCopies: Int = 1
    @Option(help: "With --sample-copies (required there): a unigram model's smoothing in (0, 1], lower varies more (on the Ding corpus 0.5 makes sentences 7% more pieces, 0.1 twice as many); a BPE model's dropout rate (0.1 in the BPE-dropout paper).")
    var sampleAlpha: Float?
    @Option(help: "Vocabulary search threshold.") var threshold: Int = 82
    @Option(help: "Seed of the shard shuffle (and of the segmentation sampling).") var seed: UInt64 = 1

    func validate() throws {
        try requireRange(shards, FlagBounds.shards, flag: "--shards")
        try requireRange(targetSize, 1...10_000_000, flag: "--target-size")
        try requireRange(threshold, 0...10_000_000, flag: "--threshold")
        if let sentencepieceModel {
            guard tokenizer == .sentencepiece else { throw ValidationError("--sentencepiece-model needs --tokenizer sentencepiece") }
            try requireExisting(sentencepieceModel, flag: "--sentencepiece-model")
        }
        try requireRange(sampleCopies, 1...1000, flag: "--sample-copies")
        if sampleCopies > 1, tokenizer != .sentencepiece {
            throw ValidationError("--sample-copies needs --tokenizer sentencepiece (the reference's subword tokenizer has one segmentation)")
        }
        if let sampleAlpha {
            guard sampleCopies > 1 else { throw ValidationError("--sample-alpha needs --sample-copies 2 or more") }
            guard sampleAlpha > 0, sampleAlpha <= 1 else { throw ValidationError("--sample-alpha must be in (0, 1], got \(sampleAlpha)") }
        } else if sampleCopies > 1 {
            throw ValidationError("--sample-copies needs --sample-alpha (0.5 suits a unigram model, 0.1 a BPE model)")
        }
    }

    func run() throws {
        let directory = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let vocabURL = directory.appendingPathComponent(tokenizer == .sentencepiece ? "\(name).model" : "\(name).vocab")
        if let sentencepieceModel { try adopt(URL(fileURLWithPath: sentencepieceModel), as: vocabURL) }
        let tokenizer: any Tokenizer
        if FileManager.default.fileExists(atPath: vocabURL.path) {
            tokenizer = try TokenizerFile.load(vocabURL)
            note("using the existing vocabulary \(vocabURL.path) (\(tokenizer.vocabularySize) ids)")
        } else {
            let start = Date()
            let inputs = [URL(fileURLWithPath: trainSource), URL(fileURLWithPath: trainTarget)]
            if self.tokenizer == .sentencepiece {
                // The model's ids: padding 0, end of sentence 1 (what swift-nmt's models expect).
                tokenizer = try SentencePiece.train(
                    inputs: inputs, modelPrefix: vocabURL.deletingPathExtension(), vocabularySize: targetSize,
                    options: TokenizerFile.sentencePieceReferenceIDs.merging(["minloglevel": "1", "model_type": modelType.rawValue]) {
                        a, _ in a
                    })
            } else {
                let built = try VocabularyBuilder.build(files: inputs, targetSize: targetSize, threshold: threshold) {
                    note("  vocabulary: \($0)")
                }
                try built.write(to: vocabURL)
                tokenizer = built
            }
            note(String(format: "built %d ids in %.1f s", tokenizer.vocabularySize, Date().timeIntervalSince(start)))
        }
        // Kept shards must be those of this vocabulary; new ones are recorded with it.
        let record = try ShardVocabularyRecord(vocabularyFile: vocabURL)
        if let existing = try ShardVocabularyRecord.read(in: directory), existing != record {
            throw ValidationError(
                "\(directory.path) holds shards of another vocabulary (CRC-32C \(existing.vocabularyCRC32C)) than \(vocabURL.path) (\(record.vocabularyCRC32C)); use a new --output")
        }
        var trainTokenizer = tokenizer
        if sampleCopies > 1, let sampleAlpha, let model = tokenizer as? SentencePiece {
            // Seeded before this thread's first draw, so a second run writes the same shards.
            SentencePiece.seedRandomGenerator(UInt32(truncatingIfNeeded: seed))
            trainTokenizer = SampledSentencePiece(model: model, nbest: -1, alpha: sampleAlpha)
            note("writing \(sampleCopies) sampled segmentations of every training pair (alpha \(sampleAlpha))")
        }
        let train = try CorpusPreparer.writeShards(
            source: URL(fileURLWithPath: trainSource), target: URL(fileURLWithPath: trainTarget), tokenizer: trainTokenizer,
            directory: directory, name: name, tag: "train", shards: shards, shuffleSeed: seed, copies: sampleCopies,
            progress: progressLine("train"))
        let dev = try CorpusPreparer.writeShards(
            source: URL(fileURLWithPath: devSource), target: URL(fileURLWithPath: devTarget), tokenizer: tokenizer,
            directory: directory, name: name, tag: "dev", shards: 1, shuffleSeed: nil, progress: progressLine("dev"))
        try record.write(in: directory)
        note("shards: \((train + dev).map(\.lastPathComponent).joined(separator: ", "))")
    }
}

extension Corpus {
    /// Copies a given SentencePiece model to `destination` after checking that it can
    /// feed swift-nmt's models; an existing, different `destination` is refused (its
    /// shards were made with it).
    func adopt(_ model: URL, as destination: URL) throws {
        do { try SentencePiece(modelFile: model).requireReferenceIDs() } catch let error as TokenizerError {
            throw ValidationError("--sentencepiece-model \(model.path): \(error)")
        }
        let given = try Data(contentsOf: model)
        if FileManager.default.fileExists(atPath: destination.path) {
            guard try Data(contentsOf: destination) == given else {
                throw ValidationError("\(destination.path) already exists and differs from --sentencepiece-model \(model.path); use a new --output or --name")
            }
            return
        }
        try given.write(to: destination)
    }
}

/// SentencePiece's model types `nmt-prepare corpus` can train.
enum SentencePieceModelType: String, ExpressibleByArgument {
    /// The unigram language model (SentencePiece's default).
    case unigram
    /// Byte-pair encoding.
    case bpe
}

/// The vocabularies `nmt-prepare corpus` can build.
enum TokenizerKind: String, ExpressibleByArgument {
    /// The reference's subword tokenizer.
    case subword
    /// A SentencePiece unigram model.
    case sentencepiece
}
