import Foundation

/// Fills buffers from Philox streams. Element `offset + i` of a stream always gets the
/// same number, however the work is split.
enum RandomKernels {
    /// A float uniform in [0, 1) from the top 24 bits of a word (exactly representable).
    @inline(__always)
    static func unitFloat(_ word: UInt32) -> Float { Float(word >> 8) * 0x1p-24 }

    /// Uniform [0, 1) numbers for elements `offset..<offset+count`.
    static func uniform(_ key: RandomKey, offset: Int, count: Int, _ out: UnsafeMutablePointer<Float>) {
        let keyWords = key.keyWords
        Parallel.forChunks(count, costPerItem: 8) { range in
            for i in range {
                let element = UInt64(offset + i)
                let words = Philox.block(counter: key.counter(block: element / 4), key: keyWords)
                out[i] = unitFloat(words[Int(element % 4)])
            }
        }
    }

    /// Standard normal number number `element` of the stream (Box-Muller on a word pair).
    @inline(__always)
    static func normal(_ key: RandomKey, element: UInt64) -> Float {
        let words = Philox.block(counter: key.counter(block: element / 4), key: key.keyWords)
        let pair = Int(element % 4) / 2
        // u1 in (0, 1] so that log(u1) is finite.
        let u1 = (Double(words[pair * 2] >> 8) + 1) * 0x1p-24
        let u2 = Double(words[pair * 2 + 1] >> 8) * 0x1p-24
        let radius = (-2 * Foundation.log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        return Float(element % 2 == 0 ? radius * Foundation.cos(angle) : radius * Foundation.sin(angle))
    }

    /// Standard normal numbers; when `truncated`, values beyond two standard deviations
    /// are redrawn (from elements `i + count`, `i + 2 count`, ...) as TensorFlow's
    /// `truncated_normal` does.
    static func normal(_ key: RandomKey, count: Int, truncated: Bool, _ out: UnsafeMutablePointer<Float>) {
        Parallel.forChunks(count, costPerItem: 16) { range in
            for i in range {
                var element = UInt64(i)
                var value = normal(key, element: element)
                while truncated && abs(value) > 2 {
                    element += UInt64(count)
                    value = normal(key, element: element)
                }
                out[i] = value
            }
        }
    }
}
