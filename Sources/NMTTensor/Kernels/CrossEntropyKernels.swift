import CNMTKernels
import Foundation

/// Softmax cross-entropy against label-smoothed one-hot targets, fused so that the
/// [N, V] logits are read without writing any [N, V] intermediate in the forward pass.
///
/// The soft target of a row with label y is `on` at y and `off` elsewhere.
enum CrossEntropyKernels {
    /// loss[r] = Σ_j t_j · (lse_r - (x_rj - max_r)), with lse the log-sum-exp of the
    /// shifted row, as TensorFlow's `softmax_cross_entropy_with_logits` computes it:
    /// Σ_j t_j (lse - s_j) = (on + (V-1)·off)·lse - off·Σ_j s_j - (on - off)·s_y.
    static func forward(
        _ logits: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>, _ loss: UnsafeMutablePointer<Float>,
        rows: Int, width: Int, on: Float, off: Float
    ) {
        for r in 0..<rows {
            precondition(labels[r] >= 0 && Int(labels[r]) < width, "cross entropy: label \(labels[r]) out of range 0..<\(width)")
        }
        Parallel.forChunks(rows, costPerItem: width * 3) { range in
            let first = range.lowerBound
            // The vector kernel when this CPU has one; this loop is the portable path and the reference.
            if nmt_cross_entropy_forward(logits + first * width, labels + first, loss + first, range.count, width, on, off) != 0 {
                return
            }
            for r in range {
                let x = logits + r * width
                let label = Int(labels[r])
                let maximum = ReductionKernels.reduceRow(.max, x, count: width)
                // Σ exp(x - max) and Σ (x - max), 8 lanes at a time, without writing anything.
                var expSum = SIMD8<Float>(repeating: 0), shiftedSum = SIMD8<Float>(repeating: 0)
                let raw = UnsafeRawPointer(x)
                var i = 0
                while i + 8 <= width {
                    let s = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - maximum
                    expSum += VectorMath.exp(s)
                    shiftedSum += s
                    i += 8
                }
                var tailExp: Float = 0, tailShifted: Float = 0
                while i < width {
                    let s = x[i] - maximum
                    tailExp += Foundation.exp(s)
                    tailShifted += s
                    i += 1
                }
                let lse = Foundation.log(expSum.sum() + tailExp)
                let total = on + Float(width - 1) * off
                loss[r] = total * lse - off * (shiftedSum.sum() + tailShifted) - (on - off) * (x[label] - maximum)
            }
        }
    }

    /// dlogits[r, j] = g[r] · (softmax(x_r)_j · Σt - t_j).
    static func backward(
        _ g: UnsafePointer<Float>, _ logits: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>,
        _ dlogits: UnsafeMutablePointer<Float>, rows: Int, width: Int, on: Float, off: Float
    ) {
        let total = on + Float(width - 1) * off
        Parallel.forChunks(rows, costPerItem: width * 4) { range in
            let first = range.lowerBound
            if nmt_cross_entropy_backward(
                g + first, logits + first * width, labels + first, dlogits + first * width, range.count, width, on, off) != 0
            {
                return
            }
            for r in range {
                let d = dlogits + r * width
                let sum = NormalizationKernels.shiftedExp(logits + r * width, d, width: width).sum
                let scale = g[r] * total / sum, offset = g[r] * off
                for j in 0..<width { d[j] = d[j] * scale - offset }
                d[Int(labels[r])] -= g[r] * (on - off)
            }
        }
    }
}
