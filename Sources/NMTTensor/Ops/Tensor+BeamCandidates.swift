// The candidates of one beam-search step, without materializing the log probabilities.
import Foundation

extension Tensor {
    /// The best `count` continuations of each group of `groupSize` consecutive rows of
    /// logits [rows, V] (the beams of one sentence): exactly
    /// `(logSoftmax() + base[row]).reshaped(to: [groups, groupSize · V]).topK(count)`, in one
    /// pass per row after the softmax's normalizer, with no [rows, V] intermediate.
    ///
    /// Values are `(x - shift) + base[row]` with the log-softmax's own shift (row maximum
    /// plus the log of the shifted exponentials' sum), so they equal the unfused floats bit
    /// for bit; ties keep the lower flat index first, as ``topK(_:)``.
    ///
    /// - Parameters:
    ///   - groupSize: rows per group; must divide the row count.
    ///   - base: one value added per row (a beam's log probability so far).
    ///   - count: candidates per group, at most `groupSize · V`.
    /// - Returns: per group, `count` values best first and their indices `row-in-group · V + id`.
    public func beamCandidates(groupSize: Int, base: [Float], count: Int) -> (values: [Float], indices: [Int32]) {
        let (rows, width) = rowsAndWidth
        precondition(
            rank == 2 && groupSize > 0 && rows % groupSize == 0 && base.count == rows && count >= 0
                && count <= groupSize * width,
            "beamCandidates: \(count) of groups of \(groupSize) rows of \(shape) with \(base.count) base values")
        let groups = rows / groupSize
        var values = [Float](repeating: 0, count: groups * count)
        var indices = [Int32](repeating: 0, count: groups * count)
        withUnsafeBufferPointer { logits in
        let x = logits.baseAddress!
        values.withUnsafeMutableBufferPointer { v in
            indices.withUnsafeMutableBufferPointer { ix in
                base.withUnsafeBufferPointer { base in
                    let shared = UnsafeSendable((v.baseAddress!, ix.baseAddress!, base.baseAddress!))
                    Parallel.forChunks(groups, costPerItem: groupSize * width * 4) { range in
                        let (v, ix, base) = shared.value
                        let exponentials = UnsafeMutablePointer<Float>.allocate(capacity: width)
                        defer { exponentials.deallocate() }
                        var best = [(value: Float, index: Int32)]()
                        best.reserveCapacity(count + 1)
                        for group in range {
                            best.removeAll(keepingCapacity: true)
                            for member in 0..<groupSize {
                                let r = group * groupSize + member
                                let row = x + r * width
                                let (maximum, sum) = NormalizationKernels.shiftedExp(row, exponentials, width: width)
                                let shift = maximum + Foundation.log(sum)
                                let offset = base[r]
                                for j in 0..<width {
                                    let value = (row[j] - shift) + offset
                                    // The insertion of topK: skip unless better than the last kept.
                                    if best.count == count, let last = best.last, !(value > last.value) { continue }
                                    var position = best.count
                                    while position > 0 && value > best[position - 1].value { position -= 1 }
                                    best.insert((value, Int32(member * width + j)), at: position)
                                    if best.count > count { best.removeLast() }
                                }
                            }
                            for c in 0..<count {
                                v[group * count + c] = best[c].value
                                ix[group * count + c] = best[c].index
                            }
                        }
                    }
                }
            }
        }
        }
        return (values, indices)
    }
}
