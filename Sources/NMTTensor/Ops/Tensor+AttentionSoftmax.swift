// The attention weights dropout(softmax(logits + bias)) as one row kernel.
import CNMTKernels

extension Tensor {
    /// `dropout(softmax(self + bias))` over the last axis in one pass per row, with the same
    /// floats and gradients as the three operations (`+`, ``softmax()``,
    /// ``dropout(rate:keyBuffer:split:elementOffset:rows:)``): the attention weights.
    ///
    /// Unfused, attention writes four [B, N, Lq, Lk] tensors and reads them back; fused,
    /// the bias add, the softmax and the dropout happen while a row is in cache, and the
    /// backward pass (dropout's and softmax's gradients) is one pass too.
    ///
    /// - Parameters:
    ///   - bias: added before the softmax, broadcast to `self`'s shape; its last axis must
    ///     equal `self`'s (the padding bias [B, 1, 1, Lk] or the causal bias [1, 1, Lq, Lk]).
    ///     It receives a gradient only if it is differentiable.
    ///   - rate: the dropout rate in [0, 1); 0 (inference) gives `softmax(self + bias)`.
    ///   - keyBuffer: the dropout stream's key, as for `dropout` (needed when `rate` > 0).
    ///   - split: the stream's split, as for `dropout`.
    ///   - elementOffset: element i of `self` draws uniform `elementOffset + i`.
    public func softmaxDropout(
        adding bias: Tensor, rate: Float = 0, keyBuffer: RandomKeyBuffer? = nil, split: UInt64? = nil, elementOffset: Int = 0
    ) -> Tensor {
        precondition(rate >= 0 && rate < 1, "softmaxDropout: rate \(rate) must be in [0, 1)")
        precondition(rate == 0 || keyBuffer != nil, "softmaxDropout: a positive rate needs a key")
        let (rows, width) = rowsAndWidth
        let biasRows = BroadcastRows(bias: bias.shape, of: shape)
        let tape = GradientTape.common([self, bias], op: "softmax_dropout")
        let probabilities = Tensor(uninitializedShape: shape, tape: tape)
        let keep = 1 - rate
        guard rate > 0, let keyBuffer else {
            KernelDispatch.run(
                KernelLaunch("bias_softmax", inputs: [buffer, bias.buffer], outputs: [probabilities.buffer]) { args in
                    let x = args.input(0), b = args.input(1), p = args.output(0)
                    Parallel.forChunks(rows, costPerItem: width * 4) { range in
                        for r in range {
                            NormalizationKernels.biasSoftmax(x + r * width, b + biasRows.row(r) * width, p + r * width, width: width)
                        }
                    }
                }, on: tape)
            return probabilities.withSoftmaxGradient(of: self, bias: bias, mask: nil, keep: 1)
        }
        let out = Tensor(uninitializedShape: shape, tape: tape)
        let mask = Tensor(uninitializedShape: shape, tape: tape)
        KernelDispatch.run(
            KernelLaunch(
                "bias_softmax_dropout", inputs: [buffer, bias.buffer, keyBuffer.buffer],
                outputs: [probabilities.buffer, out.buffer, mask.buffer]
            ) { args in
                let x = args.input(0), b = args.input(1), p = args.output(0), y = args.output(1), m = args.output(2)
                let base = RandomKey(words: args.words(2))
                let key = split.map { base.split($0) } ?? base
                Parallel.forChunks(rows, costPerItem: width * 12) { range in
                    for r in range {
                        let at = r * width
                        NormalizationKernels.biasSoftmax(x + at, b + biasRows.row(r) * width, p + at, width: width)
                        nmt_dropout(key.seed, key.stream, UInt64(elementOffset + at), width, rate, keep, p + at, y + at, m + at)
                    }
                }
            }, on: tape)
        return out.withSoftmaxGradient(of: self, bias: bias, probabilities: probabilities, mask: mask, keep: keep)
    }

    /// Connects `self` (the softmax output, or its dropout) to `logits` and `bias`: the
    /// gradient is softmax's, of dropout's gradient when `mask` is given, in one pass.
    private func withSoftmaxGradient(
        of logits: Tensor, bias: Tensor, probabilities: Tensor? = nil, mask: Tensor?, keep: Float
    ) -> Tensor {
        let p = probabilities ?? self
        let (rows, width) = rowsAndWidth
        let biasShape = bias.shape, biasIsDifferentiable = bias.node >= 0
        return withGradient(of: [logits, bias]) { g in
            let dx = Tensor(uninitializedShape: g.shape, tape: g.tape)
            var inputs = [g.buffer, p.buffer]
            if let mask { inputs.append(mask.buffer) }
            KernelDispatch.run(
                KernelLaunch("bias_softmax_grad", inputs: inputs, outputs: [dx.buffer]) { args in
                    let gp = args.input(0), pp = args.input(1), d = args.output(0)
                    let mp: UnsafePointer<Float>? = args.inputs.count == 3 ? args.input(2) : nil
                    Parallel.forChunks(rows, costPerItem: width * 3) { range in
                        for r in range {
                            let at = r * width
                            var upstream = gp + at
                            if let mp {
                                // Dropout's gradient first, into dx's row; softmax's then reads it there.
                                nmt_dropout_backward(width, keep, gp + at, mp + at, d + at)
                                upstream = UnsafePointer(d + at)
                            }
                            NormalizationKernels.softmaxBackwardRow(upstream, pp + at, d + at, width: width)
                        }
                    }
                }, on: g.tape)
            return [dx, biasIsDifferentiable ? dx.unbroadcast(to: biasShape) : nil]
        }
    }
}

/// Maps a row of a [..., W] tensor to the row of a bias broadcast to it (same W): an axis
/// of size 1 in the bias repeats, any other indexes along with the tensor.
struct BroadcastRows: Sendable {
    /// Per leading axis of the tensor, innermost first: its size and the bias's row stride
    /// along it (0 where the bias has size 1).
    private let axes: [(size: Int, biasStride: Int)]

    init(bias: [Int], of shape: [Int]) {
        precondition(
            bias.count <= shape.count && bias.last == shape.last,
            "softmaxDropout: bias \(bias) does not broadcast to \(shape) along the last axis")
        let padded = Array(repeating: 1, count: shape.count - bias.count) + bias
        var axes: [(Int, Int)] = []
        var rowStride = 1
        for axis in stride(from: shape.count - 2, through: 0, by: -1) {
            precondition(
                padded[axis] == 1 || padded[axis] == shape[axis],
                "softmaxDropout: bias \(bias) does not broadcast to \(shape)")
            axes.append((shape[axis], padded[axis] == 1 ? 0 : rowStride))
            rowStride *= padded[axis]
        }
        self.axes = axes
    }

    /// The bias row that row `row` of the tensor adds.
    @inline(__always)
    func row(_ row: Int) -> Int {
        var rest = row, result = 0
        for axis in axes {
            result += (rest % axis.size) * axis.biasStride
            rest /= axis.size
        }
        return result
    }
}
