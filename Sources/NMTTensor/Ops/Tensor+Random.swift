// Seeded random tensors and dropout.
import CNMTKernels

extension Tensor {
    /// Numbers drawn uniformly from [lowerBound, upperBound).
    public static func randomUniform(
        _ shape: [Int], lowerBound: Float = 0, upperBound: Float = 1, key: RandomKey
    ) -> Tensor {
        let out = Tensor(uninitializedShape: shape, tape: nil)
        let count = out.scalarCount
        KernelDispatch.run(
            KernelLaunch("random_uniform", inputs: [], outputs: [out.buffer]) { args in
                let y = args.output(0)
                RandomKernels.uniform(key, offset: 0, count: count, y)
                for i in 0..<count { y[i] = lowerBound + y[i] * (upperBound - lowerBound) }
            }, on: nil)
        return out
    }

    /// Numbers drawn from a normal distribution.
    public static func randomNormal(
        _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, key: RandomKey
    ) -> Tensor {
        normalTensor(shape, mean: mean, standardDeviation: standardDeviation, truncated: false, key: key)
    }

    /// Numbers drawn from a normal distribution with values more than two standard
    /// deviations from the mean redrawn (TensorFlow's `truncated_normal`).
    public static func randomTruncatedNormal(
        _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, key: RandomKey
    ) -> Tensor {
        normalTensor(shape, mean: mean, standardDeviation: standardDeviation, truncated: true, key: key)
    }

    private static func normalTensor(
        _ shape: [Int], mean: Float, standardDeviation: Float, truncated: Bool, key: RandomKey
    ) -> Tensor {
        let out = Tensor(uninitializedShape: shape, tape: nil)
        let count = out.scalarCount
        KernelDispatch.run(
            KernelLaunch("random_normal", inputs: [], outputs: [out.buffer]) { args in
                let y = args.output(0)
                RandomKernels.normal(key, count: count, truncated: truncated, y)
                for i in 0..<count { y[i] = mean + y[i] * standardDeviation }
            }, on: nil)
        return out
    }

    /// Inverted dropout: each element is zeroed with probability `rate` and survivors are
    /// divided by `1 - rate`, so the expectation is unchanged.
    ///
    /// Element `i` is kept when uniform number `elementOffset + i` of `key`'s stream is at
    /// least `rate`. The mask therefore depends only on the key and the element's global
    /// position: a batch split across replicas (each passing its own `elementOffset`)
    /// drops exactly what the whole batch would. The key travels to the kernel in a
    /// buffer, so a replayed program can be fed a new key every step.
    ///
    /// - Parameters:
    ///   - rate: drop probability in [0, 1). A rate of 0 returns `self`.
    ///   - key: the random stream of this dropout site and step.
    ///   - elementOffset: position of element 0 in the stream.
    ///   - rows: when this tensor holds only some rows of a larger [*, W] tensor (its rows
    ///     are rows `rows[r]` of it, as after padding removal), the mask those rows would
    ///     get in the larger tensor; `self` is then [rows.count, W] or [1, rows.count, W].
    public func dropout(rate: Float, key: RandomKey, elementOffset: Int = 0, rows: IndexTensor? = nil) -> Tensor {
        dropout(rate: rate, keyBuffer: RandomKeyBuffer(key), split: nil, elementOffset: elementOffset, rows: rows)
    }

    /// Dropout whose stream is `keyBuffer`'s key, split by `split` when given, read when the
    /// kernel runs: a replayed program draws new masks when a new key is written to the
    /// buffer (see ``dropout(rate:key:elementOffset:rows:)`` for the rest).
    public func dropout(
        rate: Float, keyBuffer: RandomKeyBuffer, split: UInt64?, elementOffset: Int = 0, rows: IndexTensor? = nil
    ) -> Tensor {
        precondition(rate >= 0 && rate < 1, "dropout: rate \(rate) must be in [0, 1)")
        if rate == 0 { return self }
        let keep = 1 - rate
        let count = scalarCount
        let width = shape.last ?? 1
        precondition(
            rows == nil || rows!.scalarCount * width == count,
            "dropout: \(rows?.scalarCount ?? 0) rows of width \(width) do not cover shape \(shape)")
        let out = Tensor(uninitializedShape: shape, tape: tape)
        let mask = Tensor(uninitializedShape: shape, tape: tape)
        var inputs = [buffer, keyBuffer.buffer]
        if let rows { inputs.append(rows.buffer) }
        KernelDispatch.run(
            KernelLaunch("dropout", inputs: inputs, outputs: [out.buffer, mask.buffer]) { args in
                let x = args.input(0), y = args.output(0), m = args.output(1)
                let base = RandomKey(words: args.words(1))
                let streamKey = split.map { base.split($0) } ?? base
                if args.inputs.count == 3 {
                    RandomKernels.dropout(
                        streamKey, offset: elementOffset, rows: args.indices(2), rowCount: count / Swift.max(width, 1), width: width,
                        rate: rate, keep: keep, x, y, mask: m)
                } else {
                    RandomKernels.dropout(streamKey, offset: elementOffset, count: count, rate: rate, keep: keep, x, y, mask: m)
                }
            }, on: tape)
        return out.withGradient(of: [self]) { g in [g.droppedOut(mask: mask, keep: keep)] }
    }

