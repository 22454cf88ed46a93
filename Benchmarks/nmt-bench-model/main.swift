// Model benchmarks: training steps (forward + backward + Adam) and beam-search decoding of
// the Transformer, printing one JSON object per line.
//
//   swift run -c release nmt-bench-model [--quick] [--only tiny|small|base] [--pool-gib N] [--blas-threads N] [--profile]
//                                        [--device cpu|static] [--shards N] [--eager] [--static-model]
//                                        [--iterations-per-loop K]
//                                        [--save-model DIR]
//
// --static-model runs the CPU device with the static device's execution plan (matmul
// embedding, no padding removal): the same work as the static device, step for step.
// Batches are 32 sentences x 64 tokens (source and target, no padding), so each step
// trains on 2048 target tokens. --save-model writes a tiny model for interop checks
// (Scripts/check_safetensors.py) and exits.
import Foundation
import NMT

let arguments = CommandLine.arguments
func value(of flag: String) -> String? {
    guard let i = arguments.firstIndex(of: flag), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
let quick = arguments.contains("--quick")
// swift-nmt splits large products across the cores itself when BLAS is single-threaded
// (both devices set it); that avoids OpenBLAS's spinning threads competing with our
// element-wise kernels (about 20-30% faster steps on 2 cores). --blas-threads 2 measures
// BLAS's own threading with the CPU device.
if let gib = value(of: "--pool-gib").flatMap(Double.init) { BufferPool.shared.capacityBytes = Int(gib * Double(1 << 30)) }

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

if let directory = value(of: "--save-model") {
    let model = try Transformer(configuration: TransformerConfiguration.tiny.withVocabularySize(100), key: RandomKey(seed: 1))
    try model.save(to: URL(fileURLWithPath: directory))
    var expected: [String: Any] = [:]
    for (name, tensor) in model.namedParameters {
        expected[name] = [tensor.shape, tensor.scalars.reduce(0.0) { $0 + Double($1) }]
    }
    try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: directory + "/expected.json"))
    print("saved \(model.namedParameters.count) tensors to \(directory)")
    exit(0)
}

/// Attributes wall time to kernels: the time between two consecutive launches is charged
/// to the later one (kernels run synchronously, so that is its run time plus the host
/// work that prepared it).
final class KernelProfiler: KernelRecorder {
    var last = DispatchTime.now().uptimeNanoseconds
    var totals: [String: (seconds: Double, count: Int)] = [:]
    func record(_ launch: KernelLaunch) {
        let now = DispatchTime.now().uptimeNanoseconds
        let entry = totals["\(launch.name)", default: (0, 0)]
        totals["\(launch.name)"] = (entry.seconds + Double(now - last) / 1e9, entry.count + 1)
        last = now
    }
}

let configurations: [(String, TransformerConfiguration)] = [
    ("tiny", TransformerConfiguration.tiny.withVocabularySize(33708)),
    ("small", TransformerConfiguration(vocabularySize: 8192, hiddenSize: 256, layerCount: 3, headCount: 4, filterSize: 1024)),
    ("base", TransformerConfiguration.base.withVocabularySize(33708)),
]
emit(["benchmark": "environment", "blas": BLAS.implementation, "cores": ProcessInfo.processInfo.activeProcessorCount])

let (batch, length) = (32, 64)
let iterationsPerLoop = max(1, value(of: "--iterations-per-loop").flatMap(Int.init) ?? 1)
// --device static --shards N: the static sharded device (one-hot matmul embedding, no
// padding removal, replicas on threads); the default is the CPU device.
let shards = value(of: "--shards").flatMap(Int.init) ?? 1
let device: Device =
    value(of: "--device") == "static"
    ? try StaticShardedDevice(
        shards: shards, batchTokens: batch * length, maxLength: length, compiles: !arguments.contains("--eager"))
    : CPUDevice(executionPlan: arguments.contains("--static-model") ? .staticShapes : .dynamicShapes)
if value(of: "--blas-threads") != nil { BLAS.threadCount = value(of: "--blas-threads").flatMap(Int.init) ?? 1 }
let deviceName =
    value(of: "--device") == "static"
    ? "static(\(shards)\(arguments.contains("--eager") ? ", eager" : ""))"
    : arguments.contains("--static-model") ? "cpu(static model)" : "cpu"
