// Data-parallel benchmarks under mpirun, one JSON object per line from rank 0:
//   allreduce  the gradient exchange alone, for whole models' gradients;
//   step       training steps with the exchange against the same steps without it.
import ArgumentParser
import Foundation

@main
struct BenchDistributed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-bench-distributed", abstract: "Benchmark data-parallel training across MPI processes.",
        subcommands: [AllReduceBenchmark.self, StepBenchmark.self])
}

/// Prints one JSON object; values are written as given (strings must carry their quotes).
func emit(_ fields: [(String, Any)]) {
    print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
}
