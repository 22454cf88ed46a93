import CNMTKernels
import Foundation

/// Softmax cross-entropy against label-smoothed one-hot targets, fused so that the
/// [N, V] logits are read without writing any [N, V] intermediate in the forward pass;
/// the arithmetic is CNMTKernels' at every vector width (the widths agree to rounding).
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
            nmt_cross_entropy_forward(logits + first * width, labels + first, loss + first, range.count, width, on, off)
        }
    }

    /// dlogits[r, j] = g[r] · (softmax(x_r)_j · Σt - t_j).
    static func backward(
        _ g: UnsafePointer<Float>, _ logits: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>,
        _ dlogits: UnsafeMutablePointer<Float>, rows: Int, width: Int, on: Float, off: Float
    ) {
        Parallel.forChunks(rows, costPerItem: width * 4) { range in
            let first = range.lowerBound
            nmt_cross_entropy_backward(
                g + first, logits + first * width, labels + first, dlogits + first * width, range.count, width, on, off)
        }
    }
}
