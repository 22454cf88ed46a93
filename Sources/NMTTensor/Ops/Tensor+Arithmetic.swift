// Element-wise arithmetic with NumPy broadcasting, and the element-wise functions the
// Transformer uses, each with its gradient.

extension Tensor {
    /// Launches a one-input element-wise kernel.
    func unary(_ function: UnaryFunction, _ name: StaticString) -> Tensor {
        let out = Tensor(uninitializedShape: shape, tape: tape)
        let count = scalarCount
        KernelDispatch.run(
            KernelLaunch(name, inputs: [buffer], outputs: [out.buffer]) { args in
                ElementwiseKernels.unary(function, args.input(0), args.output(0), count: count)
            }, on: tape)
        return out
    }

    /// Launches a two-input broadcasting kernel without recording a gradient.
    static func binary(_ function: BinaryFunction, _ a: Tensor, _ b: Tensor, _ name: StaticString) -> Tensor {
        let tape = GradientTape.common([a, b], op: name)
        let plan = BroadcastPlan(a.shape, b.shape, op: name)
        let out = Tensor(uninitializedShape: BroadcastPlan.resultShape(a.shape, b.shape, op: name), tape: tape)
        KernelDispatch.run(
            KernelLaunch(name, inputs: [a.buffer, b.buffer], outputs: [out.buffer]) { args in
                ElementwiseKernels.binary(function, plan, args.input(0), args.input(1), args.output(0))
            }, on: tape)
        return out
    }

    /// Sums a broadcast gradient back down to `shape` (the inverse of broadcasting).
    func unbroadcast(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let padded = [Int](repeating: 1, count: rank - target.count) + target
        let axes = (0..<rank).filter { padded[$0] == 1 && shape[$0] != 1 }
        let summed = axes.isEmpty ? self : sum(alongAxes: axes, keepingDimensions: true)
        return summed.reshaped(to: target)
    }

    /// The tensor stretched to `shape` by broadcasting (NumPy rules).
    public func broadcasted(to target: [Int]) -> Tensor {
        if shape == target { return self }
        precondition(
            BroadcastPlan.resultShape(shape, target, op: "broadcasted(to:)") == target,
            "broadcasted(to:): shape \(shape) cannot be broadcast to \(target)")
        let strides = BroadcastPlan.strides(of: shape, broadcastTo: target)
        let out = Tensor(uninitializedShape: target, tape: tape)
        KernelDispatch.run(
            KernelLaunch("broadcast", inputs: [buffer], outputs: [out.buffer]) { args in
                ElementwiseKernels.broadcastCopy(args.input(0), strides: strides, shape: target, args.output(0))
            }, on: tape)
        let source = shape
        return out.withGradient(of: [self]) { g in [g.unbroadcast(to: source)] }
    }

    /// Element-wise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        binary(.add, a, b, "add").withGradient(of: [a, b]) { g in
            [g.unbroadcast(to: a.shape), g.unbroadcast(to: b.shape)]
        }
    }

    /// Element-wise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        binary(.subtract, a, b, "subtract").withGradient(of: [a, b]) { g in
            [g.unbroadcast(to: a.shape), (-g).unbroadcast(to: b.shape)]
        }
    }

    /// Element-wise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        binary(.multiply, a, b, "multiply").withGradient(of: [a, b]) { g in
            [(g * b).unbroadcast(to: a.shape), (g * a).unbroadcast(to: b.shape)]
        }
    }

    /// Element-wise quotient with broadcasting.
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = binary(.divide, a, b, "divide")
        return out.withGradient(of: [a, b]) { g in
            let gOverB = g / b
            return [gOverB.unbroadcast(to: a.shape), (-(gOverB * out)).unbroadcast(to: b.shape)]
        }
    }

    /// Adds a scalar to every element.
    public static func + (a: Tensor, b: Float) -> Tensor {
        a.unary(.addScalar(b), "add_scalar").withGradient(of: [a]) { g in [g] }
    }

    /// Subtracts a scalar from every element.
    public static func - (a: Tensor, b: Float) -> Tensor { a + (-b) }

    /// Subtracts every element from a scalar.
    public static func - (a: Float, b: Tensor) -> Tensor { (-b) + a }

    /// Adds a scalar to every element.
    public static func + (a: Float, b: Tensor) -> Tensor { b + a }

    /// Multiplies every element by a scalar.
    public static func * (a: Tensor, b: Float) -> Tensor {
        a.unary(.scale(b), "scale").withGradient(of: [a]) { g in [g * b] }
    }

    /// Multiplies every element by a scalar.
    public static func * (a: Float, b: Tensor) -> Tensor { b * a }

    /// Divides every element by a scalar.
    public static func / (a: Tensor, b: Float) -> Tensor { a * (1 / b) }

    /// Element-wise negation.
    public static prefix func - (x: Tensor) -> Tensor {
        x.unary(.negate, "negate").withGradient(of: [x]) { g in [-g] }
    }

    /// e^x element-wise.
    public func exp() -> Tensor {
        let y = unary(.exp, "exp")
        return y.withGradient(of: [self]) { g in [g * y] }
    }

    /// Natural logarithm element-wise.
    public func log() -> Tensor {
        let x = self
        return unary(.log, "log").withGradient(of: [self]) { g in [g / x] }
    }

    /// Square root element-wise.
    public func sqrt() -> Tensor {
        let y = unary(.sqrt, "sqrt")
        return y.withGradient(of: [self]) { g in [g * 0.5 / y] }
    }

    /// 1 / sqrt(x) element-wise.
    public func rsqrt() -> Tensor {
        let y = unary(.rsqrt, "rsqrt")
        // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
        return y.withGradient(of: [self]) { g in [g * (y * y * y) * -0.5] }
    }

    /// x² element-wise.
    public func squared() -> Tensor {
        let x = self
        return unary(.square, "square").withGradient(of: [self]) { g in [g * x * 2] }
    }

    /// x^p element-wise for a constant exponent.
    public func raised(toPower p: Float) -> Tensor {
        let x = self
        return unary(.powerScalar(p), "pow_scalar").withGradient(of: [self]) { g in
            [g * x.raised(toPower: p - 1) * p]
        }
    }

    /// max(x, 0) element-wise. The gradient at 0 is 0, as in TensorFlow.
    public func relu() -> Tensor {
        let x = self
        return unary(.relu, "relu").withGradient(of: [self]) { g in [Tensor.binary(.reluGradient, g, x, "relu_grad")] }
    }

    /// Swish (SiLU), x · σ(x) element-wise, with its gradient.
    public func swish() -> Tensor {
        let x = self
        return unary(.swish, "swish").withGradient(of: [self]) { g in [Tensor.binary(.swishGradient, g, x, "swish_grad")] }
    }

    /// GELU with the exact normal CDF, x · Φ(x) = x/2 · (1 + erf(x/√2)) element-wise, with
    /// its gradient (PyTorch's `gelu` without the tanh approximation).
    public func gelu() -> Tensor {
        let x = self
        return unary(.gelu, "gelu").withGradient(of: [self]) { g in [Tensor.binary(.geluGradient, g, x, "gelu_grad")] }
    }

    /// 1 where the elements are equal and 0 elsewhere, with broadcasting (no gradient).
    public func elementsEqual(_ other: Tensor) -> Tensor {
        Tensor.binary(.equal, self, other, "equal")
    }
}
