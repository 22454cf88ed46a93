import Dispatch
import Foundation

/// Splits element-wise and row-wise kernels across cores.
enum Parallel {
    /// Processors available to this process, read once.
    static let coreCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Below this many units of work a kernel runs on the calling thread: starting threads
    /// costs a few microseconds, more than a small kernel takes.
    static let minimumWorkPerThread = 1 << 15

    /// Runs `body` over `0..<count` in contiguous chunks, concurrently when the work
    /// (`count * costPerItem`) is large enough to pay for the threads.
    @inline(__always)
    static func forChunks(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let work = count * max(costPerItem, 1)
        let chunks = min(coreCount, work / minimumWorkPerThread, count)
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UnsafeSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                shared.value(start..<end)
            }
        }
    }
}

/// Carries a value across a concurrency boundary that the caller knows is safe (each
/// concurrent chunk writes a disjoint part of the output).
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
