// nmt-average: writes the average of several checkpoints as a new checkpoint (the weights'
// element-wise mean; the newest input's manifest and optimizer state), for translation
// and evaluation.
import ArgumentParser
import Foundation
import NMT

@main
struct NMTAverage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-average",
        abstract: "Average checkpoints into a new checkpoint.",
        discussion: """
            Give the checkpoints with --inputs, or a model directory and how many of its newest \
            checkpoints with --model-dir and --last. The average goes to --output as \
            checkpoint-STEP (the newest input's step); translate with --model-dir OUTPUT.
            """)

    @Option(parsing: .upToNextOption, help: "Checkpoint directories to average.") var inputs: [String] = []
    @Option(help: "A training run's model directory (with --last).") var modelDir: String?
    @Option(help: "Average the newest N checkpoints of --model-dir.") var last: Int?
    @Option(help: "A new or empty directory to write the average to (one holding checkpoints, or an input, is refused).")
    var output: String

    func validate() throws {
        switch (inputs.isEmpty, modelDir, last) {
        case (false, nil, nil): break
        case (true, .some, .some(let n)) where (1...1_000).contains(n): break
        case (true, .some, .some(let n)): throw ValidationError("--last must be in 1...1000, not \(n)")
        default: throw ValidationError("give --inputs CHECKPOINT..., or --model-dir DIR with --last N")
        }
        for path in inputs + [modelDir].compactMap({ $0 }) where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(path) does not exist")
        }
    }

    func run() throws {
        let checkpoints = try modelDir.map { try Checkpoint.newest(last!, in: URL(fileURLWithPath: $0)) }
            ?? inputs.map { URL(fileURLWithPath: $0) }
        let written = try Checkpoint.average(checkpoints, into: URL(fileURLWithPath: output))
        print("averaged \(checkpoints.map(\.lastPathComponent).joined(separator: ", ")) into \(written.path)")
    }
}
