import CNMTKernels
/// Reductions along one axis of a tensor viewed as [outer, n, inner].
enum ReductionKernels {
    enum Operation { case sum, max }

    /// out[o, i] = reduce over r of x[o, r, i].
    static func reduce(
        _ operation: Operation, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        outer: Int, n: Int, inner: Int
    ) {
        if inner == 1 {
            // Contiguous rows: reduce each row with 8 partial accumulators (vectorizes).
            Parallel.forChunks(outer, costPerItem: n) { range in
                for o in range { out[o] = reduceRow(operation, x + o * n, count: n) }
            }
            return
        }
        // Strided: accumulate whole rows of `inner` elements, which vectorizes along inner.
        Parallel.forChunks(outer, costPerItem: n * inner) { range in
            for o in range {
                let dst = out + o * inner
                let src = x + o * n * inner
                if n == 0 {
                    dst.initialize(repeating: operation == .sum ? 0 : -.infinity, count: inner)
                    continue
                }
                dst.update(from: src, count: inner)
                for r in 1..<n {
                    let row = src + r * inner
                    switch operation {
                    case .sum: for i in 0..<inner { dst[i] += row[i] }
                    case .max: for i in 0..<inner { dst[i] = row[i] > dst[i] ? row[i] : dst[i] }
                    }
                }
            }
        }
    }

    /// Sum or maximum of `count` contiguous elements.
    @inline(__always)
    static func reduceRow(_ operation: Operation, _ x: UnsafePointer<Float>, count n: Int) -> Float {
        switch operation {
        case .sum:
            var acc = SIMD8<Float>(repeating: 0)
            var i = 0
            let raw = UnsafeRawPointer(x)
            while i + 8 <= n {
                acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                i += 8
            }
            var total = acc.sum()
            while i < n {
                total += x[i]
                i += 1
            }
            return total
        case .max:
            // The largest non-NaN value, or -inf: the same at every vector width.
            return nmt_row_max(x, n)
        }
    }
}
