// Model benchmarks: training steps (forward + backward + Adam) and beam-search decoding of
// the Transformer, printing one JSON object per line.
//
//   swift run -c release nmt-bench-model [--quick | --steps N] [--only tiny|small|base|main] [--pool-gib N] [--blas-threads N] [--profile [--profile-sizes]]
//                                        [--device cpu|static] [--shards N] [--eager] [--static-model]
//                                        [--iterations-per-loop K] [--optimizer adam|lazyadam|adamw|adafactor]
//                                        [--save-model DIR]
//
// (`--help` describes each flag.) The side-by-side runner in ../shared/bench reads the
// "train_step" line of `--only NAME`; keep that interface.
//
// --static-model runs the CPU device with the static device's execution plan (matmul
// embedding, no padding removal): the same work as the static device, step for step.
// Batches are 32 sentences x 64 tokens (source and target, no padding), so each step
// trains on 2048 target tokens; the main job's model ("main": Examples/configs/ding-h64.json
// with its 8,340-id vocabulary) trains as the main job does, on 512-token batches, here 32
// sentences x 16 tokens (Ding's sentences are short). --save-model writes a tiny model for interop checks
// (Scripts/reference/check_safetensors.py) and exits.
import ArgumentParser
import Foundation
import NMT
import NMTCommandLine

