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
        return try trainLoop(
            model: &model, optimizer: &optimizer, parts: groups.map { $0[0] }, firstStep: firstStep,
            learningRate: learningRate, randomKey: randomKey, loss: loss, group: group)
    }
}
