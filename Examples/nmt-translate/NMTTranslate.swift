// nmt-translate: translates text or a file with a trained model (the reference's
// translate.py, with file lines written in input order).
import ArgumentParser
import Foundation
import NMT

@main
struct NMTTranslate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-translate", abstract: "Translate text or a file with a trained model.")

    @Option(help: "A model directory (its newest checkpoint is used) or a checkpoint directory.") var modelDir: String
    @Option(help: "The vocabulary the model was trained with.") var vocab: String
    @Option(help: "Text to translate.") var text: String?
    @Option(help: "A file of sentences, one per line.") var file: String?
    @Option(help: "Where to write the file's translations (default: standard output).") var output: String?
    @Option(help: "Beams.") var beam: Int = 4
    @Option(help: "Length normalization exponent.") var alpha: Float = 0.6
    @Option(help: "Decode up to input length + this many tokens.") var extraLength: Int = 100
    @Option(help: "Device: cpu, or static (static-shape beam search on fixed [batch, max-length] batches).") var device: String = "cpu"
    @Option(help: "Replicas of the static device (they decode parts of each batch concurrently).") var shards: Int = 1
    @Option(help: "Sentences decoded together.") var batch: Int = 32
    @Option(help: "Static device: source tokens per sentence (EOS included); longer lines are an error.") var maxLength: Int = 64

    func validate() throws {
        if text == nil && file == nil { throw ValidationError("give --text or --file") }
        if beam < 1 { throw ValidationError("--beam must be at least 1") }
        if device != "cpu" && device != "static" { throw ValidationError("--device must be cpu or static, not '\(device)'") }
        if shards < 1 || batch < 1 || maxLength < 1 { throw ValidationError("--shards, --batch and --max-length must be at least 1") }
        if batch % shards != 0 { throw ValidationError("--batch \(batch) does not divide across \(shards) shards") }
        for path in [modelDir, vocab] + (file.map { [$0] } ?? []) where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(path) does not exist")
        }
    }

    func run() throws {
        var translator = try Translator(
            model: try Checkpoint.loadModel(at: URL(fileURLWithPath: modelDir)), tokenizer: try Subtokenizer(vocabularyFile: URL(fileURLWithPath: vocab)))
        translator.beamSize = beam
        translator.alpha = alpha
        translator.extraDecodeLength = extraLength
        translator.batchSize = batch
        let chosen: Device =
            device == "static"
            ? try StaticShardedDevice(shards: shards, batchTokens: batch * maxLength, maxLength: maxLength) : CPUDevice()
        if let text { print(try translator.translate([text], on: chosen)[0]) }
        if let file {
            let lines = try CorpusPreparer.lines(of: URL(fileURLWithPath: file))
            let isTerminal = isatty(STDERR_FILENO) != 0
            let translations = try translator.translate(lines, on: chosen) { done, total in
                // A rewriting status line on a terminal; the reference's log line every 10 batches otherwise.
                if isTerminal {
                    FileHandle.standardError.write(Data("\rdecoding batch \(done) of \(total)\(done == total ? "\n" : "")".utf8))
                } else if done % 10 == 0 || done == total {
                    FileHandle.standardError.write(Data("decoding batch \(done) of \(total)\n".utf8))
                }
            }
            let joined = translations.map { $0 + "\n" }.joined()
            if let output {
                try Data(joined.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            } else {
                print(joined, terminator: "")
            }
        }
    }
}
