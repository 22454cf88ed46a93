/// The Philox4x32-10 counter-based generator (Salmon et al., SC'11), as used by
/// TensorFlow and JAX.
///
/// Output is a pure function of a 64-bit key and a 128-bit counter, so any element of a
/// random stream can be computed independently: random tensors are filled in parallel,
/// replicas get disjoint streams, and a run restarts at exactly the same numbers.
public enum Philox {
    /// Four 32-bit random words for `counter` under `key`.
    @inline(__always)
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        // Scalars rather than SIMD lanes: lane extraction and insertion cost more than the
        // arithmetic here.
        var (c0, c1, c2, c3) = (counter[0], counter[1], counter[2], counter[3])
        var (k0, k1) = (key[0], key[1])
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            (c0, c1, c2, c3) = (
                UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0, UInt32(truncatingIfNeeded: p1),
                UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1, UInt32(truncatingIfNeeded: p0)
            )
            // The key bump after the last round is never used.
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        return SIMD4(c0, c1, c2, c3)
    }
}

/// A position in the space of random streams: a seed (the Philox key) and a stream
/// number (the high half of the Philox counter).
///
/// Element `i` of a random tensor drawn with a key depends only on the key and `i`.
/// ``split(_:)`` derives independent keys, for example one per replica or per step.
public struct RandomKey: Hashable, Codable, Sendable {
    /// The Philox key.
    public var seed: UInt64
    /// The stream within the seed.
    public var stream: UInt64

    /// Creates a key.
    public init(seed: UInt64, stream: UInt64 = 0) {
        self.seed = seed
        self.stream = stream
    }

    var keyWords: SIMD2<UInt32> {
        SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    /// The counter of block `index` of this key's stream.
    @inline(__always)
    func counter(block index: UInt64) -> SIMD4<UInt32> {
        SIMD4(
            UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32),
            UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32))
    }

    /// An independent key for sub-stream `index`: same seed, a stream number hashed from
    /// this stream and `index` by Philox itself.
    public func split(_ index: UInt64) -> RandomKey {
        // Counter words 0-1 carry the index, 2-3 this stream; the key is perturbed so that
        // these blocks never coincide with data blocks of the same key.
        let words = Philox.block(
            counter: SIMD4(
                UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32),
                UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)),
            key: keyWords ^ SIMD2(0x5851_F42D, 0x4C95_7F2D))
        return RandomKey(seed: seed, stream: UInt64(words[0]) | UInt64(words[1]) << 32)
    }

    /// The key as four words (key low, key high, stream low, stream high), the layout
    /// random kernels read from a buffer.
    var words: [UInt32] {
        [UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32),
         UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)]
    }

    /// The inverse of ``words``.
    init(words: UnsafePointer<UInt32>) {
        seed = UInt64(words[0]) | UInt64(words[1]) << 32
        stream = UInt64(words[2]) | UInt64(words[3]) << 32
    }
}

/// A ``RandomKey`` held in a kernel buffer, so that kernels read it at run time: a
/// recorded program replays with a new key written here (one per training step) instead
/// of the key it was traced with.
///
/// Sendable: its one field is a constant; the key in it is written between steps by the
/// device that owns the traced program, never while a replica reads it.
public final class RandomKeyBuffer: @unchecked Sendable {
    /// Four words: key low, key high, stream low, stream high.
    package let buffer: KernelBuffer

    /// A buffer holding `key`.
    public init(_ key: RandomKey) {
        buffer = KernelBuffer(capacity: 4, of: UInt32.self)
        set(key)
    }

    /// Replaces the key (between kernel launches only).
    public func set(_ key: RandomKey) {
        key.words.withUnsafeBufferPointer { buffer.pointer(as: UInt32.self).update(from: $0.baseAddress!, count: 4) }
    }

    /// The key held now.
    public var key: RandomKey { RandomKey(words: buffer.pointer(as: UInt32.self)) }
}
