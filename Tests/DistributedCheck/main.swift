// nmt-distributed-check: run under `mpirun -np 2` (Tests/NMTDistributedTests starts it).
// Checks that data-parallel training across MPI processes trains what one process trains
// (loss and updated weights within 1e-5 over 3 steps, dropout on), that every rank ends
// with bit-identical weights, and that disagreement and MPI failures are thrown errors.
// Prints one line per check and exits 1 when any fails on any rank.
import CNMTMPI
import Foundation
import NMTAccelerator
import NMTDistributed
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTransformer

let configuration = TransformerConfiguration(vocabularySize: 13, hiddenSize: 8, layerCount: 2, headCount: 2, filterSize: 12)

/// 8 sentences of 6 tokens with 2...5 real tokens each (the static shape [48 / 6, 6]).
func batch(_ seed: UInt64, sentences: Int = 8) throws -> TransformerBatch {
    let draws = Tensor.randomUniform([2, 8, 6], key: RandomKey(seed: seed)).scalars
    func ids(_ offset: Int) -> [Int32] {
        (0..<(sentences * 6)).map { i in
            let (row, column) = (i / 6, i % 6)
            let length = 2 + (row * 7 + Int(seed)) % 4
            if column < length { return 2 + Int32(draws[offset + i] * 11) }
            return column == length ? 1 : 0
        }
    }
    return try TransformerBatch(
        inputs: IndexTensor(shape: [sentences, 6], scalars: ids(0)),
        targets: IndexTensor(shape: [sentences, 6], scalars: ids(48)), vocabularySize: 13)
}

/// Trains `loops` (batches per device call) from the same initial model and key; with
/// `accumulating`, each loop is one step of micro-batches.
func train(_ device: Device, loops: [[TransformerBatch]], accumulating: Bool = false) throws -> (Transformer, [Float]) {
    var model = try Transformer(configuration: configuration, key: RandomKey(seed: 1))
    var optimizer = Adam()
    var losses: [Float] = []
    var step = 0
    for loop in loops {
        let groups = accumulating ? [loop] : loop.map { [$0] }
        losses += try device.trainSteps(
            model: &model, optimizer: &optimizer, TrainingRequest<Transformer, TransformerBatch>(steps: groups, firstStep: step, learningRate: { _ in 0.01 },
            randomKey: RandomKey(seed: 2), loss: { model, batch, context in model.loss(batch, context: context) })
        ).map(\.loss)
        step += groups.count
    }
    return (model, losses)
}

/// The largest difference between two runs' losses and weights, relative to their size.
func difference(_ a: (Transformer, [Float]), _ b: (Transformer, [Float])) -> Float {
    var worst: Float = 0
    for (x, y) in zip(a.1, b.1) { worst = max(worst, abs(x - y) / max(1, abs(y))) }
    for (x, y) in zip(a.0.namedParameters, b.0.namedParameters) {
        for (u, v) in zip(x.tensor.scalars, y.tensor.scalars) { worst = max(worst, abs(u - v) / max(1, abs(v))) }
    }
    return worst
}

/// The weights' bits as text (FNV-1a over every parameter), compared across ranks.
func fingerprint(_ model: Transformer) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for (_, tensor) in model.namedParameters {
        for value in tensor.scalars {
            hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01b3
        }
    }
    return String(format: "%016llx", hash)
}

/// With `--stopped-rank`: rank 1 stops itself (SIGSTOP) and rank 0's next sum must give up
/// after a 2-second collective timeout with an error naming rank 1, without spinning the
/// whole time; rank 0 then ends the job (MPI_Abort), as nmt-train does.
let stoppedRankCheck = CommandLine.arguments.contains("--stopped-rank")

let communicator: Communicator
do { communicator = try Communicator(timeoutSeconds: stoppedRankCheck ? 2 : Communicator.defaultTimeoutSeconds) } catch {
    FileHandle.standardError.write(Data("nmt-distributed-check: \(error)\n".utf8))
    exit(1)
}

/// CPU seconds this process has used (user + system).
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

