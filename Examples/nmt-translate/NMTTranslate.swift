// nmt-translate: translates text or a file with a trained model (the reference's
// translate.py, with file lines written in input order).
import ArgumentParser
import Foundation
import NMT
import NMTCommandLine

@main
struct NMTTranslate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-translate", abstract: "Translate text or a file with a trained model.")

    /// Batches between progress lines in a log (a terminal gets a live line), as translate.py.
    static let progressInterval = 10

    @OptionGroup var model: ModelOptions
    @OptionGroup var devices: DeviceOptions
    @Option(help: "Text to translate.") var text: String?
    @Option(help: "A file of sentences, one per line.") var file: String?
    @Option(help: "Where to write the file's translations (default: standard output).") var output: String?
    @Option(help: "Beams.") var beam: Int = 4
    @Option(help: "Length normalization exponent.") var alpha: Float = 0.6
    @Option(help: "Decode up to input length + this many tokens.") var extraLength: Int = 100
    @Option(help: "Sentences decoded together.") var batch: Int = 32
    @Option(help: "Batches of up to this many source tokens instead of --batch sentences (changes where runaway translations stop).")
    var batchTokens: Int?
    @Flag(help: "Greedy decoding instead of beam search.") var greedy = false
    @Flag(help: "Sample every token instead of beam search (see --temperature, --top-k, --top-p, --seed).") var sample = false
    @Option(help: "Sampling temperature.") var temperature: Float = 1
    @Option(help: "Sample among the k most probable tokens only.") var topK: Int?
    @Option(help: "Sample among the most probable tokens of total probability p only (nucleus).") var topP: Float?
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Option(help: "Also stop a sentence after ratio x its source tokens + --max-length-offset tokens (off by default; changes results).")
    var maxLengthRatio: Float?
    @Option(help: "With --max-length-ratio: tokens allowed in addition.") var maxLengthOffset: Int = 10
    @Option(help: "Never repeat an n-gram of this size in an output (off by default; changes results).") var noRepeatNgram: Int?
    @Option(help: "The longest input line, in subtokens with EOS; longer lines are refused before decoding.")
    var maxInputTokens: Int = 512
    @Option(help: "Static device: source tokens per sentence (EOS included); longer lines are an error.") var maxLength: Int = 64
    @Flag(help: "With --file: also print the translation time as a JSON line on standard error (model loading excluded).")
    var benchmark = false

    func validate() throws {
        if text == nil && file == nil { throw ValidationError("give --text or --file") }
        try requireRange(beam, FlagBounds.beams, flag: "--beam")
        try requireRange(extraLength, FlagBounds.extraLength, flag: "--extra-length")
        if !alpha.isFinite || alpha < 0 { throw ValidationError("--alpha must be a finite value ≥ 0, not \(alpha)") }
        try requireRange(batch, FlagBounds.sentencesPerBatch, flag: "--batch")
        try requireRange(maxLength, FlagBounds.sentenceTokens, flag: "--max-length")
        try requireRange(maxInputTokens, FlagBounds.sentenceTokens, flag: "--max-input-tokens")
        try requireRange(batchTokens, FlagBounds.batchTokens, flag: "--batch-tokens")
        try requireRange(maxLengthRatio, 0...DecodingOptions.maximumLengthRatio, flag: "--max-length-ratio")
        try requireRange(
            maxLengthOffset, -DecodingOptions.maximumLengthOffset...DecodingOptions.maximumLengthOffset, flag: "--max-length-offset")
        try requireRange(noRepeatNgram, 1...DecodingOptions.maximumNgramSize, flag: "--no-repeat-ngram")
        if let shards = devices.shards, batch % shards != 0 {
            throw ValidationError("--batch \(batch) does not divide across \(shards) shards")
        }
        try requireExisting(model.modelDir, flag: "--model-dir")
        if let file { try requireExisting(file, flag: "--file") }
        if greedy && sample { throw ValidationError("give --greedy or --sample, not both") }
        if let problem = decodingOptions.problem { throw ValidationError(problem) }
    }

    /// The search and limits the flags ask for.
    var decodingOptions: DecodingOptions {
        var options = DecodingOptions()
        if greedy {
            options.strategy = .greedy
        } else if sample {
            options.strategy = .sampling(.init(temperature: temperature, topK: topK, topP: topP, seed: seed))
        } else {
            options.strategy = .beamSearch(beamSize: beam, alpha: alpha)
        }
        options.extraDecodeLength = extraLength
        options.lengthLimit = maxLengthRatio.map { DecodingOptions.LengthLimit(ratio: $0, offset: maxLengthOffset) }
        options.noRepeatNgramSize = noRepeatNgram
        return options
    }

    func run() throws {
        // The checkpoint records its vocabulary's hash: another vocabulary of the same size
        // would translate into nonsense.
        let loaded = try Checkpoint.loadModel(
            at: model.modelDirectory, vocabularyHash: try Checkpoint.vocabularyHash(of: model.vocabularyFile),
            warning: { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) })
        var translator = try Translator(model: loaded, tokenizer: try Subtokenizer(vocabularyFile: model.vocabularyFile))
        translator.options = decodingOptions
        translator.batchSize = batch
        translator.batchTokens = batchTokens
        translator.maximumInputTokens = maxInputTokens
        let device = try devices.makeDevice(batchTokens: batch * maxLength, maxLength: maxLength)
        if let text { print(try translator.translate([text], on: device)[0]) }
        guard let file else { return }
        let progress = ProgressReporter(interval: Self.progressInterval).counter("decoding batch")
        let start = DispatchTime.now().uptimeNanoseconds
        let sentences: Int
        if let output {
            sentences = try translator.translateFile(
                input: URL(fileURLWithPath: file), output: URL(fileURLWithPath: output), on: device, progress: progress)
        } else {
            let lines = try CorpusPreparer.lines(of: URL(fileURLWithPath: file))
            print(try translator.translate(lines, on: device, progress: progress).map { $0 + "\n" }.joined(), terminator: "")
            sentences = lines.count
        }
        if benchmark {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let record: [String: Any] = [
                "benchmark": "translate", "sentences": sentences, "seconds": (seconds * 1000).rounded() / 1000,
                "sentences_per_second": (Double(sentences) / seconds * 100).rounded() / 100, "beam": beam, "batch": batch,
                "cores": ProcessInfo.processInfo.activeProcessorCount,
            ]
            let json = try JSONSerialization.data(withJSONObject: record, options: .sortedKeys)
            FileHandle.standardError.write(json + Data("\n".utf8))
        }
    }
}
