import NMTTensor
import NMTTestSupport
import XCTest

/// A recorder that keeps launches in order, as a static-shape device's tracer would.
final class LaunchLog: KernelRecorder {
    var launches: [KernelLaunch] = []
    func record(_ launch: KernelLaunch) { launches.append(launch) }
}

/// A recorder that only records, as the static device compiles: nothing runs while tracing.
final class RecordOnlyLog: KernelRecorder {
    var launches: [KernelLaunch] = []
    func record(_ launch: KernelLaunch) { launches.append(launch) }
    var executesLaunches: Bool { false }
}

/// A batch of data for a traced step: features and token ids.
struct TraceBatch: TapeAttachable {
    var features: Tensor
    var ids: IndexTensor
    func attached(to tape: GradientTape) -> TraceBatch {
        TraceBatch(features: features.attached(to: tape), ids: ids.attached(to: tape))
    }
}

/// The kernel layer's contract: a recorded training step, replayed on new data written
/// into the same buffers, computes exactly what eager execution computes on that data.
final class KernelRecordingTests: XCTestCase {
    let parameters: [String: Tensor] = [
        "embedding": Tensor.randomNormal([7, 4], key: RandomKey(seed: 1)),
        "kernel": Tensor.randomNormal([4, 3], key: RandomKey(seed: 2)),
        "scale": Tensor.ones([3]), "bias": Tensor.zeros([3]),
    ]

    func step(_ p: [String: Tensor], _ batch: TraceBatch) -> Tensor {
        let embedded = p["embedding"]!.gathering(rows: batch.ids) + batch.features * 2
        let hidden = embedded.matmul(p["kernel"]!).layerNormalized(scale: p["scale"]!, bias: p["bias"]!)
        let padding = batch.ids.mask(equalTo: 0).expandingShape(at: -1)
        return (hidden.maskedFill(where: padding, with: 0).relu().logSoftmax() * -1).mean()
    }

    func testReplayOnNewDataEqualsEagerExecution() {
        let first = TraceBatch(
            features: Tensor.randomNormal([2, 3, 4], key: RandomKey(seed: 3)),
            ids: IndexTensor(shape: [2, 3], scalars: [1, 5, 0, 6, 2, 3]))
        let log = LaunchLog()
        let (loss, gradients) = valueAndGradient(of: parameters, attaching: first, recorder: log) { step($0, $1) }
        let names = log.launches.map { "\($0.name)" }
        XCTAssertTrue(names.contains("gather_rows") && names.contains("scatter_add_rows"), "forward and backward are recorded")
        XCTAssertTrue(names.contains("index_equal_mask"), "kernels computed from attached ids are recorded")

        let lossBeforeReplay = loss.scalar
        // New data into the traced buffers, then replay the program.
        let second = TraceBatch(
            features: Tensor.randomNormal([2, 3, 4], key: RandomKey(seed: 4)),
            ids: IndexTensor(shape: [2, 3], scalars: [4, 0, 0, 2, 2, 6]))
        first.features.buffer.base.copyMemory(from: second.features.buffer.base, byteCount: 24 * 4)
        first.ids.buffer.base.copyMemory(from: second.ids.buffer.base, byteCount: 6 * 4)
        for launch in log.launches { launch.execute() }

        let (eagerLoss, eagerGradients) = valueAndGradient(of: parameters, attaching: second) { step($0, $1) }
        XCTAssertNotEqual(lossBeforeReplay, eagerLoss.scalar, "the two batches must give different losses")
        XCTAssertEqual(loss.scalar, eagerLoss.scalar, "replayed loss")
        for name in gradients.names {
            XCTAssertEqual(gradients[name]!.scalars, eagerGradients[name]!.scalars, "replayed gradient of \(name)")
        }
    }

    /// A trace that runs nothing records the same launches as one that runs them, and
    /// running its recording afterwards computes the eager step's loss and gradients.
    func testARecordOnlyTraceRunsLaterToTheEagerResult() {
        let batch = TraceBatch(
            features: Tensor.randomNormal([2, 3, 4], key: RandomKey(seed: 5)),
            ids: IndexTensor(shape: [2, 3], scalars: [3, 1, 0, 2, 6, 0]))
        let executed = LaunchLog(), recorded = RecordOnlyLog()
        _ = valueAndGradient(of: parameters, attaching: batch, recorder: executed) { step($0, $1) }
        let (loss, gradients) = valueAndGradient(of: parameters, attaching: batch, recorder: recorded) { step($0, $1) }
        XCTAssertEqual(recorded.launches.map { "\($0.name)" }, executed.launches.map { "\($0.name)" })
        for launch in recorded.launches { launch.execute() }
        let (eagerLoss, eagerGradients) = valueAndGradient(of: parameters, attaching: batch) { step($0, $1) }
        XCTAssertEqual(loss.scalar, eagerLoss.scalar)
        for name in gradients.names { XCTAssertEqual(gradients[name]!.scalars, eagerGradients[name]!.scalars, name) }
    }

    func testInferenceRecording() {
        let log = LaunchLog()
        let x = Tensor([1, 2, 3])
        let y = withKernelRecording([x], recorder: log) { inputs in (inputs[0] * 2).exp().detached }
        XCTAssertEqual(log.launches.map { "\($0.name)" }, ["scale", "exp"])
        assertClose(y, Tensor([2, 4, 6]).exp())
    }
}
