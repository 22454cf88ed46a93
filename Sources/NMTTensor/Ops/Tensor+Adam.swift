// The Adam update as one kernel over a parameter and its moments.

extension Tensor {
    /// One Adam step with TensorFlow 1 semantics (the `ApplyAdam` kernel):
    /// `m += (g - m)(1 - β1)`, `v += (g² - v)(1 - β2)`, `θ -= stepSize · m / (√v + ε)`,
    /// where the caller passes the bias-corrected `stepSize = lr·√(1-β2^t)/(1-β1^t)`.
    ///
    /// When `rows` is given, only those rows (of a [R, W] parameter) are updated and the
    /// others keep their parameter and moments (LazyAdam's sparse update). The rows must
    /// be distinct: a repeated row would be updated twice.
    ///
    /// - Returns: the new parameter, first moment and second moment (same shapes).
    public static func adamUpdate(
        parameter: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor,
        stepSize: Float, beta1: Float, beta2: Float, epsilon: Float, rows: IndexTensor? = nil
    ) -> (parameter: Tensor, firstMoment: Tensor, secondMoment: Tensor) {
        precondition(
            gradient.shape == parameter.shape && firstMoment.shape == parameter.shape
                && secondMoment.shape == parameter.shape,
            "adamUpdate: parameter \(parameter.shape), gradient \(gradient.shape) and moments "
                + "\(firstMoment.shape), \(secondMoment.shape) must have one shape")
        precondition(rows == nil || parameter.rank == 2, "adamUpdate: row updates need a [rows, width] parameter")
        let count = parameter.scalarCount
        let width = parameter.rank == 2 ? parameter.shape[1] : count
        let tape = GradientTape.common([parameter, gradient, firstMoment, secondMoment], op: "adam")
        let theta = Tensor(uninitializedShape: parameter.shape, tape: tape)
        let m = Tensor(uninitializedShape: parameter.shape, tape: tape)
        let v = Tensor(uninitializedShape: parameter.shape, tape: tape)
        var inputs = [parameter.buffer, gradient.buffer, firstMoment.buffer, secondMoment.buffer]
        if let rows { inputs.append(rows.buffer) }
        let rowCount = rows?.scalarCount ?? 0
        KernelDispatch.run(
            KernelLaunch("adam", inputs: inputs, outputs: [theta.buffer, m.buffer, v.buffer]) { args in
                let p = args.input(0), g = args.input(1), m0 = args.input(2), v0 = args.input(3)
                let p1 = args.output(0), m1 = args.output(1), v1 = args.output(2)
                func update(_ range: Range<Int>) {
                    AdamKernel.update(
                        range, parameter: p, gradient: g, firstMoment: m0, secondMoment: v0, parameterOut: p1,
                        firstMomentOut: m1, secondMomentOut: v1, stepSize: stepSize, beta1: beta1, beta2: beta2,
                        epsilon: epsilon)
                }
                if args.inputs.count == 4 {
                    Parallel.forChunks(count, costPerItem: 4) { update($0) }
                    return
                }
                p1.update(from: p, count: count)
                m1.update(from: m0, count: count)
                v1.update(from: v0, count: count)
                let ids = args.indices(4)
                for r in 0..<rowCount {
                    let start = Int(ids[r]) * width
                    update(start..<(start + width))
                }
            }, on: tape)
        return (theta, m, v)
    }
}

/// The arithmetic of one Adam step, shared by ``Tensor/adamUpdate(parameter:gradient:firstMoment:secondMoment:stepSize:beta1:beta2:epsilon:rows:)``
/// and devices that keep parameters and moments in their own memory and update them in
/// place, so that both compute the same floats.
public enum AdamKernel {
    /// Updates elements `range`; each output may be the same memory as its input (in place).
    @inline(__always)
    public static func update(
        _ range: Range<Int>, parameter p: UnsafePointer<Float>, gradient g: UnsafePointer<Float>,
        firstMoment m0: UnsafePointer<Float>, secondMoment v0: UnsafePointer<Float>,
        parameterOut p1: UnsafeMutablePointer<Float>, firstMomentOut m1: UnsafeMutablePointer<Float>,
        secondMomentOut v1: UnsafeMutablePointer<Float>, stepSize: Float, beta1: Float, beta2: Float, epsilon: Float
    ) {
        for i in range {
            let mi = m0[i] + (g[i] - m0[i]) * (1 - beta1)
            let vi = v0[i] + (g[i] * g[i] - v0[i]) * (1 - beta2)
            m1[i] = mi
            v1[i] = vi
            p1[i] = p[i] - (mi * stepSize) / (vi.squareRoot() + epsilon)
        }
    }

    /// Updates `count` elements of a parameter and its moments in place, on every core.
    public static func updateInPlace(
        parameter: KernelBuffer, gradient: KernelBuffer, firstMoment: KernelBuffer, secondMoment: KernelBuffer,
        count: Int, stepSize: Float, beta1: Float, beta2: Float, epsilon: Float
    ) {
        let p = parameter.pointer(as: Float.self), g = gradient.pointer(as: Float.self)
        let m = firstMoment.pointer(as: Float.self), v = secondMoment.pointer(as: Float.self)
        Parallel.forChunks(count, costPerItem: 4) { range in
            update(
                range, parameter: p, gradient: g, firstMoment: m, secondMoment: v, parameterOut: p, firstMomentOut: m,
                secondMomentOut: v, stepSize: stepSize, beta1: beta1, beta2: beta2, epsilon: epsilon)
        }
    }
}
