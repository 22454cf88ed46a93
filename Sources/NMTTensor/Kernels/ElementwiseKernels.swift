import CNMTKernels
import Foundation

/// Element-wise functions of one tensor.
enum UnaryFunction {
    case negate, exp, log, sqrt, rsqrt, square, relu
    /// x · σ(x) (SiLU), Marian's `swish`.
    case swish
    /// x · Φ(x) with the exact normal CDF (erf), PyTorch's default `gelu`.
    case gelu
    case scale(Float)
    case addScalar(Float)
    case powerScalar(Float)
}

/// Element-wise functions of two tensors (after broadcasting).
enum BinaryFunction {
    case add, subtract, multiply, divide
    /// 1 where the operands are equal, else 0 (not differentiable).
    case equal
    /// Gradient of ReLU: the first operand where the second (the ReLU input) is positive.
    case reluGradient
    /// Gradient of swish: the first operand times swish'(second).
    case swishGradient
    /// Gradient of the exact GELU: the first operand times GELU'(second).
    case geluGradient
    /// The first operand (used to broadcast one tensor).
    case first

    /// The operation's code for `nmt_arithmetic` (the four arithmetic operations), or nil.
    var arithmeticCode: Int32? {
        switch self {
        case .add: return 0
        case .subtract: return 1
        case .multiply: return 2
        case .divide: return 3
        default: return nil
        }
    }
}

enum ElementwiseKernels {
    /// y[i] = f(x[i]) for i in 0..<count.
    static func unary(_ function: UnaryFunction, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forChunks(count) { range in
            let x = x + range.lowerBound, y = y + range.lowerBound, n = range.count
            switch function {
            case .negate: for i in 0..<n { y[i] = -x[i] }
            case .square: for i in 0..<n { y[i] = x[i] * x[i] }
            case .relu: for i in 0..<n { y[i] = x[i] > 0 ? x[i] : 0 }
            case .swish: for i in 0..<n { y[i] = x[i] / (1 + Foundation.exp(-x[i])) }
            case .gelu: for i in 0..<n { y[i] = 0.5 * x[i] * (1 + Foundation.erf(x[i] * Float(0.5).squareRoot())) }
            case .sqrt: for i in 0..<n { y[i] = x[i].squareRoot() }
            case .rsqrt: for i in 0..<n { y[i] = 1 / x[i].squareRoot() }
            case .log: for i in 0..<n { y[i] = Foundation.log(x[i]) }
            case .scale(let a): for i in 0..<n { y[i] = x[i] * a }
            case .addScalar(let a): for i in 0..<n { y[i] = x[i] + a }
            case .powerScalar(let p): for i in 0..<n { y[i] = Foundation.pow(x[i], p) }
            case .exp: exp(x, y, count: n)
            }
        }
    }

    /// y = e^x (CNMTKernels' `nmt_exp`: the same bits at every vector width; +inf above
    /// 88.3762626, 0 below -86.9, NaN for NaN).
    @inline(__always)
    static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        nmt_exp(x, y, n)
    }

    @inline(__always)
    static func apply(_ function: BinaryFunction, _ a: Float, _ b: Float) -> Float {
        switch function {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        case .equal: return a == b ? 1 : 0
        case .reluGradient: return b > 0 ? a : 0
        case .swishGradient:
            let sigmoid = 1 / (1 + Foundation.exp(-b))
            return a * sigmoid * (1 + b * (1 - sigmoid))
        case .geluGradient:
            // Φ(x) + x · φ(x), φ the standard normal density.
            let cdf = 0.5 * (1 + Foundation.erf(b * Float(0.5).squareRoot()))
            let density = Foundation.exp(-0.5 * b * b) / Float(2 * Double.pi).squareRoot()
            return a * (cdf + b * density)
        case .first: return a
        }
    }

    /// out = f(a, b) with broadcasting described by `plan`.
    static func binary(
        _ function: BinaryFunction, _ plan: BroadcastPlan, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ out: UnsafeMutablePointer<Float>
    ) {
        let inner = plan.shape.last ?? 1
        let rows = plan.shape.dropLast().reduce(1, *)
        let innerA = plan.aStrides.last ?? 0, innerB = plan.bStrides.last ?? 0
        if rows == 1 {
            // Operands of one shape collapse to a single row: split it, or one core does it all.
            Parallel.forChunks(inner) { range in
                applyAlongRow(function, a, innerA, b, innerB, out, range)
            }
            return
        }
        Parallel.forChunks(rows, costPerItem: inner) { range in
            let outerAxes = plan.shape.count - 1
            for row in range {
                // Offsets of this row in a and b from its multi-index over the outer dims.
                var remainder = row, offsetA = 0, offsetB = 0
                for axis in stride(from: outerAxes - 1, through: 0, by: -1) {
                    let i = remainder % plan.shape[axis]
                    remainder /= plan.shape[axis]
                    offsetA += i * plan.aStrides[axis]
                    offsetB += i * plan.bStrides[axis]
                }
                applyAlongRow(function, a + offsetA, innerA, b + offsetB, innerB, out + row * inner, 0..<inner)
            }
        }
    }

    /// out[i] = f(a[i·strideA], b[i·strideB]) for i in `range`, strides 0 or 1.
    @inline(__always)
    private static func applyAlongRow(
        _ function: BinaryFunction, _ pa: UnsafePointer<Float>, _ strideA: Int, _ pb: UnsafePointer<Float>, _ strideB: Int,
        _ po: UnsafeMutablePointer<Float>, _ range: Range<Int>
    ) {
        if let code = function.arithmeticCode, strideA | strideB == 1 {
            // The four operations in C at the CPU's vector width (the same floats).
            let start = range.lowerBound
            nmt_arithmetic(code, pa + start * strideA, strideA, pb + start * strideB, strideB, po + start, range.count)
            return
        }
        // Separate loops per stride pattern so the compiler vectorizes each.
        switch (strideA, strideB) {
        case (1, 1): for i in range { po[i] = apply(function, pa[i], pb[i]) }
        case (1, 0):
            let s = pb[0]
            for i in range { po[i] = apply(function, pa[i], s) }
        case (0, 1):
            let s = pa[0]
            for i in range { po[i] = apply(function, s, pb[i]) }
        default:  // (0, 0): both operands constant along the collapsed inner axis
            let r = apply(function, pa[0], pb[0])
            for i in range { po[i] = r }
        }
    }

    /// out = broadcast of x (with `strides` over the output shape `shape`).
    static func broadcastCopy(
        _ x: UnsafePointer<Float>, strides: [Int], shape: [Int], _ out: UnsafeMutablePointer<Float>
    ) {
        var plan = BroadcastPlan(shape: shape, aStrides: strides, bStrides: strides)
        plan.collapse()
        binary(.first, plan, x, x, out)
    }
}
