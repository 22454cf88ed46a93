import NMTLayers
import NMTTensor

extension StaticShardedDevice: DataParallelReplica {
    /// Runs one step per part, each split across this process's replicas: the replicas'
    /// gradients are combined in shard order as usual, weighted by the part's share, then
    /// summed across the group, and the update follows in device memory (see
    /// ``DataParallelReplica``). Every part must have the static shape: the global batch
    /// is the processes' parts one after another. Like the device's own steps, it does not
    /// accumulate: every group must hold one part.
    public func trainSteps<Model: ParameterContainer, Batch: DeviceBatch, Update: Optimizer>(
        model: inout Model, optimizer: inout Update, parts groups: [[BatchPart<Batch>]], firstStep: Int,
        learningRate: (Int) -> Float, randomKey: RandomKey,
        loss: (Model, Batch, ForwardContext) -> Tensor, group: ProcessGroup
    ) throws -> [StepSummary] {
        guard groups.allSatisfy({ $0.count == 1 }) else {
            throw DeviceError.invalidConfiguration("the static device does not accumulate gradients; use the CPU device")
        }
        let parts = groups.map { $0[0] }
        for part in parts { try check(part.batch) }
        guard !parts.isEmpty else { return [] }
        let state = residentState(for: model, optimizer: optimizer)
        let buffer = exchange.flatMap { $0.fits(model) ? $0 : nil } ?? GradientExchangeBuffer(for: model)
        exchange = buffer
        let deviceModel = state.load(model: model, optimizer: optimizer)
        var summaries: [StepSummary] = []
        for (offset, part) in parts.enumerated() {
            let step = firstStep + offset
            let ranges = shardRanges(of: part.batch)
            let results = runReplicas(
                model: deviceModel, batch: part.batch, ranges: ranges, key: randomKey.split(UInt64(step)),
                exampleOffset: part.firstExampleIndex, loss: loss)
            let weights = ranges.map { part.batch.lossWeight(ofSentences: $0) }
            let total = weights.reduce(0, +)
            let shares = weights.map { (total > 0 ? $0 / total : 1 / Float(shards)) * part.share }
            state.combine(results.map(\.gradients), shares: shares)
            state.copyGradients(into: buffer)
            buffer.loss = zip(results, shares).reduce(0) { $0 + $1.0.loss * $1.1 }
            try group.sum(buffer.values)
            state.unpack(from: buffer)
            let rate = learningRate(step)
            state.applyUpdate(&optimizer, learningRate: rate)
            summaries.append(StepSummary(step: step, learningRate: rate, loss: buffer.loss, gradientNorm: nil))
        }
        state.store(into: &model, optimizer: &optimizer)
        return summaries
    }
}
