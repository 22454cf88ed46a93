// The output layer and the training loss as one op: no logits gradient in memory.
import CNMTKernels

extension Tensor {
    /// Per-row label-smoothed softmax cross-entropy of the logits `self · weightsᵀ`: the
    /// same loss as `Tensor.matmul(self, weights, transposeB: true).softmaxCrossEntropy(…)`,
    /// computed in tiles that stay in cache (`ProjectedCrossEntropyKernels`). The
    /// [N, V] logits gradient never exists, and the logits themselves are kept only up to
    /// 1 GiB (above that the backward pass computes them again, to the same floats). The
    /// training loss of a model whose output layer has no bias.
    ///
    /// The floats are not those of the unfused ops: the products are chains of fused
    /// multiply-adds in a fixed order (the same at every vector width), where BLAS's order
    /// depends on the CPU; the losses agree with the unfused ones to rounding.
    ///
    /// Rows labelled `ignoredLabel` (padding) are not computed: their loss is 0 and their
    /// gradient zero. Rows whose loss gradient is 0 are skipped in the backward pass, which
    /// gives the same floats as computing them, as long as their logits are finite.
    ///
    /// - Parameters:
    ///   - weights: [V, H], one row per output id (an embedding table shared with the
    ///     output projection).
    ///   - labels: [N] ids in `0..<V`.
    ///   - onValue: the target probability of the label (1 - smoothing).
    ///   - offValue: the target probability of every other id (smoothing / (V - 1)).
    ///   - ignoredLabel: the label whose rows are skipped, or nil for none.
    /// - Returns: [N], for `self` [N, H].
    public func projectedSoftmaxCrossEntropy(
        weights: Tensor, labels: IndexTensor, onValue: Float = 1, offValue: Float = 0, ignoredLabel: Int32? = nil
    ) -> Tensor {
        precondition(
            rank == 2 && weights.rank == 2 && weights.shape[1] == shape[1] && labels.shape == [shape[0]],
            "projectedSoftmaxCrossEntropy: needs hidden [N, H], weights [V, H] and labels [N]; got \(shape), \(weights.shape) and \(labels.shape)")
        let (rows, depth, width) = (shape[0], shape[1], weights.shape[0])
        let tape = GradientTape.common([self, weights], labels, op: "projected_cross_entropy")
        let loss = Tensor(uninitializedShape: [rows], tape: tape)
        // Per row: its maximum logit and Σ e^(x - max), which the backward pass reuses.
        let stats = Tensor(uninitializedShape: [rows, 2], tape: tape)
        // The weights in panels, packed once for both passes, and the logits when small enough.
        let packed = Tensor(uninitializedShape: [nmt_panel_count(width) * 16 * depth], tape: tape)
        let storesLogits = rows * width <= ProjectedCrossEntropyKernels.maximumStoredLogits.load(ordering: .relaxed)
        let logits = Tensor(uninitializedShape: [storesLogits ? rows * width : 0], tape: tape)
        KernelDispatch.run(
            KernelLaunch(
                "projected_cross_entropy", inputs: [buffer, weights.buffer, labels.buffer],
                outputs: [loss.buffer, stats.buffer, packed.buffer, logits.buffer]
            ) { args in
                nmt_panel_pack(args.input(1), width, depth, args.output(2))
                ProjectedCrossEntropyKernels.forward(
                    args.input(0), packed: args.output(2), labels: args.indices(2), loss: args.output(0),
                    stats: args.output(1), logitsStore: storesLogits ? args.output(3) : nil, rows: rows, depth: depth,
                    width: width, on: onValue, off: offValue, ignored: ignoredLabel)
            }, on: tape)
        let (hidden, table) = (self, weights)
        return loss.withGradient(of: [self, weights]) { g in
            let dx = Tensor(uninitializedShape: hidden.shape, tape: g.tape)
            let dw = Tensor(uninitializedShape: table.shape, tape: g.tape)
            KernelDispatch.run(
                KernelLaunch(
                    "projected_cross_entropy_grad",
                    inputs: [
                        g.buffer, hidden.buffer, table.buffer, packed.buffer, labels.buffer, stats.buffer, logits.buffer,
                    ],
                    outputs: [dx.buffer, dw.buffer]
                ) { args in
                    ProjectedCrossEntropyKernels.backward(
                        args.input(0), x: args.input(1), w: args.input(2), packed: args.input(3),
                        labels: args.indices(4), stats: args.input(5), storedLogits: storesLogits ? args.input(6) : nil,
                        dx: args.output(0), dw: args.output(1), rows: rows, depth: depth, width: width, on: onValue,
                        off: offValue, ignored: ignoredLabel)
                }, on: g.tape)
            return [dx, dw]
        }
    }
}
