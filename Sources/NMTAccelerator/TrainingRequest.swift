import NMTLayers
import NMTTensor

/// Everything a device needs to run a loop of training steps, for one process or one of
/// many: the batches of each step, the schedule, the dropout key, the loss and the
/// processes that share the batches.
///
/// Every device has one entry point, ``Device/trainSteps(model:optimizer:_:)``, and every
/// kind of step is a value of this type: one batch per step, several micro-batches per
/// step (gradient accumulation), and any of them shared by a ``ProcessGroup`` (data
/// parallelism), where each process trains its ``parts(ofStep:evenSplit:)``.
public struct TrainingRequest<Model: ParameterContainer, Batch: DeviceBatch> {
    /// The global micro-batches of each step, in order: one per step without gradient
    /// accumulation. Every process of ``group`` holds the same batches.
    public var steps: [[Batch]]
    /// The global step before the first update.
    public var firstStep: Int
    /// The rate of the update made at a global step.
    public var learningRate: (Int) -> Float
    /// The run's key: step `s` draws its dropout from `randomKey.split(s)`, so that a
    /// resumed run draws the same masks.
    public var randomKey: RandomKey
    /// The scalar loss of a batch under a forward context (training, with the device's
    /// plan); replicas may call it on several threads at once.
    public var loss: @Sendable (Model, Batch, ForwardContext) -> Tensor
    /// The processes that share every batch (each trains its part and the group sums the
    /// gradients before every update); a ``SingleProcessGroup`` by default.
    public var group: any ProcessGroup

    /// A request of one or more micro-batches per step.
    ///
    /// - Parameters:
    ///   - steps: the global micro-batches of each step (each step at least one).
    ///   - firstStep: the global step before the first update.
    ///   - learningRate: the rate of the update made at a global step.
    ///   - randomKey: the run's dropout key.
    ///   - group: the processes sharing the batches.
    ///   - loss: the scalar loss of a batch under a forward context.
    public init(
        steps: [[Batch]], firstStep: Int, learningRate: @escaping (Int) -> Float, randomKey: RandomKey,
        group: any ProcessGroup = SingleProcessGroup(), loss: @escaping @Sendable (Model, Batch, ForwardContext) -> Tensor
    ) {
        precondition(steps.allSatisfy { !$0.isEmpty }, "TrainingRequest: every step needs at least one batch")
        self.steps = steps
        self.firstStep = firstStep
        self.learningRate = learningRate
        self.randomKey = randomKey
        self.group = group
        self.loss = loss
    }

    /// A request of one batch per step; parameters as ``init(steps:firstStep:learningRate:randomKey:group:loss:)``.
    public init(
        batches: [Batch], firstStep: Int, learningRate: @escaping (Int) -> Float, randomKey: RandomKey,
        group: any ProcessGroup = SingleProcessGroup(), loss: @escaping @Sendable (Model, Batch, ForwardContext) -> Tensor
    ) {
        self.init(
            steps: batches.map { [$0] }, firstStep: firstStep, learningRate: learningRate, randomKey: randomKey, group: group,
            loss: loss)
    }

    /// The dropout key of global step `step`.
    public func key(forStep step: Int) -> RandomKey { randomKey.split(UInt64(step)) }

    /// This process's parts of the micro-batches of step `index` (counted from the
    /// request's first): see ``BatchPart/parts(of:rank:size:evenSplit:)``.
    ///
    /// - Throws: ``DeviceError/indivisibleBatch(sentences:shards:)`` when `evenSplit` and
    ///   a batch does not divide across the group.
    public func parts(ofStep index: Int, evenSplit: Bool) throws(DeviceError) -> [BatchPart<Batch>] {
        try BatchPart.parts(of: steps[index], rank: group.rank, size: group.size, evenSplit: evenSplit)
    }
}

/// One process's part of a micro-batch of a step that several processes (or one
/// accumulating several micro-batches) train as one batch.
public struct BatchPart<Batch: DeviceBatch> {
    /// This process's sentences (possibly none).
    public var batch: Batch
    /// The position of its first sentence in the step's batch (after the sentences of the
    /// step's earlier micro-batches): dropout draws each example's mask from its global
    /// position, as one process with the whole batch would.
    public var firstExampleIndex: Int
    /// Its loss weight over the step's (all micro-batches of all processes): its loss and
    /// gradient count this much in the global ones.
    public var share: Float

    /// Creates a part.
    public init(batch: Batch, firstExampleIndex: Int, share: Float) {
        self.batch = batch
        self.firstExampleIndex = firstExampleIndex
        self.share = share
    }

    /// Process `rank`'s part of each micro-batch of one step shared by `size` processes:
    /// sentences `rank·n/size ..< (rank+1)·n/size` of each batch of n, its share of the
    /// whole step's loss weight (see `lossShare`), and its examples
    /// numbered after those of the micro-batches before it.
    ///
    /// A process alone with one batch gets that batch with share 1 (no copy).
    ///
    /// - Parameters:
    ///   - microBatches: the step's global micro-batches.
    ///   - rank: this process, `0..<size`.
    ///   - size: the processes.
    ///   - evenSplit: whether every batch must divide evenly (static shapes).
    /// - Throws: ``DeviceError/indivisibleBatch(sentences:shards:)`` when `evenSplit` and a
    ///   batch does not divide across the processes.
    public static func parts(of microBatches: [Batch], rank: Int, size: Int, evenSplit: Bool) throws(DeviceError) -> [BatchPart] {
        if size == 1 && microBatches.count == 1 { return [BatchPart(batch: microBatches[0], firstExampleIndex: 0, share: 1)] }
        var ranges: [Range<Int>] = []
        for batch in microBatches {
            let sentences = batch.sentenceCount
            if evenSplit, sentences % size != 0 { throw .indivisibleBatch(sentences: sentences, shards: size) }
            ranges.append((rank * sentences / size)..<((rank + 1) * sentences / size))
        }
        // Each batch's weight counts its targets: computed once, summed in batch order.
        let weights = microBatches.map(\.lossWeight)
        let totalWeight = weights.reduce(Float(0), +)
        let totalSentences = microBatches.reduce(0) { $0 + $1.sentenceCount }
        var parts: [BatchPart] = []
        var offset = 0
        for (index, batch) in microBatches.enumerated() {
            let part = size == 1 ? batch : batch.sentences(ranges[index])
            let weight = size == 1 ? weights[index] : batch.lossWeight(ofSentences: ranges[index])
            let share = lossShare(
                weight: weight, sentences: ranges[index].count, totalWeight: totalWeight, totalSentences: totalSentences)
            parts.append(BatchPart(batch: part, firstExampleIndex: offset + ranges[index].lowerBound, share: share))
            offset += batch.sentenceCount
        }
        return parts
    }
}

/// How much a piece of a batch counts in the batch's loss and gradient: its loss weight
/// over the whole batch's; for a batch without weight (no target token), its sentences
/// over the batch's. Every split of a batch (micro-batches, processes, shards) weights its
/// pieces with it, so that the pieces together give the loss of the whole batch.
///
/// - Parameters:
///   - weight: the piece's loss weight.
///   - sentences: the piece's sentences.
///   - totalWeight: the whole batch's loss weight.
///   - totalSentences: the whole batch's sentences.
func lossShare(weight: Float, sentences: Int, totalWeight: Float, totalSentences: Int) -> Float {
    totalWeight > 0 ? weight / totalWeight : Float(sentences) / Float(max(totalSentences, 1))
}
