import NMTLayers
import NMTTensor

extension CPUDevice: DataParallelReplica {
    /// Runs the steps one after another on this thread, each on this process's part of
    /// the global batch; the group sums the share-weighted losses and gradients before
    /// every update (see ``DataParallelReplica``). The summaries hold the global loss and
    /// the norm of the summed gradients.
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, parts: [BatchPart<Batch>], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor, group: ProcessGroup
    ) throws -> [StepSummary] {
        let buffer = exchange.flatMap { $0.fits(model) ? $0 : nil } ?? GradientExchangeBuffer(for: model)
        exchange = buffer
        var summaries: [StepSummary] = []
        for (offset, part) in parts.enumerated() {
            let step = firstStep + offset
            if part.batch.sentenceCount > 0 {
                let (value, gradients) = gradients(
                    of: model, microBatches: [part.batch], key: randomKey.split(UInt64(step)),
                    firstExampleIndex: part.firstExampleIndex, loss: loss)
                buffer.pack(loss: value, gradients: gradients, scale: part.share)
            } else {
                // Nothing to train on here this step; the other processes' parts make the batch.
                buffer.pack(loss: 0, gradients: nil, scale: 0)
            }
            try group.sum(buffer.values)
            let gradients = buffer.gradients()
            let rate = learningRate(step)
            optimizer.update(&model, along: gradients, learningRate: rate)
            summaries.append(
                StepSummary(step: step, learningRate: rate, loss: buffer.loss, gradientNorm: Self.globalNorm(gradients)))
        }
        return summaries
    }
}
