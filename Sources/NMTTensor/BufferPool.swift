import Foundation

/// Keeps freed large tensor buffers for reuse, keyed by size class.
///
/// A training loop allocates the same large buffers every step (activations, logits,
/// gradients). Fresh large allocations come from the operating system as untouched
/// pages, and first touching them costs more than the kernels that fill them: the
/// [2048, 33708] logits of the base model took 18% longer to compute into fresh memory
/// than into reused memory (see Documentation/Performance.md). Buffers of at least
/// ``minimumPooledBytes`` are therefore cached on release, up to ``capacityBytes`` in
/// total, and handed out again for a request of the same size class
/// (``sizeClass(ofBytes:)``: sizes rounded up to an eighth of their power of two). The
/// classes matter for decoding, whose key/value caches grow by one position a step: an
/// exact-size pool never saw the same size twice there, and every step's caches were
/// written into fresh pages (12% of beam search's time went to the kernel zeroing
/// them). Smaller buffers go straight to `malloc`, which already recycles them cheaply.
///
/// The pool is process-wide, like the allocator it sits on, and thread-safe.
///
/// Sendable: its free lists and counters are touched only inside `lock`.
public final class BufferPool: @unchecked Sendable {
    /// The pool every ``KernelBuffer`` uses.
    public static let shared = BufferPool()

    /// Buffers smaller than this are not pooled.
    public static let minimumPooledBytes = 1 << 16

    private struct State {
        var free: [Int: [UnsafeMutableRawPointer]] = [:]
        var cachedBytes = 0
        var capacityBytes = BufferPool.defaultCapacityBytes
        var allocations = 0
        var allocatedBytes = 0
    }

    // Guarded by `lock`; every access goes through `withLock`.
    private var state = State()
    private let lock = NSLock()

    private func withLock<R>(_ body: (inout State) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&state)
    }

    private init() {}

    /// The default ``capacityBytes``: 1 GiB.
    public static let defaultCapacityBytes = 1 << 30

    /// The capacity for training loops: a quarter of the machine's memory, at least 1 GiB.
    ///
    /// Every training step asks for the same sizes again, so the cache holds buffers the
    /// next step reuses. With 1 GiB, the base model's step (5.4 GB of buffers) returned
    /// most of them to the system and spent 14% of its time zeroing fresh pages; with the
    /// step cached it was 12% faster, and its peak resident memory (4.7 GB) stayed below
    /// PyTorch's for the same step (5.3 GB). The `Trainer` of NMTSchedule uses it.
    public static let trainingCapacityBytes = max(1 << 30, Int(clamping: ProcessInfo.processInfo.physicalMemory / 4))

    /// Runs `body` with ``capacityBytes`` set to `bytes`, then restores the capacity
    /// (releasing what the larger capacity kept).
    public func withCapacity<Result>(_ bytes: Int, _ body: () throws -> Result) rethrows -> Result {
        let saved = capacityBytes
        capacityBytes = bytes
        defer { capacityBytes = saved }
        return try body()
    }

    /// The most memory kept for reuse (default ``defaultCapacityBytes``). Lowering it
    /// releases the excess.
    public var capacityBytes: Int {
        get { withLock { $0.capacityBytes } }
        set {
            withLock { $0.capacityBytes = max(0, newValue) }
            trim(to: newValue)
        }
    }

    /// Memory currently held for reuse, in bytes.
    public var cachedBytes: Int { withLock { $0.cachedBytes } }

    /// Buffers handed out since the process started (every ``KernelBuffer`` counts, reused
    /// or fresh) and their bytes: the difference across a training step is what the step
    /// allocated.
    public var allocationCounts: (buffers: Int, bytes: Int) { withLock { ($0.allocations, $0.allocatedBytes) } }

    /// Returns cached memory to the system until at most `bytes` remain cached.
    public func trim(to bytes: Int = 0) {
        let released: [UnsafeMutableRawPointer] = withLock { s in
            var out: [UnsafeMutableRawPointer] = []
            for size in s.free.keys.sorted(by: >) where s.cachedBytes > bytes {
                while s.cachedBytes > bytes, let pointer = s.free[size]?.popLast() {
                    out.append(pointer)
                    s.cachedBytes -= size
                }
                if s.free[size]?.isEmpty == true { s.free[size] = nil }
            }
            return out
        }
        for pointer in released { pointer.deallocate() }
    }

    /// The bytes a buffer of `bytes` occupies: `bytes` itself below ``minimumPooledBytes``;
    /// above, rounded up to a multiple of an eighth of the largest power of two not above
    /// it (at most 12.5 % more), so that sizes that differ a little share a free list.
    public static func sizeClass(ofBytes bytes: Int) -> Int {
        guard bytes >= minimumPooledBytes else { return bytes }
        let step = (1 << (Int.bitWidth - 1 - bytes.leadingZeroBitCount)) / 8
        return (bytes + step - 1) / step * step
    }

    func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let size = Self.sizeClass(ofBytes: byteCount)
        let reused: UnsafeMutableRawPointer? = withLock { s in
            s.allocations += 1
            s.allocatedBytes += byteCount
            guard size >= BufferPool.minimumPooledBytes, let pointer = s.free[size]?.popLast() else { return nil }
            s.cachedBytes -= size
            return pointer
        }
        if let reused { return reused }
        // 64-byte alignment: a cache line and a full AVX-512 register, so SIMD loads never split.
        return UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
    }

    func release(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        let size = Self.sizeClass(ofBytes: byteCount)
        if size >= BufferPool.minimumPooledBytes {
            let kept = withLock { s in
                guard s.cachedBytes + size <= s.capacityBytes else { return false }
                s.free[size, default: []].append(pointer)
                s.cachedBytes += size
                return true
            }
            if kept { return }
        }
        pointer.deallocate()
    }
}
