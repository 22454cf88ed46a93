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

    enum API: String, ExpressibleByArgument {
        /// `SentencePiece.encodeLines(_:)`: the whole file in one call.
        case lines
        /// `SentencePiece.encode(_:)` once per line, from Swift strings.
        case sentence
    }

    @Option(help: "The SentencePiece model.") var model: String
    @Option(help: "The text, one sentence per line.") var file: String
    @Option(help: "Write the ids here, one line per sentence separated by spaces (as spm_encode --output_format=id).")
    var idsOut: String?
    @Option(help: "lines: the whole file in one call (encodeLines); sentence: encode(_:) per line.") var api: API = .lines

    func run() throws {
        let processor = try SentencePiece(modelFile: URL(fileURLWithPath: model))
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let start = DispatchTime.now().uptimeNanoseconds
        let encoded: EncodedLines
        switch api {
        case .lines: encoded = try processor.encodeLines(data)
        case .sentence:
            var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            if data.last == 0x0A { lines.removeLast() }
            var ids: [Int32] = [], ends: [Int] = []
            for line in lines {
                ids += try processor.encode(String(line))
                ends.append(ids.count)
            }
            encoded = EncodedLines(ids: ids, lineEnds: ends)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if let idsOut { try Self.idText(encoded).write(to: URL(fileURLWithPath: idsOut)) }
        let record: [String: Any] = [
            "benchmark": "sentencepiece_encode", "api": api.rawValue, "lines": encoded.count, "bytes": data.count,
            "seconds": (seconds * 10000).rounded() / 10000, "megabytes_per_second": (Double(data.count) / seconds / 1e4).rounded() / 100,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: record, options: .sortedKeys), as: UTF8.self))
    }

    /// spm_encode's id output: a line per sentence, ids in decimal separated by spaces.
    static func idText(_ encoded: EncodedLines) -> Data {
        var output: [UInt8] = []
        output.reserveCapacity(encoded.ids.count * 5 + encoded.count)
        var digits = [UInt8](repeating: 0, count: 12)
        var start = 0
        for end in encoded.lineEnds {
            for i in start..<end {
                if i > start { output.append(0x20) }
                var value = Int(encoded.ids[i]), n = 0
                if value < 0 {
                    output.append(0x2D)
                    value = -value
                }
                repeat {
                    digits[n] = UInt8(0x30 + value % 10)
                    value /= 10
                    n += 1
                } while value > 0
                for d in stride(from: n - 1, through: 0, by: -1) { output.append(digits[d]) }
            }
            output.append(0x0A)
            start = end
        }
        return Data(output)
    }
}
