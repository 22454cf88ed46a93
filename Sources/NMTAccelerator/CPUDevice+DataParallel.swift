import NMTLayers
import NMTTensor

extension CPUDevice: DataParallelReplica {
    /// Runs the steps one after another on this thread, each accumulating this process's
    /// parts of the step's micro-batches; the group sums the share-weighted losses and
    /// gradients before every update (see ``DataParallelReplica``). The summaries hold the
    /// global loss and the norm of the summed gradients.
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, parts: [[BatchPart<Batch>]], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor, group: ProcessGroup
    ) throws -> [StepSummary] {
        let buffer = GradientExchangeBuffer.reusing(&exchange, for: model)
        var summaries: [StepSummary] = []
        for (offset, stepParts) in parts.enumerated() {
            let step = firstStep + offset
            let key = randomKey.split(UInt64(step))
            buffer.clear()
            // A part without sentences adds nothing: the other processes' parts make the batch.
            for part in stepParts where part.batch.sentenceCount > 0 {
                let context = ForwardContext.training(
                    key: key, plan: capabilities.executionPlan, firstExampleIndex: part.firstExampleIndex)
                let (value, gradients) = valueAndGradient(of: model, attaching: part.batch) { loss($0, $1, context) }
                buffer.add(loss: value.scalar, gradients: gradients, scale: part.share)
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
