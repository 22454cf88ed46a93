import Foundation
import NMTLayers
import NMTTensor

/// One replica's forward and backward pass for one static shape, traced once into the
/// sequence of its kernel launches and replayed for later steps.
///
/// Replaying executes the recorded kernel bodies on the buffers they were traced with:
/// the next batch's ids, the step's dropout key and the current parameters are copied into
/// the traced input buffers first, and the loss and gradients appear in the traced output
/// buffers. Every buffer lives as long as the program, so a replayed step allocates
/// nothing; the same kernels run in the same order, so a replay computes exactly what
/// eager execution computes.
final class CompiledStep: KernelRecorder {
    private var launches: [KernelLaunch] = []
    private var dataBuffers: [KernelBuffer] = []
    private var parameterBuffers: [(name: String, buffer: KernelBuffer)] = []
    private var keyBuffer: RandomKeyBuffer?
    private var loss: Tensor?
    private var gradients: ParameterGradients?
    /// Kernel launches in the program.
    var launchCount: Int { launches.count }

    func record(_ launch: KernelLaunch) { launches.append(launch) }

    /// Runs the step eagerly while recording it.
    func trace<Model: ParameterContainer, Batch: DeviceBatch>(
        model: Model, batch: Batch, context: ForwardContext, loss body: (Model, Batch, ForwardContext) -> Tensor
    ) -> (loss: Float, gradients: ParameterGradients) {
        let (value, gradients) = valueAndGradient(of: model, attaching: batch, recorder: self) { body($0, $1, context) }
        dataBuffers = batch.kernelBuffers
        parameterBuffers = model.namedParameters.map { ($0.name, $0.tensor.buffer) }
        keyBuffer = context.randomKeyBuffer
        loss = value
        self.gradients = gradients
        return (value.scalar, gradients)
    }

    /// Runs the recorded step on new inputs.
    func replay<Model: ParameterContainer, Batch: DeviceBatch>(model: Model, batch: Batch, key: RandomKey)
        -> (loss: Float, gradients: ParameterGradients)
    {
        for (traced, new) in zip(dataBuffers, batch.kernelBuffers) {
            traced.base.copyMemory(from: new.base, byteCount: traced.byteCount)
        }
        for ((_, traced), current) in zip(parameterBuffers, model.namedParameters) {
            traced.base.copyMemory(from: current.tensor.buffer.base, byteCount: traced.byteCount)
        }
        keyBuffer!.set(key)
        for launch in launches { launch.execute() }
        // The gradients share the traced output buffers: valid until the next replay, which
        // is after the device has combined them.
        return (loss!.scalar, gradients!)
    }
}