if stoppedRankCheck {
    if communicator.rank == 1 { raise(SIGSTOP) }
    var values = [Float](repeating: 1, count: 1000)
    let (start, cpuStart) = (Date(), cpuSeconds())
    do {
        try values.withUnsafeMutableBufferPointer { try communicator.sum($0) }
        FileHandle.standardOutput.write(Data("rank 0 stopped-rank check: FAILED (the sum finished)\n".utf8))
    } catch {
        let (waited, cpu) = (Date().timeIntervalSince(start), cpuSeconds() - cpuStart)
        let line = String(format: "rank 0 stopped-rank check: gave up after %.1f s using %.2f s of CPU: ", waited, cpu) + "\(error)\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }
    communicator.abort(code: 3)
}
var failures = 0
@MainActor func report(_ name: String, _ passed: Bool, _ detail: String) {
    if !passed { failures += 1 }
    if communicator.rank == 0 || !passed {
        print("rank \(communicator.rank)/\(communicator.size) \(name): \(passed ? "ok" : "FAILED") (\(detail))")
    }
}

do {
    let size = communicator.size
    // Dynamic batches on the CPU device: 2 × B/2 against 1 × B, with a 7-sentence batch
    // whose parts hold different token counts (the shares are then unequal).
    let dynamic = [[try batch(3)], [try batch(4, sentences: 7)], [try batch(5)]]
    let alone = try train(CPUDevice(), loops: dynamic)
    let together = try train(try DataParallelDevice(local: CPUDevice(), group: communicator), loops: dynamic)
    let cpuDifference = difference(together, alone)
    report("cpu parity (\(size) processes vs 1, 3 steps, dropout 0.1)", cpuDifference <= 1e-5, "max difference \(cpuDifference)")
    try communicator.requireAgreement(on: fingerprint(together.0), what: "weights after the CPU steps")
    report("cpu weights identical on every rank", true, fingerprint(together.0))

    // Gradient accumulation: 2 steps of 2 micro-batches each, N processes against 1. The
    // losses agree within 1e-5; the weights within 1e-4, since Adam's first steps divide
    // each gradient by its own size, so a rounding-level difference in a gradient near
    // zero moves its weight by up to the learning rate (here one weight moved 1.0e-5).
    let groups = [[try batch(3), try batch(4, sentences: 7)], [try batch(5), try batch(6)]]
    let accumulatedAlone = try train(CPUDevice(), loops: groups, accumulating: true)
    let accumulatedTogether = try train(
        try DataParallelDevice(local: CPUDevice(), group: communicator), loops: groups, accumulating: true)
    let lossDifference = zip(accumulatedTogether.1, accumulatedAlone.1).map { abs($0 - $1) / max(1, abs($1)) }.max()!
    let accumulationDifference = difference(accumulatedTogether, accumulatedAlone)
    report(
        "cpu accumulation parity (\(size) processes vs 1, 2 steps of 2 micro-batches)",
        lossDifference <= 1e-5 && accumulationDifference <= 1e-4,
        "max loss difference \(lossDifference), max weight difference \(accumulationDifference)")

    // Static batches: N processes × 2 shards against 1 process × 2N shards, one call of 3
    // steps (8-sentence batches: N = 1, 2 or 4).
    if 8 % (2 * size) == 0 {
        let fixed = [[try batch(3), try batch(4), try batch(5)]]
        let shards = try StaticShardedDevice(shards: 2 * size, batchTokens: 48, maxLength: 6)
        let staticAlone = try train(shards, loops: fixed)
        let local = try StaticShardedDevice(shards: 2, batchTokens: 48 / size, maxLength: 6)
        let inference = try StaticShardedDevice(shards: 2, batchTokens: 48, maxLength: 6)
        let staticTogether = try train(try DataParallelDevice(local: local, inference: inference, group: communicator), loops: fixed)
        let staticDifference = difference(staticTogether, staticAlone)
        report(
            "static parity (\(size) processes × 2 shards vs 1 × \(2 * size), 3 steps)", staticDifference <= 1e-5,
            "max difference \(staticDifference)")
        try communicator.requireAgreement(on: fingerprint(staticTogether.0), what: "weights after the static steps")
        report("static weights identical on every rank", true, fingerprint(staticTogether.0))
    }

    // The sum itself: every rank contributes rank + i; all must see the same exact sums.
    var values = (0..<1001).map { Float(communicator.rank) + Float($0) * 0.5 }
    try values.withUnsafeMutableBufferPointer { try communicator.sum($0) }
    let expected = (0..<1001).map { i in (0..<size).reduce(Float(0)) { $0 + Float($1) + Float(i) * 0.5 } }
    report("sum of 1001 values (not a multiple of the ranks)", values == expected, "first \(values[0]), last \(values[1000])")

    // Disagreement is an error on every rank, naming the ranks that differ.
    if size > 1 {
        do {
            try communicator.requireAgreement(on: communicator.rank == size - 1 ? "vocabulary b" : "vocabulary a", what: "test value")
            report("disagreement detected", false, "no error")
        } catch let error as ProcessGroupError {
            report("disagreement detected", "\(error)".contains("rank \(size - 1) has vocabulary b"), "\(error)")
        }
    }
    // MPI's failures are thrown errors with MPI's explanation.
    do {
        var byte: UInt8 = 0
        try withUnsafeMutableBytes(of: &byte) { try communicator.broadcast($0, from: size + 3) }
        report("invalid root refused", size == 1, "no error")
    } catch let error as MPIError {
        report(
            "invalid root refused with MPI's class", error.message.lowercased().contains("root") && error.errorClass == MPI_ERR_ROOT,
            "\(error)")
    }
} catch {
    report("run", false, "\(error)")
}

let anyFailed = try communicator.allGather([failures > 0 ? 1 : 0]).contains { $0 == [1] }
try communicator.finalize()
exit(anyFailed ? 1 : 0)
