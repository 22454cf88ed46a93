// Fused softmax cross-entropy with label smoothing.

extension Tensor {
    /// Per-row softmax cross-entropy of logits [N, V] against label-smoothed one-hot
    /// targets: the target of row r is `onValue` at `labels[r]` and `offValue` elsewhere.
    ///
    /// Fused: the forward pass reads the logits once and writes only [N] losses; the
    /// backward pass writes the [N, V] gradient directly. No probabilities or targets are
    /// materialized. Equivalent to TensorFlow's `softmax_cross_entropy_with_logits_v2` on
    /// `one_hot(labels, V, on_value, off_value)`.
    ///
    /// - Parameters:
    ///   - labels: [N] ids in `0..<V`.
    ///   - onValue: the target probability of the label (1 - smoothing).
    ///   - offValue: the target probability of every other id (smoothing / (V - 1)).
    /// - Returns: [N].
    public func softmaxCrossEntropy(labels: IndexTensor, onValue: Float = 1, offValue: Float = 0) -> Tensor {
        precondition(
            rank == 2 && labels.shape == [shape[0]],
            "softmaxCrossEntropy: logits must be [N, V] and labels [N]; got \(shape) and \(labels.shape)")
        let (rows, width) = (shape[0], shape[1])
        let tape = GradientTape.common(self, labels, op: "softmaxCrossEntropy")
        let loss = Tensor(uninitializedShape: [rows], tape: tape)
        KernelDispatch.run(
            KernelLaunch("softmax_cross_entropy", inputs: [buffer, labels.buffer], outputs: [loss.buffer]) { args in
                CrossEntropyKernels.forward(
                    args.input(0), args.indices(1), args.output(0), rows: rows, width: width, on: onValue, off: offValue)
            }, on: tape)
        let logits = self
        return loss.withGradient(of: [self]) { g in
            let d = Tensor(uninitializedShape: logits.shape, tape: g.tape)
            KernelDispatch.run(
                KernelLaunch(
                    "softmax_cross_entropy_grad", inputs: [g.buffer, logits.buffer, labels.buffer], outputs: [d.buffer]
                ) { args in
                    CrossEntropyKernels.backward(
                        args.input(0), args.input(1), args.indices(2), args.output(0), rows: rows, width: width,
                        on: onValue, off: offValue)
                }, on: g.tape)
            return [d]
        }
    }
}