@main
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-bench-model",
        abstract: "Benchmark Transformer training steps and beam search; one JSON object per line.")

    /// A benchmarked model and its batches: sentences per batch and tokens per sentence
    /// (source and target, no padding).
    struct Model {
        var name: String
        var configuration: TransformerConfiguration
        var batch = 32, length = 64
    }

    /// The reference's tiny and base, the earlier default small, and the main job's model.
    static let models: [Model] = [
        Model(name: "tiny", configuration: TransformerConfiguration.tiny.withVocabularySize(33708)),
        Model(
            name: "small",
            configuration: TransformerConfiguration(vocabularySize: 8192, hiddenSize: 256, layerCount: 3, headCount: 4, filterSize: 1024)),
        Model(name: "base", configuration: TransformerConfiguration.base.withVocabularySize(33708)),
        Model(
            name: "main",
            configuration: TransformerConfiguration(vocabularySize: 8340, hiddenSize: 64, layerCount: 3, headCount: 4, filterSize: 256),
            batch: 32, length: 16),
    ]

    @Flag(help: "Two measured steps per model instead of 8 (4 for base).") var quick = false
    @Option(help: "Measured steps per model (overrides --quick): many short steps give a steadier median.")
    var steps: Int?
    @Option(help: "Only this model: tiny, small, base or main (the main job's).") var only: String?
    @Option(help: "Capacity of the tensor buffer pool in GiB during the training steps (default: BufferPool.trainingCapacityBytes).") var poolGib: Double?
    @Option(help: "BLAS threads (by default BLAS runs on one thread and swift-nmt splits large products itself).")
    var blasThreads: Int?
    @Flag(help: "Also print the 12 kernels that take the most time in one step.") var profile = false
    @Flag(help: "With --profile: count a kernel separately per operand sizes (elements of each input and output) and print the top 40.")
    var profileSizes = false
    @OptionGroup var devices: DeviceOptions
    @Flag(help: "Static device: run every step eagerly instead of compiling once per shape.") var eager = false
    @Flag(help: "CPU device with the static device's execution plan (the same work, step for step).") var staticModel = false
    @Option(help: "CPU device: concurrent parts of each training batch, one thread each (default 1).") var replicas = 1
    @Option(help: "Steps per device call.") var iterationsPerLoop: Int = 1
    @Option(name: .customLong("optimizer"), help: "The optimizer of the training steps.") var optimizerKind: OptimizerKind = .adam
    @Option(help: "Save a tiny model and its parameter sums to this folder (for Scripts/reference/check_safetensors.py) and exit.")
    var saveModel: String?

    func validate() throws {
        if let only, !Self.models.contains(where: { $0.name == only }) {
            throw ValidationError("--only must be tiny, small, base or main, not '\(only)'")
        }
        if iterationsPerLoop < 1 { throw ValidationError("--iterations-per-loop must be at least 1") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, not \(steps)") }
        if let poolGib, !(poolGib.isFinite && poolGib >= 0) { throw ValidationError("--pool-gib must be ≥ 0, not \(poolGib)") }
        if let blasThreads, blasThreads < 1 { throw ValidationError("--blas-threads must be at least 1") }
        if staticModel && devices.isStatic { throw ValidationError("--static-model is for the CPU device") }
        if replicas < 1 || (replicas > 1 && devices.isStatic) { throw ValidationError("--replicas must be at least 1, and is for the CPU device") }
    }

    func run() throws {
        if let saveModel { return try saveTinyModel(to: saveModel) }
        // swift-nmt splits large products across the cores itself when BLAS is single-threaded
        // (both devices set it); that avoids OpenBLAS's spinning threads competing with our
        // element-wise kernels (about 20-30% faster steps on 2 cores). --blas-threads 2 measures
        // BLAS's own threading with the CPU device.
        emit(["benchmark": "environment", "blas": BLAS.implementation, "threads": ComputeThreads.count])
        let shards = devices.shards ?? 1
        if let blasThreads { BLAS.threadCount = blasThreads }
        let deviceName = devices.isStatic ? "static(\(shards)\(eager ? ", eager" : ""))" : staticModel ? "cpu(static model)" : "cpu"
        for model in Self.models where only == nil || only == model.name {
            let device: Device =
                devices.isStatic
                ? try StaticShardedDevice(shards: shards, batchTokens: model.batch * model.length, maxLength: model.length, compiles: !eager)
                : CPUDevice(executionPlan: staticModel ? .staticShapes : .dynamicShapes, replicas: replicas)
            try benchmark(model, on: device, deviceName: deviceName + (replicas > 1 ? " x\(replicas)" : ""))
        }
    }

    /// Training steps, then beam search, of one model.
    func benchmark(_ benchmarked: Model, on device: Device, deviceName: String) throws {
        let (name, configuration, batch, length) = (benchmarked.name, benchmarked.configuration, benchmarked.batch, benchmarked.length)
        var model = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
        let untrained = model
        let key = RandomKey(seed: 2)
        func ids(_ stream: UInt64) -> IndexTensor {
            // Ids 2..V-1 (no padding or EOS inside), EOS at the end of each sentence.
            let draws = Tensor.randomUniform([batch, length], key: key.split(stream)).scalars
            return IndexTensor(
                shape: [batch, length],
                scalars: draws.enumerated().map { $0.offset % length == length - 1 ? 1 : 2 + Int32($0.element * Float(configuration.vocabularySize - 2)) })
        }
        let inputs = ids(1), targets = ids(2)
        var optimizer = optimizerKind.makeOptimizer()
        let steps = self.steps ?? (quick ? 2 : (name == "base" ? 4 : 8))
        var times: [Double] = []
        var allocations: [(buffers: Int, bytes: Int)] = []
        var loss: Float = 0
        let trainingBatch = try TransformerBatch(inputs: inputs, targets: targets, vocabularySize: configuration.vocabularySize)
        // Training steps with the pool a training loop uses (as the Trainer does), decoding
        // below with the default one.
        let trainingPool = poolGib.map { Int($0 * Double(1 << 30)) } ?? BufferPool.trainingCapacityBytes
        var firstStep = 0.0
        try BufferPool.shared.withCapacity(trainingPool) {
            for step in 0...steps {
                let before = BufferPool.shared.allocationCounts
                let t = try seconds {
                    let summaries = try device.trainSteps(
                        model: &model, optimizer: &optimizer, TrainingRequest<Transformer, TransformerBatch>(batches: Array(repeating: trainingBatch, count: iterationsPerLoop),
                        firstStep: step * iterationsPerLoop, learningRate: { _ in 1e-4 },
                        randomKey: key, loss: { model, batch, context in model.loss(batch, context: context) }))
                    loss = summaries.last!.loss
                } / Double(iterationsPerLoop)
                let after = BufferPool.shared.allocationCounts
                if step == 0 { firstStep = t }
                if step > 0 {  // step 0 warms up buffers and BLAS (and compiles on the static device)
                    times.append(t)
                    allocations.append(((after.buffers - before.buffers) / iterationsPerLoop, (after.bytes - before.bytes) / iterationsPerLoop))
                }
            }
        }
        times.sort()
        let median = times[times.count / 2]
        if profile {
            var profiler = KernelProfiler(bySizes: profileSizes)
            let context = ForwardContext.training(key: key.split(99), plan: device.capabilities.executionPlan)
            let batchData = try TransformerBatch(inputs: inputs, targets: targets, vocabularySize: configuration.vocabularySize)
            // The second of two steps, under the training loop's pool: as in a training run,
            // the step's buffers come from the pool rather than from fresh pages.
            BufferPool.shared.withCapacity(trainingPool) {
                for _ in 0..<2 {
                    profiler = KernelProfiler(bySizes: profileSizes)
                    _ = valueAndGradient(of: model, attaching: batchData, recorder: profiler) { $0.loss($1, context: context) }
                }
            }
            let top = profiler.totals.sorted { $0.value.seconds > $1.value.seconds }.prefix(profileSizes ? 40 : 12)
            emit(["benchmark": "profile", "model": name,
                  "kernels": top.map { ["name": $0.key, "ms": ($0.value.seconds * 1e4).rounded() / 10, "launches": $0.value.count] }])
        }
        emit(["benchmark": "train_step", "model": name, "device": deviceName, "batch": [batch, length], "steps": times.count,
              "iterations_per_loop": iterationsPerLoop, "optimizer": optimizerKind.rawValue,
              // To 10 µs: the main job's steps take about 30 ms.
              "step_seconds_median": (median * 1e5).rounded() / 1e5, "step_seconds_best": (times[0] * 1e5).rounded() / 1e5,
              "target_tokens_per_second": (Double(batch * length) / median).rounded(), "final_loss": Double(loss),
              // Tensor buffers allocated per step (a loop's end copies are shared by its steps).
              "buffers_per_step": allocations.map(\.buffers).max()!,
              "mib_per_step": (Double(allocations.map(\.bytes).max()!) / 1_048_576 * 10).rounded() / 10])
        if let staticDevice = device as? StaticShardedDevice {
            let memory = staticDevice.programMemory
            emit(["benchmark": "compilation", "model": name, "device": deviceName, "compilations": staticDevice.compilations,
                  "seconds": (staticDevice.compilationSeconds * 1000).rounded() / 1000,
                  // The step that compiled, compilation included (its first replay touches the arena).
                  "first_step_seconds": (firstStep * 1000).rounded() / 1000,
                  "arena_mib": Double(memory.arenaBytes) / 1_048_576, "unshared_mib": Double(memory.unsharedBytes) / 1_048_576])
        }

        // Beam-4 decoding of 8 sentences of 16 tokens, up to 16 + 16 steps, with the freshly
        // initialized model: how early the search stops depends on the weights, so the same
        // untrained weights keep the amount of work comparable between runs.
        let sources = IndexTensor(shape: [8, 16], scalars: Array(inputs.scalars.prefix(8 * 16)))
        var decoded: DecodedBatch?
        var beamFour = DecodingOptions(strategy: BeamSearchStrategy(beamSize: 4, alpha: 0.6))
        beamFour.extraDecodeLength = 16
        let decodeTime = seconds { decoded = untrained.translate(sources, options: beamFour, plan: .dynamicShapes) }
        emit(["benchmark": "beam_search", "model": name, "sentences": 8, "source_length": 16, "max_decode_length": 32,
              "decode_steps": decoded!.sequences[0].count, "beam": 4, "seconds": (decodeTime * 1000).rounded() / 1000,
              "sentences_per_second": (8 / decodeTime * 100).rounded() / 100])
        // The static-shape search on the same sources with the same limit (32 positions).
        var staticDecoded: DecodedBatch?
        let staticTime = seconds {
            staticDecoded = untrained.translateStatic(
                sources, maximumDecodeLength: 32, search: BeamSearchStrategy(beamSize: 4, alpha: 0.6), plan: .staticShapes)
        }
        emit(["benchmark": "static_beam_search", "model": name, "sentences": 8, "source_length": 16, "max_decode_length": 32,
              "same_as_dynamic": staticDecoded!.trimmedAtEOS == decoded!.trimmedAtEOS, "beam": 4,
              "seconds": (staticTime * 1000).rounded() / 1000, "sentences_per_second": (8 / staticTime * 100).rounded() / 100])
    }

    /// Saves a tiny model and, per parameter, its shape and the sum of its values.
    func saveTinyModel(to directory: String) throws {
        let model = try Transformer(configuration: TransformerConfiguration.tiny.withVocabularySize(100), key: RandomKey(seed: 1))
        try model.save(to: URL(fileURLWithPath: directory))
        var expected: [String: Any] = [:]
        for (name, tensor) in model.namedParameters {
            expected[name] = [tensor.shape, tensor.scalars.reduce(0.0) { $0 + Double($1) }]
        }
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: directory + "/expected.json"))
        print("saved \(model.namedParameters.count) tensors to \(directory)")
    }
}

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Attributes wall time to kernels: the time between two consecutive launches is charged
/// to the later one (kernels run synchronously, so that is its run time plus the host
/// work that prepared it).
final class KernelProfiler: KernelRecorder {
    var last = DispatchTime.now().uptimeNanoseconds
    var totals: [String: (seconds: Double, count: Int)] = [:]
    /// Whether a kernel's launches are told apart by their operand sizes ("matmul 524288,65536,524288").
    let bySizes: Bool
    init(bySizes: Bool) { self.bySizes = bySizes }
    func record(_ launch: KernelLaunch) {
        let now = DispatchTime.now().uptimeNanoseconds
        var key = "\(launch.name)"
        if bySizes { key += " " + (launch.inputs + launch.outputs).map { "\($0.byteCount / 4)" }.joined(separator: ",") }
        let entry = totals[key, default: (0, 0)]
        totals[key] = (entry.seconds + Double(now - last) / 1e9, entry.count + 1)
        last = now
    }
}

