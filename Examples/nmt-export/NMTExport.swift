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
    }

    @Option(help: "A model directory, checkpoint or saved model of swift-nmt.") var modelDir: String
    @Option(help: "The vocabulary the model was trained with.") var vocab: String
    @Option(help: "swift-nmt: an inference-only folder (weights, configuration, vocabulary) that nmt-translate and nmt-serve load without --vocab.")
    var format: Format = .swiftNMT
    @Option(help: "The folder to write (new or empty).") var output: String

    func validate() throws {
        try requireExisting(modelDir, flag: "--model-dir")
        try requireExisting(vocab, flag: "--vocab")
    }

    func run() throws {
        let weights = try ModelExport.exportSwiftNMT(
            modelDirectory: URL(fileURLWithPath: modelDir), vocabulary: URL(fileURLWithPath: vocab),
            to: URL(fileURLWithPath: output))
        FileHandle.standardError.write(Data("exported \(weights.description) to \(output)\n".utf8))
    }
}
