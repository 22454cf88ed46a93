// Row gather and its scatter-add gradient, one-hot, selection and top-k.

extension Tensor {
    /// Rows of a table picked by ids: `result[i..., :] = self[ids[i...], :]`.
    ///
    /// The gradient scatters (adds) back into the table's rows, in id order, so repeated
    /// ids accumulate deterministically.
    ///
    /// - Parameter ids: any shape [I...]; every id must be in `0..<shape[0]`.
    /// - Returns: [I..., W] for a table [R, W].
    public func gathering(rows ids: IndexTensor) -> Tensor {
        precondition(rank == 2, "gathering(rows:): table must be [rows, width], got \(shape)")
        let (rows, width, count) = (shape[0], shape[1], ids.scalarCount)
        let tape = GradientTape.common(self, ids, op: "gathering(rows:)")
        let out = Tensor(uninitializedShape: ids.shape + [width], tape: tape)
        KernelDispatch.run(
            KernelLaunch("gather_rows", inputs: [buffer, ids.buffer], outputs: [out.buffer]) { args in
                ShapeKernels.gatherRows(args.input(0), rows: rows, width: width, args.indices(1), count: count, args.output(0))
            }, on: tape)
        let tableShape = shape
        return out.withRowGradient(of: self) { g in
            RowGradient(ids: ids, values: g.reshaped(to: [count, width]), tableShape: tableShape, denseKernelName: "scatter_add_rows")
        }
    }

    /// The slices along the first axis picked by `rows` (with repeats, in any order): a
    /// tensor [N, D...] gives [rows.count, D...]. Beam search reorders and tiles its
    /// caches with it; the gradient scatters back as ``gathering(rows:)``'s.
    ///
    /// - Parameter rows: one-dimensional, every index in `0..<shape[0]`.
    public func selectingRows(_ rows: IndexTensor) -> Tensor {
        precondition(rank >= 1 && rows.shape.count == 1, "selectingRows: \(rows.shape) rows of a tensor \(shape)")
        let rest = Array(shape.dropFirst())
        return reshaped(to: [shape[0], rest.reduce(1, *)]).gathering(rows: rows).reshaped(to: [rows.scalarCount] + rest)
    }

    /// `concatenate([selectingRows(rows), appended], alongAxis: 1)` in one copy instead of
    /// two: how a decoder's key/value cache [N, L, W] follows its reordered beams and grows
    /// by the new positions `appended` [rows.count, n, W] in one step. Without `rows`, the
    /// rows stay as they are. With a gradient tape it is the two differentiable operations.
    public func selectingRows(_ rows: IndexTensor?, appending appended: Tensor) -> Tensor {
        let count = rows?.scalarCount ?? shape[0]
        precondition(
            rank == 3 && appended.rank == 3 && appended.shape[0] == count && appended.shape[2] == shape[2],
            "selectingRows(_:appending:): cannot append \(appended.shape) to \(count) rows of \(shape)")
        if tape != nil || appended.tape != nil {
            return Tensor.concatenate([rows.map { selectingRows($0) } ?? self, appended], alongAxis: 1)
        }
        let (kept, added) = (shape[1] * shape[2], appended.shape[1] * shape[2])
        let out = Tensor(uninitializedShape: [count, shape[1] + appended.shape[1], shape[2]], tape: nil)
        var inputs = [buffer, appended.buffer]
        if let rows { inputs.append(rows.buffer) }
        KernelDispatch.run(
            KernelLaunch("select_rows_append", inputs: inputs, outputs: [out.buffer]) { args in
                let old = args.input(0), new = args.input(1), y = args.output(0)
                let picked: UnsafePointer<Int32>? = args.inputs.count == 3 ? args.indices(2) : nil
                Parallel.forChunks(count, costPerItem: kept + added) { range in
                    for r in range {
                        let source = picked.map { Int($0[r]) } ?? r
                        (y + r * (kept + added)).update(from: old + source * kept, count: kept)
                        (y + r * (kept + added) + kept).update(from: new + r * added, count: added)
                    }
                }
            }, on: nil)
        return out
    }