    /// Dropout of whole vectors along the last axis (word dropout on embeddings): vector
    /// `r` of this [..., W] tensor is kept, and divided by `1 - rate`, when uniform number
    /// `vectorOffset + r` of `keyBuffer`'s stream (split by `split` when given) is at least
    /// `rate`, and zeroed otherwise. One number per vector, so the mask depends only on the
    /// key and the vector's global position, as in ``dropout(rate:key:elementOffset:rows:)``.
    /// The gradient is masked and scaled alike.
    ///
    /// - Parameters:
    ///   - rate: drop probability in [0, 1). A rate of 0 returns `self`.
    ///   - keyBuffer: the step's key, read when the kernel runs (a replayed program draws
    ///     new vectors when a new key is written).
    ///   - split: the dropout site's stream within the key, or nil for the key itself.
    ///   - vectorOffset: the stream position of vector 0.
    public func droppingWholeVectors(rate: Float, keyBuffer: RandomKeyBuffer, split: UInt64?, vectorOffset: Int = 0) -> Tensor {
        precondition(rate >= 0 && rate < 1, "droppingWholeVectors: rate \(rate) must be in [0, 1)")
        if rate == 0 { return self }
        let keep = 1 - rate
        let count = scalarCount, width = shape.last ?? 1
        let vectors = width == 0 ? 0 : count / width
        let out = Tensor(uninitializedShape: shape, tape: tape)
        // The per-element mask the dropout gradient kernel reads (1 kept, 0 dropped).
        let mask = Tensor(uninitializedShape: shape, tape: tape)
        KernelDispatch.run(
            KernelLaunch("dropout_vectors", inputs: [buffer, keyBuffer.buffer], outputs: [out.buffer, mask.buffer]) { args in
                guard vectors > 0 else { return }
                let x = args.input(0), y = args.output(0), m = args.output(1)
                let base = RandomKey(words: args.words(1))
                let streamKey = split.map { base.split($0) } ?? base
                var uniforms = [Float](repeating: 0, count: vectors)
                uniforms.withUnsafeMutableBufferPointer {
                    RandomKernels.uniform(streamKey, offset: vectorOffset, count: vectors, $0.baseAddress!)
                }
                for vector in 0..<vectors {
                    let kept = uniforms[vector] >= rate
                    for i in vector * width..<(vector + 1) * width {
                        y[i] = kept ? x[i] / keep : 0
                        m[i] = kept ? 1 : 0
                    }
                }
            }, on: tape)
        return out.withGradient(of: [self]) { g in [g.droppedOut(mask: mask, keep: keep)] }
    }

