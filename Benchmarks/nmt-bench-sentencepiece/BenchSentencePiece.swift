// nmt-bench-sentencepiece: SentencePiece encoding throughput through NMTData.SentencePiece
// (the library behind a C shim), for Scripts/benchmarks/sentencepiece-compare.sh, which
// runs Debian's spm_encode on the same file beside it.
import ArgumentParser
import Foundation
import NMTData

@main
struct BenchSentencePiece: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-bench-sentencepiece",
        abstract: "Encode a file line by line with a SentencePiece model; print the time as a JSON line.")

    @Option(help: "The SentencePiece model.") var model: String
    @Option(help: "The text, one sentence per line.") var file: String
    @Option(help: "Write the ids here, one line per sentence separated by spaces (as spm_encode --output_format=id).")
    var idsOut: String?

    func run() throws {
        let processor = try SentencePiece(modelFile: URL(fileURLWithPath: model))
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if text.hasSuffix("\n") { lines.removeLast() }
        let start = DispatchTime.now().uptimeNanoseconds
        let encoded = try lines.map { try processor.encode($0) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if let idsOut {
            var output: [UInt8] = []
            output.reserveCapacity(text.utf8.count)
            for ids in encoded {
                for (i, id) in ids.enumerated() {
                    if i > 0 { output.append(0x20) }
                    output.append(contentsOf: String(id).utf8)
                }
                output.append(0x0A)
            }
            try Data(output).write(to: URL(fileURLWithPath: idsOut))
        }
        let record: [String: Any] = [
            "benchmark": "sentencepiece_encode", "lines": lines.count, "bytes": text.utf8.count,
            "seconds": (seconds * 10000).rounded() / 10000, "megabytes_per_second": (Double(text.utf8.count) / seconds / 1e4).rounded() / 100,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: record, options: .sortedKeys), as: UTF8.self))
    }
}
