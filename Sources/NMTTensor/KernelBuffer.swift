/// A fixed-size, 64-byte aligned block of memory that kernels read and write.
///
/// Every tensor's elements live in a `KernelBuffer`. Buffers are reference types so that
/// a kernel recorder (see ``KernelRecorder``) can tell buffers apart by identity and a
/// static-shape device can map each one onto a slot of a preplanned arena. Element type
/// is a property of the tensor that views the buffer (`Float` for ``Tensor``, `Int32` for
/// ``IndexTensor``, `UInt32` for random keys); the buffer itself only knows its size.
///
/// Sendable: its fields are constants; the memory they point to is written only by the
/// one tensor that holds the buffer uniquely (copy-on-write) or by one kernel whose chunks
/// write disjoint ranges.
public final class KernelBuffer: @unchecked Sendable {
    /// Size of the buffer in bytes.
    public let byteCount: Int
    /// Start of the buffer; valid for the buffer's lifetime.
    public let base: UnsafeMutableRawPointer

    /// Allocates an uninitialized, 64-byte aligned buffer of `byteCount` bytes (at least one
    /// byte, so that an empty tensor still has a distinct, valid address). Large buffers
    /// are recycled through ``BufferPool``.
    public init(byteCount: Int) {
        precondition(byteCount >= 0, "KernelBuffer: negative byte count \(byteCount)")
        self.byteCount = byteCount
        self.base = BufferPool.shared.allocate(byteCount: byteCount)
    }

    deinit { BufferPool.shared.release(base, byteCount: byteCount) }

    /// Allocates a buffer holding `count` elements of `type`, uninitialized.
    public convenience init<T>(capacity count: Int, of type: T.Type) {
        self.init(byteCount: count * MemoryLayout<T>.stride)
    }

    /// The buffer viewed as `count` elements of `type`.
    @inline(__always)
    public func pointer<T>(as type: T.Type) -> UnsafeMutablePointer<T> {
        base.assumingMemoryBound(to: type)
    }

    /// A new buffer with the same bytes.
    public func copy() -> KernelBuffer {
        let other = KernelBuffer(byteCount: byteCount)
        other.base.copyMemory(from: base, byteCount: byteCount)
        return other
    }
}
