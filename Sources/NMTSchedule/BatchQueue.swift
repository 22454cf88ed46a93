import Foundation
import NMTTensor
import Synchronization

/// Runs numbered work items on a few threads, each taking the next item when it is free,
/// and returns the results in item order (whatever order they finish in).
struct BatchQueue {
    /// Items.
    let count: Int
    /// Threads; 1 runs the items in order on the calling thread.
    let workers: Int

    /// What the workers share, behind one lock: the next item to hand out, the items done,
    /// the results and the first error.
    private struct Progress<Result> {
        var next = 0
        var done = 0
        var results: [Result?]
        var firstError: (any Error)?
    }

    /// `body(0) ... body(count - 1)`, on ``workers`` threads, each inside
    /// `Parallel.serially` when there are several; `progress` gets (items done, items) after
    /// each, one call at a time. The first error thrown stops the items not yet started.
    func run<Result: Sendable>(
        _ body: @Sendable (Int) throws -> Result, progress: (@Sendable (Int, Int) -> Void)?
    ) throws -> [Result] {
        let count = self.count
        guard workers > 1 && count > 1 else {
            return try (0..<count).map { item in
                let result = try body(item)
                progress?(item + 1, count)
                return result
            }
        }
        let shared = Mutex(Progress<Result>(results: Array(repeating: nil, count: count)))
        _ = Parallel.concurrentMap(min(workers, count)) { _ in
            Parallel.serially {
                while true {
                    let item: Int? = shared.withLock { state in
                        guard state.firstError == nil, state.next < count else { return nil }
                        defer { state.next += 1 }
                        return state.next
                    }
                    guard let item else { return }
                    do {
                        let result = try body(item)
                        shared.withLock { state in
                            state.results[item] = result
                            state.done += 1
                            progress?(state.done, count)
                        }
                    } catch {
                        shared.withLock { state in if state.firstError == nil { state.firstError = error } }
                    }
                }
            }
        }
        let (results, firstError) = shared.withLock { ($0.results, $0.firstError) }
        if let firstError { throw firstError }
        return results.map { $0! }
    }
}
