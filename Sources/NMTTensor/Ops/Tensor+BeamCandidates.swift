// The candidates of one beam-search step, without materializing the log probabilities.
import CNMTKernels
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
        // Kernels run eagerly: the logits are in the buffer.
        let logits = UnsafePointer(buffer.pointer(as: Float.self))
        values.withUnsafeMutableBufferPointer { v in
            indices.withUnsafeMutableBufferPointer { ix in
                let outputs = UnsafeSendable((v.baseAddress!, ix.baseAddress!))
                Parallel.forChunks(groups, costPerItem: groupSize * width * 4) { range in
                    var list = CandidateList(capacity: count, width: width)
                    for group in range {
                        list.removeAll()
                        for member in 0..<groupSize {
                            let r = group * groupSize + member
                            list.scan(logits + r * width, base: base[r], firstIndex: Int32(member * width))
                        }
                        for c in 0..<count {
                            outputs.value.0[group * count + c] = list.best[c].value
                            outputs.value.1[group * count + c] = list.best[c].index
                        }
                    }
                }
            }
        }
        return (values, indices)
    }
}

/// The best `capacity` (value, index) pairs offered so far, best first, in ``Tensor/topK(_:)``'s
/// order: a value enters only if it beats the last kept one, after every kept value it
/// does not beat (so ties keep the earlier index first).
private struct CandidateList {
    let capacity: Int
    let width: Int
    var best: [(value: Float, index: Int32)] = []

    init(capacity: Int, width: Int) {
        self.capacity = capacity
        self.width = width
        best.reserveCapacity(capacity + 1)
    }

    mutating func removeAll() { best.removeAll(keepingCapacity: true) }

    /// Offers every `(x[j] - shift) + base` of one row of logits, index `firstIndex + j`.
    mutating func scan(_ x: UnsafePointer<Float>, base: Float, firstIndex: Int32) {
        // The log-softmax's shift, from the same floats as `NormalizationKernels.shiftedExp`
        // without writing the exponentials out.
        let maximum = ReductionKernels.reduceRow(.max, x, count: width)
        let shift = maximum + Foundation.log(nmt_shifted_exp_sum(x, width, maximum))
        var j = 0
        while j < width {
            if best.count == capacity, let last = best.last {
                // Most of a row cannot enter: a vector scan finds the next that does.
                j += nmt_first_above(x + j, width - j, shift, base, last.value)
                if j == width { return }
            }
            offer((x[j] - shift) + base, index: firstIndex + Int32(j))
            j += 1
        }
    }

    private mutating func offer(_ value: Float, index: Int32) {
        if best.count == capacity, let last = best.last, !(value > last.value) { return }
        var position = best.count
        while position > 0 && value > best[position - 1].value { position -= 1 }
        best.insert((value, index), at: position)
        if best.count > capacity { best.removeLast() }
    }
}
