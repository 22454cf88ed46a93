import NMTTensor

/// Offsets in one arena for the buffers a program creates and consumes itself, chosen
/// from their lifetimes so that buffers never live at the same time share memory.
struct MemoryPlan {
    /// Arena offset of each internal buffer (by identity).
    let offsets: [ObjectIdentifier: Int]
    /// Bytes the arena needs.
    let arenaBytes: Int
    /// Bytes the internal buffers would take without sharing.
    let unsharedBytes: Int

    /// Plans `buffers` with inclusive lifetimes `[first, last]` (launch indices): two
    /// buffers whose lifetimes overlap, even at one launch, get disjoint ranges.
    init(buffers: [(id: ObjectIdentifier, bytes: Int, first: Int, last: Int)]) {
        var placed: [(offset: Int, end: Int, last: Int)] = []
        var offsets: [ObjectIdentifier: Int] = [:]
        var arena = 0
        for buffer in buffers.sorted(by: { $0.first < $1.first }) {
            let size = (buffer.bytes + 63) / 64 * 64
            // Ranges still live when this buffer is first written, by offset.
            let live = placed.filter { $0.last >= buffer.first }.sorted { $0.offset < $1.offset }
            var candidate = 0
            for range in live {
                if candidate + size <= range.offset { break }
                candidate = max(candidate, range.end)
            }
            placed.append((candidate, candidate + size, buffer.last))
            offsets[buffer.id] = candidate
            arena = max(arena, candidate + size)
        }
        self.offsets = offsets
        arenaBytes = arena
        unsharedBytes = buffers.reduce(0) { $0 + ($1.bytes + 63) / 64 * 64 }
    }
}
