// nmt-evaluate: the loss and every evaluation metric of a checkpoint on TFRecord files,
// printed as one JSON object.
import ArgumentParser
import Foundation
import NMT
import NMTCommandLine

@main
struct NMTEvaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-evaluate",
        abstract: "Evaluate a checkpoint on TFRecord files; print the loss and every metric as one JSON object.")

    @OptionGroup var model: ModelDirectoryOption
    @Option(help: "TFRecord files, e.g. 'data/*dev*' (quote it).") var data: String
    @OptionGroup var batches: BatchFlags
    @OptionGroup var devices: DeviceOptions

    func validate() throws {
        try requireExisting(model.modelDir, flag: "--model-dir")
    }

    func run() throws {
        let (batchSize, maxLength) = (batches.batchSize, batches.maxLength)
        let device = try devices.makeDevice(batchTokens: batchSize, maxLength: maxLength)
        let results = try Evaluation.run(
            model: try Checkpoint.loadModel(
                at: model.modelDirectory, warning: { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) }),
            filePattern: data, batchTokens: batchSize,
            maxLength: maxLength, staticBatches: devices.isStatic, device: device)
        let json = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: json, as: UTF8.self))
    }
}