    /// `dropout(relu(self + bias))` in one pass over memory instead of three, with the same
    /// floats as the three operations and the same gradients: the first layer of the
    /// feed-forward network in training. `bias` has the size of the last axis; `rate` must
    /// be positive; the stream arguments are those of
    /// ``dropout(rate:keyBuffer:split:elementOffset:rows:)``.
    public func addingBiasReLUDropout(
        _ bias: Tensor, rate: Float, keyBuffer: RandomKeyBuffer, split: UInt64?, elementOffset: Int = 0, rows: IndexTensor? = nil
    ) -> Tensor {
        precondition(rate > 0 && rate < 1, "addingBiasReLUDropout: rate \(rate) must be in (0, 1)")
        let width = shape.last ?? 1
        precondition(bias.shape == [width], "addingBiasReLUDropout: bias \(bias.shape) does not match the last axis of \(shape)")
        let keep = 1 - rate
        let rowCount = width == 0 ? 0 : scalarCount / width
        precondition(
            rows == nil || rows!.scalarCount == rowCount,
            "addingBiasReLUDropout: \(rows?.scalarCount ?? 0) rows do not cover shape \(shape)")
        let tape = GradientTape.common([self, bias], op: "bias_relu_dropout")
        let out = Tensor(uninitializedShape: shape, tape: tape)
        // 1 where an element was kept and its input to the ReLU was positive.
        let mask = Tensor(uninitializedShape: shape, tape: tape)
        var inputs = [buffer, bias.buffer, keyBuffer.buffer]
        if let rows { inputs.append(rows.buffer) }
        KernelDispatch.run(
            KernelLaunch("bias_relu_dropout", inputs: inputs, outputs: [out.buffer, mask.buffer]) { args in
                let x = args.input(0), b = args.input(1), y = args.output(0), m = args.output(1)
                let base = RandomKey(words: args.words(2))
                let key = split.map { base.split($0) } ?? base
                let rowNumbers: UnsafePointer<Int32>? = args.inputs.count == 4 ? args.indices(3) : nil
                Parallel.forChunks(rowCount, costPerItem: width * 8) { range in
                    for r in range {
                        // Row r draws the stream of row rows[r] of the full tensor when padding was removed.
                        let first = UInt64(elementOffset + (rowNumbers.map { Int($0[r]) } ?? r) * width), at = r * width
                        nmt_bias_relu_dropout(key.seed, key.stream, first, width, rate, keep, x + at, b, y + at, m + at)
                    }
                }
            }, on: tape)
        let biasShape = bias.shape
        return out.withGradient(of: [self, bias]) { g in
            let dx = g.droppedOut(mask: mask, keep: keep)
            return [dx, dx.unbroadcast(to: biasShape)]
        }
    }

    /// `self + dropout(x)` in one pass over memory instead of two, with the same floats and
    /// gradients as the two operations: the residual connection after a sublayer in
    /// training. `x` has `self`'s shape; `rate` must be positive; the stream arguments are
    /// those of ``dropout(rate:keyBuffer:split:elementOffset:rows:)`` applied to `x`.
    public func addingDropout(
        of x: Tensor, rate: Float, keyBuffer: RandomKeyBuffer, split: UInt64?, elementOffset: Int = 0
    ) -> Tensor {
        precondition(rate > 0 && rate < 1, "addingDropout: rate \(rate) must be in (0, 1)")
        precondition(x.shape == shape, "addingDropout: the sublayer output \(x.shape) differs from the residual \(shape)")
        let keep = 1 - rate
        let count = scalarCount
        let tape = GradientTape.common([self, x], op: "residual_dropout")
        let out = Tensor(uninitializedShape: shape, tape: tape)
        let mask = Tensor(uninitializedShape: shape, tape: tape)
        KernelDispatch.run(
            KernelLaunch("residual_dropout", inputs: [buffer, x.buffer, keyBuffer.buffer], outputs: [out.buffer, mask.buffer]) {
                args in
                let r = args.input(0), xp = args.input(1), y = args.output(0), m = args.output(1)
                let base = RandomKey(words: args.words(2))
                let key = split.map { base.split($0) } ?? base
                Parallel.forChunks(count, costPerItem: 8) { range in
                    let at = range.lowerBound
                    nmt_residual_dropout(
                        key.seed, key.stream, UInt64(elementOffset + at), range.count, rate, keep, r + at, xp + at, y + at, m + at)
                }
            }, on: tape)
        return out.withGradient(of: [self, x]) { g in [g, g.droppedOut(mask: mask, keep: keep)] }
    }

    /// g / keep where `mask` is non-zero, else 0: the gradient of dropout (and of the fused
    /// bias, ReLU and dropout, whose mask also holds the ReLU's).
    private func droppedOut(mask: Tensor, keep: Float) -> Tensor {
        let dx = Tensor(uninitializedShape: shape, tape: tape)
        let count = scalarCount
        KernelDispatch.run(
            KernelLaunch("dropout_grad", inputs: [buffer, mask.buffer], outputs: [dx.buffer]) { args in
                let gp = args.input(0), mp = args.input(1), d = args.output(0)
                Parallel.forChunks(count) { range in
                    let at = range.lowerBound
                    nmt_dropout_backward(range.count, keep, gp + at, mp + at, d + at)
                }
            }, on: tape)
        return dx
    }
}
