// `nmt-bench-distributed step`: what the gradient exchange adds to a training step. Each
// process trains its part of the same batches (read from prepared TFRecord shards) on
// the CPU device in three ways, alternating ROUNDS times:
//   exchange  the real step: the gradients are summed across the processes;
//   barrier   no sum, but the processes wait for each other at every step (what the
//             per-step synchronization alone costs: the slower process sets the pace);
//   none      no sum and no waiting: each process updates with its own part's gradient
//             (wrong training, the same computation).
// The difference between exchange and none is what communication costs, waiting for the
// slower process included. `mean_step_difference_ms` is how much longer the slower
// process's step took, on average.
//
//   mpirun -np 2 nmt-bench-distributed step --config FILE --data-dir DIR --vocab FILE
//       [--batch-size 512] [--max-length 64] [--steps 300] [--rounds 2]
import ArgumentParser
import Foundation
import NMTAccelerator
import NMTData
import NMTDistributed
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTransformer

struct StepBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step", abstract: "Time training steps with and without the gradient exchange; one JSON object per line.")

    @Option(help: "A JSON TransformerConfiguration file.") var config: String
    @Option(help: "Folder of the prepared TFRecord shards (*train*).") var dataDir: String
    @Option(help: "The vocabulary the shards were encoded with.") var vocab: String
    @Option(help: "Tokens per global batch.") var batchSize: Int = 512
    @Option(help: "Longest example kept.") var maxLength: Int = 64
    @Option(help: "Timed steps per measurement.") var steps: Int = 300
    @Option(help: "Measurements of each kind, alternating.") var rounds: Int = 2

    func validate() throws {
        if steps < 1 || rounds < 1 || batchSize < 1 || maxLength < 1 {
            throw ValidationError("--steps, --rounds, --batch-size and --max-length must be positive")
        }
    }

    func run() throws {
        let communicator = try Communicator()
        guard let data = FileManager.default.contents(atPath: config) else { throw ValidationError("cannot read --config \(config)") }
        let vocabularySize = try Subtokenizer(vocabularyFile: URL(fileURLWithPath: vocab)).vocabularySize
        let configuration = try JSONDecoder().decode(TransformerConfiguration.self, from: data).withVocabularySize(vocabularySize)
        let warmup = 20
        let dataset = try TranslationDataset(
            filePattern: URL(fileURLWithPath: dataDir).appendingPathComponent("*train*").path,
            options: DatasetOptions(batchTokens: batchSize, maxLength: maxLength, shuffle: true, seed: 1, epochs: nil))
        let iterator = try dataset.makeIterator()
        var batches: [TransformerBatch] = []
        while batches.count < warmup + steps, let batch = try iterator.next() {
            batches.append(try TransformerBatch(batch, vocabularySize: vocabularySize))
        }
        let initial = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        for round in 1...rounds {
            var milliseconds: [String: Double] = [:]
            for mode in ["exchange", "barrier", "none"] {
                let group: ProcessGroup = mode == "exchange" ? communicator : NoExchange(communicator, waits: mode == "barrier")
                let device = try DataParallelDevice(local: CPUDevice(), group: group)
                var model = initial
                var optimizer = Adam()
                var durations: [Double] = []
                func train(_ range: Range<Int>) throws {
                    for index in range {
                        let stepStart = DispatchTime.now().uptimeNanoseconds
                        defer { durations.append(Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e6) }
                        _ = try device.trainSteps(
                            model: &model, optimizer: &optimizer, TrainingRequest<Transformer, TransformerBatch>(batches: [batches[index]], firstStep: index,
                            learningRate: { _ in 1e-3 }, randomKey: RandomKey(seed: 2),
                            loss: { model, batch, context in model.loss(batch, context: context) }))
                    }
                }
                try train(0..<warmup)
                try communicator.barrier()
                let start = DispatchTime.now().uptimeNanoseconds
                try train(warmup..<batches.count)
                try communicator.barrier()
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                // Per-step imbalance: how much longer the slower process's step took.
                let timed = Array(durations.suffix(batches.count - warmup))
                let all = try communicator.allGather(timed.withUnsafeBytes { Array($0) }).map { bytes in
                    bytes.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
                }
                let imbalance = (0..<timed.count).map { step in all.map { $0[step] }.max()! - all.map { $0[step] }.min()! }
                let meanImbalance = imbalance.reduce(0, +) / Double(imbalance.count)
                milliseconds[mode] = elapsed / Double(batches.count - warmup)
                if communicator.rank == 0 {
                    emit([
                        ("benchmark", "\"step\""), ("round", round), ("processes", communicator.size),
                        ("threads", ComputeThreads.count), ("mode", "\"\(mode)\""), ("steps", batches.count - warmup),
                        ("ms_per_step", String(format: "%.2f", milliseconds[mode]!)),
                        ("mean_step_difference_ms", String(format: "%.2f", meanImbalance)),
                        ("exchange_ms_per_step", String(format: "%.2f", device.exchangeSeconds * 1000 / Double(max(device.exchanges, 1)))),
                    ])
                }
            }
            if communicator.rank == 0, let with = milliseconds["exchange"], let without = milliseconds["none"] {
                emit([
                    ("benchmark", "\"exchange_overhead\""), ("round", round),
                    ("percent", String(format: "%.1f", 100 * (with - without) / without)),
                ])
            }
        }
        try communicator.finalize()
    }
}

/// The group of `communicator` with a sum that leaves each process's values alone, and
/// waits for the other processes when `waits`.
private final class NoExchange: ProcessGroup {
    let communicator: Communicator
    let waits: Bool
    init(_ communicator: Communicator, waits: Bool) {
        self.communicator = communicator
        self.waits = waits
    }
    var rank: Int { communicator.rank }
    var size: Int { communicator.size }
    func sum(_ values: UnsafeMutableBufferPointer<Float>) throws { if waits { try communicator.barrier() } }
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws { try communicator.broadcast(bytes, from: root) }
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { try communicator.allGather(bytes) }
}
