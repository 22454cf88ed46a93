import CNMTKernels
import Foundation

/// Fills buffers from Philox streams. Element `offset + i` of a stream always gets the
/// same number, however the work is split.
enum RandomKernels {
    /// A float uniform in [0, 1) from the top 24 bits of a word (exactly representable).
    @inline(__always)
    static func unitFloat(_ word: UInt32) -> Float { Float(word >> 8) * 0x1p-24 }

    /// Uniform [0, 1) numbers for elements `offset..<offset+count`.
    ///
    /// One Philox block gives the numbers of 4 consecutive elements; blocks are split
    /// across cores.
    static func uniform(_ key: RandomKey, offset: Int, count: Int, _ out: UnsafeMutablePointer<Float>) {
        guard count > 0 else { return }
        let keyWords = key.keyWords
        let firstBlock = offset / 4, lastBlock = (offset + count - 1) / 4
        Parallel.forChunks(lastBlock - firstBlock + 1, costPerItem: 32) { range in
            for block in range {
                let b = firstBlock + block
                let words = Philox.block(counter: key.counter(block: UInt64(b)), key: keyWords)
                for lane in 0..<4 {
                    let i = b * 4 + lane - offset
                    if i >= 0 && i < count { out[i] = unitFloat(words[lane]) }
                }
            }
        }
    }

    /// Inverted dropout of `count` elements, elements `offset...` of the stream: where the
    /// stream's uniform is at least `rate`, `mask` = 1 and `y` = x / keep, else both 0.
    /// Runs the C kernel (CNMTKernels), which draws the same uniforms as ``uniform(_:offset:count:_:)``.
    static func dropout(
        _ key: RandomKey, offset: Int, count: Int, rate: Float, keep: Float,
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>
    ) {
        Parallel.forChunks(count, costPerItem: 8) { range in
            let start = range.lowerBound
            nmt_dropout(key.seed, key.stream, UInt64(offset + start), range.count, rate, keep, x + start, y + start, mask + start)
        }
    }

    /// Dropout of the rows `rows` of a larger [*, width] tensor starting at stream element
    /// `offset`: row r of `x` gets the mask that row `rows[r]` of the larger tensor would
    /// get (for padding-removed computations).
    static func dropout(
        _ key: RandomKey, offset: Int, rows: UnsafePointer<Int32>, rowCount: Int, width: Int, rate: Float, keep: Float,
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>
    ) {
        Parallel.forChunks(rowCount, costPerItem: width * 8) { range in
            for r in range {
                let first = UInt64(offset + Int(rows[r]) * width), at = r * width
                nmt_dropout(key.seed, key.stream, first, width, rate, keep, x + at, y + at, mask + at)
            }
        }
    }

    /// Standard normal number `element` of the stream (Box-Muller on a word pair).
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
