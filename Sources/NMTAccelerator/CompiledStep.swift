import Foundation
import NMTLayers
import NMTTensor

/// One replica's forward and backward pass for one static shape, traced once into the
/// sequence of its kernel launches and replayed for later steps.
///
/// After tracing, the buffers the step creates and consumes itself (activations, saved
/// forward values, interim gradients) are placed in one arena by a ``MemoryPlan`` from
/// their lifetimes, and every launch's argument pointers are fixed once. Replaying copies
/// the next batch's ids, the step's dropout key and the current parameters into the
/// traced input buffers, then runs the kernel bodies on the planned pointers: a replayed
/// step allocates nothing, and running the same kernels in the same order computes exactly
/// what eager execution computes. The loss and gradients appear in the traced output
/// buffers, which keep their own memory.
///
/// A program exists only once traced (``trace(model:batch:context:loss:)`` returns it) and
/// never changes after: replaying cannot meet a half-built program. Tracing runs no
/// kernel; the first replay computes the traced step itself.
///
/// Sendable: its fields are constants, and its arena is written only by the one replica
/// task that replays it (a device keeps one program per replica and runs each once per
/// step).
final class CompiledStep: @unchecked Sendable {
    /// The planned program: each kernel body with its fixed argument pointers.
    private let planned: [(body: (KernelArguments) -> Void, arguments: KernelArguments)]
    /// Buffers outside the arena that the planned program points into (kept alive here).
    private let externalBuffers: [KernelBuffer]
    private let arena: KernelBuffer
    /// The arena's size and what the planned buffers would take without sharing.
    let arenaBytes: Int, unsharedBytes: Int
    private let dataBuffers: [KernelBuffer]
    private let parameterBuffers: [KernelBuffer]
    private let keyBuffer: RandomKeyBuffer
    private let loss: Tensor
    private let gradients: ParameterGradients

    /// Collects the launches of the step being traced without running them: compiling
    /// costs the step's bookkeeping only, not its arithmetic, and the traced buffers'
    /// pages are never touched (the arena's are, when the program first runs).
    private final class Recorder: KernelRecorder {
        var launches: [KernelLaunch] = []
        func record(_ launch: KernelLaunch) { launches.append(launch) }
        var executesLaunches: Bool { false }
    }

    /// Records the step without running it and compiles the recording; ``replay(model:rowsOf:replica:key:)``
    /// then runs it, the first time included.
    ///
    /// Nothing in a step may read a traced tensor's values on the host (a replay could
    /// not repeat that read either); the step's shapes and control flow depend on the
    /// batch's shapes only.
    static func trace<Model: ParameterContainer, Batch: DeviceBatch>(
        model: Model, batch: Batch, context: ForwardContext, loss body: (Model, Batch, ForwardContext) -> Tensor
    ) -> CompiledStep {
        let recorder = Recorder()
        let (value, gradients) = valueAndGradient(of: model, attaching: batch, recorder: recorder) { body($0, $1, context) }
        return CompiledStep(
            launches: recorder.launches, dataBuffers: batch.kernelBuffers,
            parameterBuffers: model.namedParameters.map(\.tensor.buffer), keyBuffer: context.randomKeyBuffer, loss: value,
            gradients: gradients)
    }

    /// Places the buffers that are first written inside the program (and not read from
    /// outside it) in one arena and fixes every launch's argument pointers.
    private init(
        launches: [KernelLaunch], dataBuffers: [KernelBuffer], parameterBuffers: [KernelBuffer], keyBuffer: RandomKeyBuffer,
        loss: Tensor, gradients: ParameterGradients
    ) {
        self.dataBuffers = dataBuffers
        self.parameterBuffers = parameterBuffers
        self.keyBuffer = keyBuffer
        self.loss = loss
        self.gradients = gradients
        var persistent = Set<ObjectIdentifier>(dataBuffers.map(ObjectIdentifier.init))
        for buffer in parameterBuffers { persistent.insert(ObjectIdentifier(buffer)) }
        persistent.insert(ObjectIdentifier(keyBuffer.buffer))
        persistent.insert(ObjectIdentifier(loss.buffer))
        for tensor in gradients.tensors.values { persistent.insert(ObjectIdentifier(tensor.buffer)) }
        var lifetimes: [ObjectIdentifier: (bytes: Int, first: Int, last: Int, internal: Bool, buffer: KernelBuffer)] = [:]
        for (index, launch) in launches.enumerated() {
            for buffer in launch.outputs where lifetimes[ObjectIdentifier(buffer)] == nil {
                let id = ObjectIdentifier(buffer)
                lifetimes[id] = (buffer.byteCount, index, index, !persistent.contains(id), buffer)
            }
            for buffer in launch.inputs + launch.outputs {
                let id = ObjectIdentifier(buffer)
                if var entry = lifetimes[id] {
                    entry.last = index
                    lifetimes[id] = entry
                } else {
                    // Read before any launch here writes it: an input from outside.
                    lifetimes[id] = (buffer.byteCount, index, index, false, buffer)
                }
            }
        }
        let plan = MemoryPlan(
            buffers: lifetimes.filter { $0.value.internal }.map { ($0.key, $0.value.bytes, $0.value.first, $0.value.last) })
        let arena = KernelBuffer(byteCount: plan.arenaBytes)
        func pointer(_ buffer: KernelBuffer) -> UnsafeMutableRawPointer {
            plan.offsets[ObjectIdentifier(buffer)].map { arena.base + $0 } ?? buffer.base
        }
        // The launches (and with them the traced internal buffers) are not kept.
        planned = launches.map { launch in
            (launch.body,
             KernelArguments(inputs: launch.inputs.map { UnsafeRawPointer(pointer($0)) }, outputs: launch.outputs.map(pointer)))
        }
        externalBuffers = lifetimes.values.filter { !$0.internal }.map(\.buffer)
        self.arena = arena
        arenaBytes = plan.arenaBytes
        unsharedBytes = plan.unsharedBytes
    }

    /// Runs the recorded step on replica `replica`'s rows of `batch` (each id buffer is
    /// split into equal, contiguous parts, one per replica).
    func replay<Model: ParameterContainer, Batch: DeviceBatch>(model: Model, rowsOf batch: Batch, replica: Int, key: RandomKey)
        -> (loss: Float, gradients: ParameterGradients)
    {
        for (traced, whole) in zip(dataBuffers, batch.kernelBuffers) {
            traced.base.copyMemory(from: whole.base + replica * traced.byteCount, byteCount: traced.byteCount)
        }
        // A device that keeps parameters in its own memory traces over those buffers, and
        // nothing is copied.
        for (traced, current) in zip(parameterBuffers, model.namedParameters) where traced !== current.tensor.buffer {
            traced.base.copyMemory(from: current.tensor.buffer.base, byteCount: traced.byteCount)
        }
        keyBuffer.set(key)
        for step in planned { step.body(step.arguments) }
        // The gradients share the traced output buffers: valid until the next replay, which
        // is after the device has combined them.
        return (loss.scalar, gradients)
    }
}
