// Softmax, log-softmax and layer normalization over the last axis, as fused kernels.

extension Tensor {
    /// Rows and width of this tensor viewed as [rows, last axis].
    var rowsAndWidth: (rows: Int, width: Int) {
        let width = shape.last ?? 1
        return (width == 0 ? 0 : scalarCount / width, width)
    }

    /// Launches a row kernel over the last axis whose gradient is a function of the
    /// output gradient and the output (softmax and log-softmax).
    private func rowwise(
        _ name: StaticString, _ gradientName: StaticString,
        forward: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>, _ rows: Int, _ width: Int) -> Void,
        backward: @escaping (
            _ g: UnsafePointer<Float>, _ y: UnsafePointer<Float>, UnsafeMutablePointer<Float>, _ rows: Int, _ width: Int
        ) -> Void
    ) -> Tensor {
        precondition(rank >= 1, "\(name): needs rank >= 1, got a scalar")
        let (rows, width) = rowsAndWidth
        let y = Tensor(uninitializedShape: shape, tape: tape)
        KernelDispatch.run(
            KernelLaunch(name, inputs: [buffer], outputs: [y.buffer]) { args in
                forward(args.input(0), args.output(0), rows, width)
            }, on: tape)
        return y.withGradient(of: [self]) { g in
            let dx = Tensor(uninitializedShape: g.shape, tape: g.tape)
            KernelDispatch.run(
                KernelLaunch(gradientName, inputs: [g.buffer, y.buffer], outputs: [dx.buffer]) { args in
                    backward(args.input(0), args.input(1), args.output(0), rows, width)
                }, on: g.tape)
            return [dx]
        }
    }

    /// softmax over the last axis, computed stably (the row maximum is subtracted first).
    public func softmax() -> Tensor {
        rowwise(
            "softmax", "softmax_grad", forward: NormalizationKernels.softmax,
            backward: NormalizationKernels.softmaxBackward)
    }

    /// log(softmax(x)) over the last axis, computed stably in one pass (never as the log
    /// of a rounded probability).
    public func logSoftmax() -> Tensor {
        rowwise(
            "log_softmax", "log_softmax_grad", forward: NormalizationKernels.logSoftmax,
            backward: NormalizationKernels.logSoftmaxBackward)
    }

    /// Layer normalization over the last axis: `(x - mean) * rsqrt(var + epsilon) * scale + bias`
    /// with the biased variance `mean((x - mean)²)`, as the reference `LayerNormalization`.
    ///
    /// - Parameters:
    ///   - scale: [H] gain.
    ///   - bias: [H] offset.
    ///   - epsilon: added to the variance (the reference uses 1e-6).
    /// - Returns: the same shape as `self` ([..., H]).
    public func layerNormalized(scale: Tensor, bias: Tensor, epsilon: Float = 1e-6) -> Tensor {
        let (rows, width) = rowsAndWidth
        precondition(
            scale.shape == [width] && bias.shape == [width],
            "layerNormalized: input \(shape) needs scale and bias of shape [\(width)], got \(scale.shape) and \(bias.shape)")
        let tape = GradientTape.common([self, scale, bias], op: "layer_norm")
        let y = Tensor(uninitializedShape: shape, tape: tape)
        let mean = Tensor(uninitializedShape: [rows], tape: tape)
        let rstd = Tensor(uninitializedShape: [rows], tape: tape)
        KernelDispatch.run(
            KernelLaunch(
                "layer_norm", inputs: [buffer, scale.buffer, bias.buffer], outputs: [y.buffer, mean.buffer, rstd.buffer]
            ) { args in
                NormalizationKernels.layerNorm(
                    args.input(0), args.input(1), args.input(2), args.output(0), args.output(1), args.output(2),
                    rows: rows, width: width, epsilon: epsilon)
            }, on: tape)
        let x = self
        return y.withGradient(of: [self, scale, bias]) { g in
            let dx = Tensor(uninitializedShape: x.shape, tape: g.tape)
            let dscale = Tensor(uninitializedShape: [width], tape: g.tape)
            let dbias = Tensor(uninitializedShape: [width], tape: g.tape)
            KernelDispatch.run(
                KernelLaunch(
                    "layer_norm_grad", inputs: [g.buffer, x.buffer, scale.buffer, mean.buffer, rstd.buffer],
                    outputs: [dx.buffer, dscale.buffer, dbias.buffer]
                ) { args in
                    NormalizationKernels.layerNormBackward(
                        args.input(0), args.input(1), args.input(2), args.input(3), args.input(4),
                        args.output(0), args.output(1), args.output(2), rows: rows, width: width)
                }, on: g.tape)
            return [dx, dscale, dbias]
        }
    }
}
