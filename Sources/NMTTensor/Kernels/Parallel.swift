import CNMTKernels
import Dispatch
import Foundation
import Synchronization

/// Splits element-wise and row-wise kernels across cores.
package enum Parallel {
    /// Threads a kernel splits across: ``ComputeThreads/count``.
    package static var coreCount: Int { threadCount.load(ordering: .relaxed) }

    /// Set by ``ComputeThreads/count``; read by every kernel launch, hence an atomic.
    static let threadCount = Atomic(ComputeThreads.available)

    /// Below this many units of work a kernel runs on the calling thread: starting threads
    /// costs a few microseconds, more than a small kernel takes.
    package static let minimumWorkPerThread = 1 << 15

    /// Runs `body` over `0..<count` in contiguous chunks, concurrently when the work
    /// (`count * costPerItem`) is large enough to pay for the threads.
    @inline(__always)
    package static func forChunks(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let work = count * max(costPerItem, 1)
        let chunks = isSerial ? 1 : min(coreCount, work / minimumWorkPerThread, count)
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

extension Parallel {
    /// Marks threads inside ``serially(_:)``.
    private static let serialKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether kernels on this thread run on it alone (inside ``serially(_:)``).
    package static var isSerial: Bool { pthread_getspecific(serialKey) != nil }

    /// Runs `body` with every kernel it launches on the calling thread only, for callers
    /// that keep the cores busy themselves: independent work items (translation batches)
    /// on one thread each use the cores better than each item's small kernels split
    /// across all cores, and give the same floats (a split never changes what an element
    /// sums, only which thread computes it).
    package static func serially<Result>(_ body: () throws -> Result) rethrows -> Result {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }
}

/// Carries a value across a concurrency boundary that the caller knows is safe (each
/// concurrent task writes a disjoint part of the output, or only reads): the package's one
/// unchecked box, for ``Parallel``'s fan-outs and the translator's device.
///
/// Sendable: see above; every use says why its tasks cannot race.
package struct UnsafeSendable<T>: @unchecked Sendable {
    /// The value carried.
    package let value: T
    /// Wraps `value`.
    package init(_ value: T) { self.value = value }
}

extension Parallel {
    /// `body(0) ... body(count - 1)` run concurrently, one task each (replicas, shards,
    /// translation workers), with the results in index order whatever the order the
    /// tasks finish in.
    package static func concurrentMap<Result: Sendable>(_ count: Int, _ body: @Sendable (Int) -> Result) -> [Result] {
        let results = UnsafeMutableBufferPointer<Result?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        // Each task writes its own slot of `results`.
        let slots = UnsafeSendable(results)
        DispatchQueue.concurrentPerform(iterations: count) { index in slots.value[index] = body(index) }
        return results.map { $0! }
    }
}

/// How many threads swift-nmt's kernels split their work across (matrix products,
/// element-wise and row-wise kernels, concurrent translation batches).
///
/// The default is the processors this process may run on: its CPU affinity (what
/// `taskset` or `mpirun --bind-to core` allows), not every processor of the machine.
/// Processes that share a host (data-parallel training with `mpirun`) each take their
/// share of the cores.
public enum ComputeThreads {
    /// The thread count (at least 1); setting it affects the whole process.
    public static var count: Int {
        get { Parallel.coreCount }
        set { Parallel.threadCount.store(max(1, newValue), ordering: .relaxed) }
    }

    /// The processors this process may run on (its affinity mask where the system has
    /// one, otherwise the active processors).
    public static var available: Int {
        let allowed = Int(nmt_affinity_cpu_count())
        if allowed > 0 { return allowed }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }
}
