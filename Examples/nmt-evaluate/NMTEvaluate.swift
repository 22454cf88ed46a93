// nmt-evaluate: the loss and every evaluation metric of a checkpoint on TFRecord files,
// printed as one JSON object.
import ArgumentParser
import Foundation
import NMT

@main
struct NMTEvaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-evaluate",
        abstract: "Evaluate a checkpoint on TFRecord files; print the loss and every metric as one JSON object.")

    @Option(help: "A model directory (its newest checkpoint is used) or a checkpoint directory.") var modelDir: String
    @Option(help: "TFRecord files, e.g. 'data/*dev*' (quote it).") var data: String
    @Option(help: "Tokens per batch.") var batchSize: Int = 4096
    @Option(help: "Longest example kept (tokens, EOS included).") var maxLength: Int = 256
    @Option(help: "Device: cpu, or static (static [batch/max-length, max-length] batches split across replicas).") var device: String = "cpu"
    @Option(help: "Replicas of the static device.") var shards: Int = 1

    func validate() throws {
        guard FileManager.default.fileExists(atPath: modelDir) else { throw ValidationError("\(modelDir) does not exist") }
        if device != "cpu" && device != "static" { throw ValidationError("--device must be cpu or static, not '\(device)'") }
        if shards < 1 { throw ValidationError("--shards must be at least 1") }
    }

    func run() throws {
        let chosen: Device =
            device == "static"
            ? try StaticShardedDevice(shards: shards, batchTokens: batchSize, maxLength: maxLength) : CPUDevice()
        let results = try Evaluation.run(
            model: try Checkpoint.loadModel(at: URL(fileURLWithPath: modelDir)), filePattern: data, batchTokens: batchSize,
            maxLength: maxLength, staticBatches: device == "static", device: chosen)
        let json = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: json, as: UTF8.self))
    }
}
