import Foundation
import NMTData

/// The batches of one device call (a loop of steps), with where the data stands after
/// them.
struct TrainingLoop {
    /// One batch per step.
    var batches: [TokenBatch]
    /// The data iterator's position after the last batch (what a checkpoint records).
    var position: DatasetPosition
    /// Whether the iteration ends with this loop (the data of its epochs is used up).
    var endsIteration: Bool

    /// Non-padding target tokens in the loop.
    var targetTokens: Int { batches.reduce(0) { $0 + $1.targetTokenCount } }
}

/// Groups the shuffled training batches into loops for the device and owns the epoch
/// boundaries between iterations: a batch fetched from the epoch after an iteration's
/// last is held back for the next iteration, so no batch is skipped or trained twice.
final class TrainingBatcher {
    private let batches: PrefetchingIterator
    /// A batch fetched at an epoch boundary, waiting for the next iteration.
    private var held: (batch: TokenBatch, position: DatasetPosition)?
    /// The position after the last batch handed out (an empty loop reports it).
    private var position: DatasetPosition

    /// Starts reading `dataset` at `position` (a resumed run's).
    init(dataset: TranslationDataset, from position: DatasetPosition) throws {
        batches = PrefetchingIterator(try dataset.makeIterator(from: position))
        self.position = position
    }

    deinit { batches.cancel() }

    /// Up to `maximumSteps` batches; fewer when the data ends or the next batch belongs to
    /// epoch `endEpoch` or later (then the loop ends the iteration).
    func nextLoop(maximumSteps: Int, endEpoch: Int?) throws -> TrainingLoop {
        var loop = TrainingLoop(batches: [], position: position, endsIteration: false)
        while loop.batches.count < maximumSteps {
            let next: (batch: TokenBatch, position: DatasetPosition)
            if let waiting = held {
                next = waiting
                held = nil
            } else if let batch = try batches.next() {
                next = (batch, batches.position)
            } else {
                loop.endsIteration = true
                break
            }
            if let endEpoch, next.position.epoch >= endEpoch {
                held = next
                loop.endsIteration = true
                break
            }
            loop.batches.append(next.batch)
            loop.position = next.position
        }
        position = loop.position
        return loop
    }
}
