import Foundation

/// Runs a ``DatasetIterator`` on a background thread, keeping up to `capacity` batches
/// ready, so that reading and batching overlap with training.
///
/// ``position`` is the position after the last batch *returned* (not produced), so a
/// checkpoint taken between batches resumes exactly.
///
/// Sendable: every mutable field is read and written under `condition`, and the wrapped
/// iterator belongs to the producer thread alone (handed over in `init`).
public final class PrefetchingIterator: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [(batch: TokenBatch, position: DatasetPosition)] = []
    private var finished = false
    private var failure: Error?
    private var cancelled = false
    private let capacity: Int
    /// The position after the last batch returned by ``next()``.
    public private(set) var position: DatasetPosition

    /// Starts producing batches of `iterator` on a background thread.
    public init(_ iterator: DatasetIterator, capacity: Int = 4) {
        self.capacity = max(1, capacity)
        position = iterator.position
        // The iterator moves to the producer thread, its only user from now on (the caller
        // hands it over and keeps no reference to use), so it needs no lock.
        nonisolated(unsafe) let handedOver = iterator
        let producer = Thread { [self] in produce(handedOver) }
        producer.name = "nmt-dataset-prefetch"
        producer.start()
    }

    deinit { cancel() }

    private func produce(_ iterator: DatasetIterator) {
        while true {
            let item: TokenBatch?
            do { item = try iterator.next() } catch {
                condition.lock()
                failure = error
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.lock()
            guard let batch = item, !cancelled else {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            while queue.count >= capacity && !cancelled { condition.wait() }
            queue.append((batch, iterator.position))
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next batch, waiting for the producer if needed; nil at the end.
    ///
    /// - Throws: the error the producer met (after the batches produced before it).
    public func next() throws -> TokenBatch? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !finished { condition.wait() }
        if !queue.isEmpty {
            let (batch, newPosition) = queue.removeFirst()
            position = newPosition
            condition.broadcast()
            return batch
        }
        if let failure { throw failure }
        return nil
    }

    /// Stops the producer after its current batch.
    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}
