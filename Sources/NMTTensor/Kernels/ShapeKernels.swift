/// Data movement: permutation, block copies for slice and concat, row gather/scatter.
enum ShapeKernels {
    /// out = x with axes permuted: out's axis i is x's axis `permutation[i]`.
    static func permute(
        _ x: UnsafePointer<Float>, shape: [Int], permutation: [Int], _ out: UnsafeMutablePointer<Float>
    ) {
        let rank = shape.count
        var inStrides = [Int](repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) { inStrides[axis] = inStrides[axis + 1] * shape[axis + 1] }
        let outShape = permutation.map { shape[$0] }
        let strides = permutation.map { inStrides[$0] }
        let inner = outShape.last ?? 1
        let innerStride = strides.last ?? 1
        let rows = outShape.dropLast().reduce(1, *)
        Parallel.forChunks(rows, costPerItem: inner) { range in
            for row in range {
                var remainder = row, offset = 0
                for axis in stride(from: rank - 2, through: 0, by: -1) {
                    offset += (remainder % outShape[axis]) * strides[axis]
                    remainder /= outShape[axis]
                }
                let src = x + offset, dst = out + row * inner
                for i in 0..<inner { dst[i] = src[i * innerStride] }
            }
        }
    }

    /// Copies `outer` blocks of `block` elements from a source with row length
    /// `sourceRow` (starting at `sourceOffset`) into a destination with row length
    /// `destinationRow` (starting at `destinationOffset`).
    static func copyBlocks(
        from x: UnsafePointer<Float>, sourceRow: Int, sourceOffset: Int,
        to out: UnsafeMutablePointer<Float>, destinationRow: Int, destinationOffset: Int,
        outer: Int, block: Int
    ) {
        Parallel.forChunks(outer, costPerItem: block) { range in
            for o in range {
                (out + o * destinationRow + destinationOffset).update(from: x + o * sourceRow + sourceOffset, count: block)
            }
        }
    }

    /// out[i, :] = table[ids[i], :] for `count` ids and rows of `width` elements.
    static func gatherRows(
        _ table: UnsafePointer<Float>, rows: Int, width: Int, _ ids: UnsafePointer<Int32>, count: Int,
        _ out: UnsafeMutablePointer<Float>
    ) {
        Parallel.forChunks(count, costPerItem: width) { range in
            for i in range {
                let id = Int(ids[i])
                precondition(id >= 0 && id < rows, "gather: id \(id) out of range for a table of \(rows) rows")
                (out + i * width).update(from: table + id * width, count: width)
            }
        }
    }

    /// table[ids[i], :] += values[i, :] for the ids in `0..<rows` (the others add nothing);
    /// table must hold `rows * width` initialized elements.
    ///
    /// Sequential over ids so that repeated ids add in a fixed order (deterministic).
    static func scatterAddRows(
        _ values: UnsafePointer<Float>, _ ids: UnsafePointer<Int32>, count: Int, width: Int, rows: Int,
        into table: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<count where ids[i] >= 0 && Int(ids[i]) < rows {
            let dst = table + Int(ids[i]) * width, src = values + i * width
            for j in 0..<width { dst[j] += src[j] }
        }
    }
}