for (name, configuration) in configurations where value(of: "--only") == nil || value(of: "--only") == name {
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
    var adam = Adam()
    let steps = quick ? 2 : (name == "base" ? 4 : 8)
    var times: [Double] = []
    var allocations: [(buffers: Int, bytes: Int)] = []
    var loss: Float = 0
    let trainingBatch = try TransformerBatch(inputs: inputs, targets: targets, vocabularySize: configuration.vocabularySize)
    for step in 0...steps {
        let before = BufferPool.shared.allocationCounts
        let t = try seconds {
            let summaries = try device.trainSteps(
                model: &model, optimizer: &adam, batches: Array(repeating: trainingBatch, count: iterationsPerLoop),
                firstStep: step * iterationsPerLoop, learningRate: { _ in 1e-4 },
                randomKey: key, loss: { model, batch, context in model.loss(batch, context: context) })
            loss = summaries.last!.loss
        } / Double(iterationsPerLoop)
        let after = BufferPool.shared.allocationCounts
        if step > 0 {  // step 0 warms up buffers and BLAS (and compiles on the static device)
            times.append(t)
            allocations.append(((after.buffers - before.buffers) / iterationsPerLoop, (after.bytes - before.bytes) / iterationsPerLoop))
        }
    }
    times.sort()
    let median = times[times.count / 2]
    if arguments.contains("--profile") {
        let profiler = KernelProfiler()
        let context = ForwardContext.training(key: key.split(99), plan: device.capabilities.executionPlan)
        let batchData = try TransformerBatch(inputs: inputs, targets: targets, vocabularySize: configuration.vocabularySize)
        _ = valueAndGradient(of: model, attaching: batchData, recorder: profiler) { $0.loss($1, context: context) }
        let top = profiler.totals.sorted { $0.value.seconds > $1.value.seconds }.prefix(12)
        emit(["benchmark": "profile", "model": name,
              "kernels": top.map { ["name": $0.key, "ms": ($0.value.seconds * 1e4).rounded() / 10, "launches": $0.value.count] }])
    }
    emit(["benchmark": "train_step", "model": name, "device": deviceName, "batch": [batch, length], "steps": times.count,
          "iterations_per_loop": iterationsPerLoop,
          "step_seconds_median": (median * 1000).rounded() / 1000, "step_seconds_best": (times[0] * 1000).rounded() / 1000,
          "target_tokens_per_second": (Double(batch * length) / median).rounded(), "final_loss": Double(loss),
          // Tensor buffers allocated per step (a loop's end copies are shared by its steps).
          "buffers_per_step": allocations.map(\.buffers).max()!,
          "mib_per_step": (Double(allocations.map(\.bytes).max()!) / 1_048_576 * 10).rounded() / 10])
    if let staticDevice = device as? StaticShardedDevice {
        let memory = staticDevice.programMemory
        emit(["benchmark": "compilation", "model": name, "device": deviceName, "compilations": staticDevice.compilations,
              "seconds": (staticDevice.compilationSeconds * 1000).rounded() / 1000,
              "arena_mib": Double(memory.arenaBytes) / 1_048_576, "unshared_mib": Double(memory.unsharedBytes) / 1_048_576])
    }

    // Beam-4 decoding of 8 sentences of 16 tokens, up to 16 + 16 steps, with the freshly
    // initialized model: how early the search stops depends on the weights, so the same
    // untrained weights keep the amount of work comparable between runs.
    let sources = IndexTensor(shape: [8, 16], scalars: Array(inputs.scalars.prefix(8 * 16)))
    var decoded: DecodedBatch?
    let decodeTime = seconds { decoded = untrained.translate(sources, beamSize: 4, alpha: 0.6, extraDecodeLength: 16) }
    emit(["benchmark": "beam_search", "model": name, "sentences": 8, "source_length": 16, "max_decode_length": 32,
          "decode_steps": decoded!.sequences[0].count, "beam": 4, "seconds": (decodeTime * 1000).rounded() / 1000,
          "sentences_per_second": (8 / decodeTime * 100).rounded() / 100])
    // The static-shape search on the same sources with the same limit (32 positions).
    var staticDecoded: DecodedBatch?
    let staticTime = seconds { staticDecoded = untrained.translateStatic(sources, maximumDecodeLength: 32, beamSize: 4, alpha: 0.6) }
    emit(["benchmark": "static_beam_search", "model": name, "sentences": 8, "source_length": 16, "max_decode_length": 32,
          "same_as_dynamic": staticDecoded!.trimmedAtEOS == decoded!.trimmedAtEOS, "beam": 4,
          "seconds": (staticTime * 1000).rounded() / 1000, "sentences_per_second": (8 / staticTime * 100).rounded() / 100])
}
