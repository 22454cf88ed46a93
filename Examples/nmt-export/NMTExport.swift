// nmt-export: writes a trained model in a form that leaves swift-nmt's training behind.
import ArgumentParser
import Foundation
import NMT
import NMTCommandLine

@main
struct NMTExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-export",
        abstract: "Export a trained model: the weights it translates with, its configuration and vocabulary.",
        discussion: """
            Which weights: DIR itself when it holds model.safetensors; else DIR/checkpoint-best (the best dev \
            BLEU); else DIR's newest checkpoint; the moving average replaces the weights where the checkpoint \
            keeps one. The choice is printed.
            """)

    /// The formats written.
    enum Format: String, ExpressibleByArgument {
        /// An inference-only swift-nmt folder.
        case swiftNMT = "swift-nmt"
        /// A CTranslate2 model directory.
        case ctranslate2
        /// A Hugging Face MarianMTModel directory (Marian models).
        case huggingface
    }

    @Option(help: "A model directory, checkpoint, saved model or export of swift-nmt, or (for ctranslate2 and huggingface) a Hugging Face Marian directory.")
    var modelDir: String
    @Option(help: "The vocabulary a swift-nmt model was trained with (not for an export, a fine-tuned Marian model's directory or a Marian directory, which carry their own).") var vocab: String?
    @Option(help: "swift-nmt: an inference-only folder (weights, configuration, vocabulary) that nmt-translate and nmt-serve load without --vocab; ctranslate2: a CTranslate2 model directory (model.bin, config.json, vocabularies); huggingface: a MarianMTModel directory (Marian models).")
    var format: Format = .swiftNMT
    @Option(help: "ctranslate2: rows of the position table (the longest input or output it can handle).") var positions = 1024
    @Option(help: "The folder to write (new or empty).") var output: String

    func validate() throws {
        try requireExisting(modelDir, flag: "--model-dir")
        if let vocab { try requireExisting(vocab, flag: "--vocab") }
        try requireRange(positions, 2...1_000_000, flag: "--positions")
    }

    func run() throws {
        let (model, target) = (URL(fileURLWithPath: modelDir), URL(fileURLWithPath: output))
        let vocabulary = vocab.map { URL(fileURLWithPath: $0) }
        let weights: ExportedWeights
        switch format {
        case .swiftNMT:
            if MarianModelDirectory.isMarian(model) {
                throw ValidationError("\(modelDir) is a Hugging Face Marian directory, already inference-only; nmt-translate reads it as it is")
            }
            guard let vocabulary = try vocabulary ?? ModelExport.bundledVocabulary(in: model) else {
                throw ValidationError("give the vocabulary the model was trained with (--vocab)")
            }
            weights = try ModelExport.exportSwiftNMT(modelDirectory: model, vocabulary: vocabulary, to: target)
        case .ctranslate2:
            weights = try ModelExport.exportCTranslate2(modelDirectory: model, vocabulary: vocabulary, positions: positions, to: target)
        case .huggingface:
            weights = try ModelExport.exportHuggingFace(modelDirectory: model, vocabulary: vocabulary, to: target)
        }
        FileHandle.standardError.write(Data("exported \(weights.description) to \(output) (\(format.rawValue))\n".utf8))
    }
}