    /// The product `oneHot(ids, depth: V) · table` for a table [V, W]: the accelerator
    /// path's embedding lookup, computed from the one-hot structure instead of a dense
    /// [N, V] matrix.
    ///
    /// A dense product spends V multiply-adds per output element of which V - 1 are by
    /// zero, and materializes an [N, V] matrix (276 MB for 2048 tokens of a 33,708-id
    /// vocabulary). Row `i` of the product is exactly row `ids[i]` of the table (adding
    /// zeros is exact), so the forward pass copies rows and gives the dense product's
    /// floats bit for bit. The gradient `oneHotᵀ · g` sums the rows of `g` that share an
    /// id, in row order; a dense BLAS product sums the same terms, possibly in another
    /// order. Ids outside `0..<V` select a zero row, as their one-hot row is zero.
    ///
    /// - Returns: [I..., W] for ids [I...].
    public static func oneHotMatmul(_ ids: IndexTensor, _ table: Tensor) -> Tensor {
        precondition(table.rank == 2, "oneHotMatmul: table must be [rows, width], got \(table.shape)")
        let (rows, width, count) = (table.shape[0], table.shape[1], ids.scalarCount)
        let tape = GradientTape.common(table, ids, op: "oneHotMatmul")
        let out = Tensor(uninitializedShape: ids.shape + [width], tape: tape)
        KernelDispatch.run(
            KernelLaunch("one_hot_matmul", inputs: [table.buffer, ids.buffer], outputs: [out.buffer]) { args in
                let source = args.input(0), idp = args.indices(1), y = args.output(0)
                Parallel.forChunks(count, costPerItem: width) { range in
                    for i in range {
                        let id = Int(idp[i])
                        if id >= 0 && id < rows {
                            (y + i * width).update(from: source + id * width, count: width)
                        } else {
                            (y + i * width).update(repeating: 0, count: width)
                        }
                    }
                }
            }, on: tape)
        return out.withRowGradient(of: table) { g in
            RowGradient(
                ids: ids, values: g.reshaped(to: [count, width]), tableShape: [rows, width],
                denseKernelName: "one_hot_matmul_transposed")
        }
    }

    /// One-hot rows: `result[i..., j] = (ids[i...] == j) ? 1 : 0` (no gradient).
    ///
    /// - Returns: [I..., depth] for ids [I...]. Ids outside `0..<depth` give a zero row.
    public static func oneHot(_ ids: IndexTensor, depth: Int) -> Tensor {
        precondition(depth >= 0, "oneHot: negative depth \(depth)")
        let count = ids.scalarCount
        let out = Tensor(uninitializedShape: ids.shape + [depth], tape: ids.tape)
        KernelDispatch.run(
            KernelLaunch("one_hot", inputs: [ids.buffer], outputs: [out.buffer]) { args in
                let y = args.output(0), idp = args.indices(0)
                y.initialize(repeating: 0, count: count * depth)
                for i in 0..<count {
                    let id = Int(idp[i])
                    if id >= 0 && id < depth { y[i * depth + id] = 1 }
                }
            }, on: ids.tape)
        return out
    }

