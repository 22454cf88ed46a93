// The gradient of a row gather, added into the table's gradient where it is nonzero only.

/// The gradient of a row gather with respect to its table [rows, width]: `values[i]` at
/// table row `ids[i]`, zero elsewhere.
///
/// An embedding table shared with the output layer receives three gradients in a
/// Transformer step: the output layer's dense one and the two lookups' (source and
/// target). Written densely, each lookup's costs a zeroed [V, H] table and a dense [V, H]
/// add, though it touches at most one row per token. The tape therefore adds a
/// `RowGradient` into a dense gradient the table already has, in place and at its rows
/// only (``accumulate(into:on:)``); with no dense gradient yet it becomes one
/// (``dense(on:)``), as before.
///
/// The floats are those of the dense route: a table row's contribution is its rows of
/// `values` summed from +0 in row order, as the dense scatter sums them, and then added to
/// the existing gradient once. The only difference is at rows no id touches, where the
/// dense route adds +0 and so would turn a -0 into +0.
struct RowGradient {
    /// The gathered rows, in gather order; ids outside `0..<tableShape[0]` add nothing.
    let ids: IndexTensor
    /// The gradient of each gathered row: [ids.scalarCount, width].
    let values: Tensor
    /// The table's shape, [rows, width].
    let tableShape: [Int]
    /// The name of the dense scatter's kernel launch (what profiles have always shown).
    let denseKernelName: StaticString

    /// The gradient as a dense [rows, width] tensor: zeros with `values` added at `ids`,
    /// in id order.
    func dense(on tape: GradientTape?) -> Tensor {
        let (rows, width, count) = (tableShape[0], tableShape[1], ids.scalarCount)
        let table = Tensor(uninitializedShape: tableShape, tape: tape)
        KernelDispatch.run(
            KernelLaunch(denseKernelName, inputs: [values.buffer, ids.buffer], outputs: [table.buffer]) { args in
                args.output(0).initialize(repeating: 0, count: rows * width)
                ShapeKernels.scatterAddRows(args.input(0), args.indices(1), count: count, width: width, rows: rows, into: args.output(0))
            }, on: tape)
        return table
    }

    /// Adds the gradient into `existing` ([rows, width]): in place at the touched rows,
    /// after copying `existing`'s storage if another tensor shares it. A tape whose
    /// recorder does not run kernels (a traced step) gets the dense route instead, as its
    /// recording assumes that no kernel writes a buffer another one wrote.
    func accumulate(into existing: inout Tensor, on tape: GradientTape?) {
        precondition(existing.shape == tableShape, "RowGradient: a gradient of shape \(existing.shape) for a table \(tableShape)")
        guard tape?.recorder?.executesLaunches ?? true else {
            existing = existing + dense(on: tape)
            return
        }
        if !isKnownUniquelyReferenced(&existing.buffer) { existing.buffer = existing.buffer.copy() }
        let (rows, width, count) = (tableShape[0], tableShape[1], ids.scalarCount)
        KernelDispatch.run(
            KernelLaunch("add_scattered_rows", inputs: [values.buffer, ids.buffer], outputs: [existing.buffer]) { args in
                ShapeKernels.addScatteredRows(args.input(0), args.indices(1), count: count, width: width, rows: rows, into: args.output(0))
            }, on: tape)
    }
}

extension ShapeKernels {
    /// `table[id] += Σ values[i]` over the rows i with `ids[i] == id`, each id's sum taken
    /// from +0 in row order first: the floats of adding ``scatterAddRows(_:_:count:width:rows:into:)``'s
    /// zero-based table to `table`, touching only the rows ids name. Ids outside
    /// `0..<rows` add nothing.
    static func addScatteredRows(
        _ values: UnsafePointer<Float>, _ ids: UnsafePointer<Int32>, count: Int, width: Int, rows: Int,
        into table: UnsafeMutablePointer<Float>
    ) {
        // The rows grouped by id, each group in row order.
        let order = (0..<count).filter { ids[$0] >= 0 && Int(ids[$0]) < rows }.sorted { (ids[$0], $0) < (ids[$1], $1) }
        let sum = UnsafeMutablePointer<Float>.allocate(capacity: width)
        defer { sum.deallocate() }
        var start = 0
        while start < order.count {
            let id = ids[order[start]]
            sum.initialize(repeating: 0, count: width)
            var end = start
            while end < order.count, ids[order[end]] == id {
                let source = values + order[end] * width
                for j in 0..<width { sum[j] += source[j] }
                end += 1
            }
            let destination = table + Int(id) * width
            for j in 0..<width { destination[j] += sum[j] }
            start = end
        }
    }
}

extension Tensor {
    /// Connects a row gather's output to the gradient graph: its gradient with respect to
    /// `table` is `pullback`'s ``RowGradient``, which the tape adds into the table's
    /// gradient at the gathered rows only.
    func withRowGradient(of table: Tensor, _ pullback: @escaping (Tensor) -> RowGradient) -> Tensor {
        guard let tape, tape.isRecordingGradients, table.node >= 0 else { return self }
        var result = self
        result.node = tape.nodes.count
        tape.nodes.append(GradientTape.Node(inputs: [table.node], pullback: nil, rowPullback: pullback))
        return result
    }
}
