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

    @OptionGroup var model: TranslationModelOptions
    @OptionGroup var devices: DeviceOptions
    @Option(help: "Text to translate.") var text: String?
    @Option(help: "A file of sentences, one per line.") var file: String?
    @Option(help: "Where to write the file's translations (default: standard output).") var output: String?
    @OptionGroup var decoding: DecodingFlags
    @Option(help: "Sentences decoded together.") var batch: Int = 32
    @Option(help: "Batches of up to this many source tokens instead of --batch sentences (changes where runaway translations stop).")
    var batchTokens: Int?
    @Option(help: "The longest input line, in subtokens with EOS; longer lines are refused before decoding.")
    var maxInputTokens: Int = 512
    @Option(help: "Static device: source tokens per sentence (EOS included); longer lines are an error.") var maxLength: Int = 64
    @Flag(help: "With --file: also print the translation time as a JSON line on standard error (model loading excluded).")
    var benchmark = false

    func validate() throws {
        if text == nil && file == nil { throw ValidationError("give --text or --file") }
        try requireRange(batch, FlagBounds.sentencesPerBatch, flag: "--batch")
        try requireRange(maxLength, FlagBounds.sentenceTokens, flag: "--max-length")
        try requireRange(maxInputTokens, FlagBounds.sentenceTokens, flag: "--max-input-tokens")
        try requireRange(batchTokens, FlagBounds.batchTokens, flag: "--batch-tokens")
        if let shards = devices.shards, batch % shards != 0 {
            throw ValidationError("--batch \(batch) does not divide across \(shards) shards")
        }
        if let file { try requireExisting(file, flag: "--file") }
        if model.int8 && devices.isStatic { throw ValidationError("--int8 runs on the CPU device only; leave out --device static") }
    }

    func run() throws {
        let loaded = try model.load(greedy: decoding.greedy)
        var translator = try loaded.translator()
        translator.options = decoding.options(for: loaded.decodingOptions)
        translator.batchSize = batch
        translator.batchTokens = batchTokens
        translator.maximumInputTokens = min(maxInputTokens, translator.maximumInputTokens)
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
                "sentences_per_second": (Double(sentences) / seconds * 100).rounded() / 100,
                "strategy": "\(translator.options.strategy)", "batch": batch, "int8": model.int8,
                "cores": ProcessInfo.processInfo.activeProcessorCount,
            ]
            let json = try JSONSerialization.data(withJSONObject: record, options: .sortedKeys)
            FileHandle.standardError.write(json + Data("\n".utf8))
        }
    }
}