    /// Element-wise choice: `condition != 0 ? a : b`.
    ///
    /// `a` and `b` must have the same shape; `condition` broadcasts to it. Gradients go to
    /// `a` where the condition holds and to `b` elsewhere.
    public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "select: branches have different shapes \(a.shape) and \(b.shape)")
        let mask = condition.broadcasted(to: a.shape).detached
        let tape = GradientTape.common([a, b], op: "select")
        let out = Tensor(uninitializedShape: a.shape, tape: tape)
        let count = a.scalarCount
        KernelDispatch.run(
            KernelLaunch("select", inputs: [mask.buffer, a.buffer, b.buffer], outputs: [out.buffer]) { args in
                let m = args.input(0), x = args.input(1), y = args.input(2), o = args.output(0)
                Parallel.forChunks(count) { range in
                    for i in range { o[i] = m[i] != 0 ? x[i] : y[i] }
                }
            }, on: tape)
        return out.withGradient(of: [a, b]) { g in
            let zeros = Tensor.filled(0, like: g)
            return [select(mask, g, zeros), select(mask, zeros, g)]
        }
    }

    /// The tensor with `value` wherever `mask` (broadcast to this shape) is non-zero.
    public func maskedFill(where mask: Tensor, with value: Float) -> Tensor {
        var fill = Tensor(repeating: value, shape: shape)
        fill.tape = tape
        return Tensor.select(mask, fill, self)
    }

    /// The `k` largest elements of each row (last axis), in descending order, with their
    /// positions. Equal values keep their original order (lower index first), as
    /// TensorFlow's `top_k`. Not differentiable (used by beam search).
    ///
    /// - Returns: values [..., k] and indices [..., k].
    public func topK(_ k: Int) -> (values: Tensor, indices: IndexTensor) {
        let (rows, width) = rowsAndWidth
        precondition(k >= 0 && k <= width, "topK: k = \(k) out of range for last axis of shape \(shape)")
        let outShape = Array(shape.dropLast()) + [k]
        let values = Tensor(uninitializedShape: outShape, tape: nil)
        let indices = KernelBuffer(capacity: rows * k, of: Int32.self)
        KernelDispatch.run(
            KernelLaunch("top_k", inputs: [buffer], outputs: [values.buffer, indices]) { args in
                let x = args.input(0), v = args.output(0), ix = args.outputIndices(1)
                Parallel.forChunks(rows, costPerItem: width) { range in
                    // Insertion into a sorted k-list: O(width * k), fine for beam sizes.
                    var best = [(value: Float, index: Int32)]()
                    best.reserveCapacity(k + 1)
                    for r in range {
                        best.removeAll(keepingCapacity: true)
                        let row = x + r * width
                        for i in 0..<width {
                            let value = row[i]
                            if best.count == k, let last = best.last, !(value > last.value) { continue }
                            var position = best.count
                            while position > 0 && value > best[position - 1].value { position -= 1 }
                            best.insert((value, Int32(i)), at: position)
                            if best.count > k { best.removeLast() }
                        }
                        for j in 0..<k {
                            v[r * k + j] = best[j].value
                            ix[r * k + j] = best[j].index
                        }
                    }
                }
            }, on: nil)
        return (values, IndexTensor(shape: outShape, buffer: indices))
    }
}

extension Tensor {
    /// Rows placed into zeros: `result[ids[i], :] = self[i, :]` for a result of
    /// `rowCount` rows, the inverse of ``gathering(rows:)`` for distinct ids (used to put
    /// the non-padding rows of a padding-removed computation back in place).
    ///
    /// - Parameters:
    ///   - ids: [I] distinct row numbers in `0..<rowCount`.
    ///   - rowCount: rows of the result.
    /// - Returns: [rowCount, W] for `self` [I, W].
    public func scatteringRows(to ids: IndexTensor, rowCount: Int) -> Tensor {
        precondition(
            rank == 2 && ids.shape == [shape[0]],
            "scatteringRows: values \(shape) need ids of shape [\(rank == 2 ? shape[0] : -1)], got \(ids.shape)")
        let (count, width) = (shape[0], shape[1])
        let tape = GradientTape.common(self, ids, op: "scatteringRows")
        let out = Tensor(uninitializedShape: [rowCount, width], tape: tape)
        KernelDispatch.run(
            KernelLaunch("scatter_rows", inputs: [buffer, ids.buffer], outputs: [out.buffer]) { args in
                let idp = args.indices(1)
                for i in 0..<count {
                    precondition(idp[i] >= 0 && Int(idp[i]) < rowCount, "scatteringRows: id \(idp[i]) out of range 0..<\(rowCount)")
                }
                args.output(0).initialize(repeating: 0, count: rowCount * width)
                ShapeKernels.scatterAddRows(args.input(0), idp, count: count, width: width, rows: rowCount, into: args.output(0))
            }, on: tape)
        return out.withGradient(of: [self]) { g in [g.gathering(rows: ids)] }
    }
}
