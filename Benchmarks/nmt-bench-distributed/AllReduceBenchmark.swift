// `nmt-bench-distributed allreduce`: the time `Communicator.sum` (the fixed-order
// reduce-scatter and all-gather of data-parallel training) takes for a model's gradients.
//
//   mpirun -np 2 nmt-bench-distributed allreduce [--config FILE ...] [--param-set base ...]
//       [--vocabulary-size 8340] [--repetitions 20]
//
// Each model's buffer holds its parameter count + 1 floats (the loss rides along), as a
// training step exchanges. Reports the median and fastest of the repetitions after 3
// warm-up exchanges, and the bandwidth each process moved: 2(N−1)/N of the buffer.
import ArgumentParser
import Foundation
import NMTAccelerator
import NMTDistributed
import NMTTensor
import NMTTransformer

struct AllReduceBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce", abstract: "Time the gradient all-reduce across MPI processes; one JSON object per line.")

    @Option(help: "A JSON TransformerConfiguration file (repeatable).") var config: [String] = []
    @Option(help: "A reference parameter set: tiny, base or big (repeatable).") var paramSet: [String] = []
    @Option(help: "Vocabulary size of the models (the Ding main job's is 8340).") var vocabularySize: Int = 8340
    @Option(help: "Timed exchanges per model.") var repetitions: Int = 20

    func validate() throws {
        if repetitions < 1 { throw ValidationError("--repetitions must be at least 1") }
        for name in paramSet where TransformerConfiguration.preset(named: name) == nil {
            throw ValidationError("--param-set must be tiny, base or big, not '\(name)'")
        }
    }

    func run() throws {
        let communicator = try Communicator()
        var models: [(String, TransformerConfiguration)] = try config.map { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read --config \(path)") }
            return (URL(fileURLWithPath: path).lastPathComponent, try JSONDecoder().decode(TransformerConfiguration.self, from: data))
        }
        models += paramSet.map { ($0, TransformerConfiguration.preset(named: $0)!) }
        if models.isEmpty { models = [("base", .base)] }
        for (name, configuration) in models {
            let model = try Transformer(configuration: configuration.withVocabularySize(vocabularySize), key: RandomKey(seed: 1))
            let count = model.namedParameters.reduce(1) { $0 + $1.tensor.scalarCount }
            var values = [Float](repeating: 1, count: count)
            var seconds: [Double] = []
            for repetition in 0..<(repetitions + 3) {
                try communicator.barrier()
                let start = DispatchTime.now().uptimeNanoseconds
                try values.withUnsafeMutableBufferPointer { try communicator.sum($0) }
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if repetition >= 3 { seconds.append(elapsed) }
            }
            // Each exchange multiplied every value by N: check the sum is exact.
            let expected = Float(pow(Double(communicator.size), Double(repetitions + 3)))
            guard values[0] == expected, values[count - 1] == expected else {
                throw ValidationError("wrong sum: \(values[0]), expected \(expected)")
            }
            seconds.sort()
            let median = seconds[seconds.count / 2]
            let moved = 2 * Double(communicator.size - 1) / Double(communicator.size) * Double(count * 4)
            if communicator.rank == 0 {
                emit([
                    ("benchmark", "\"allreduce\""), ("model", "\"\(name)\""), ("processes", communicator.size),
                    ("values", count), ("megabytes", String(format: "%.1f", Double(count * 4) / 1e6)),
                    ("median_ms", String(format: "%.3f", median * 1000)), ("fastest_ms", String(format: "%.3f", seconds[0] * 1000)),
                    ("gigabytes_per_second", String(format: "%.2f", moved / median / 1e9)),
                ])
            }
        }
        try communicator.finalize()
    }
}
