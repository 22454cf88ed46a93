/// How two shapes broadcast against each other (NumPy rules: align trailing dimensions;
/// a dimension of 1, or a missing one, stretches to match the other).
///
/// Dimensions are collapsed where both operands are contiguous across them, so the
/// common cases (same shape, scalar, trailing vector) become a single flat loop.
struct BroadcastPlan {
    /// The (collapsed) output shape.
    var shape: [Int]
    /// Element strides of operand a over `shape` (0 along broadcast dimensions).
    var aStrides: [Int]
    /// Element strides of operand b over `shape`.
    var bStrides: [Int]

    init(shape: [Int], aStrides: [Int], bStrides: [Int]) {
        self.shape = shape
        self.aStrides = aStrides
        self.bStrides = bStrides
    }

    /// The broadcast output shape of `a` and `b`, trapping with `op` and both shapes when
    /// they are incompatible.
    static func resultShape(_ a: [Int], _ b: [Int], op: StaticString) -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        return (0..<rank).map { axis in
            let x = pa[axis], y = pb[axis]
            precondition(x == y || x == 1 || y == 1, "\(op): shapes \(a) and \(b) do not broadcast")
            return x == 1 ? y : x
        }
    }

    /// Strides of a contiguous tensor of shape `shape` read as the larger `output` shape.
    static func strides(of shape: [Int], broadcastTo output: [Int]) -> [Int] {
        let padded = [Int](repeating: 1, count: output.count - shape.count) + shape
        var strides = [Int](repeating: 0, count: output.count)
        var running = 1
        for axis in stride(from: output.count - 1, through: 0, by: -1) {
            strides[axis] = padded[axis] == 1 && output[axis] != 1 ? 0 : running
            running *= padded[axis]
        }
        return strides
    }

    /// The plan for `a op b`.
    init(_ a: [Int], _ b: [Int], op: StaticString) {
        let output = BroadcastPlan.resultShape(a, b, op: op)
        self.init(
            shape: output, aStrides: BroadcastPlan.strides(of: a, broadcastTo: output),
            bStrides: BroadcastPlan.strides(of: b, broadcastTo: output))
        collapse()
    }

    /// Merges adjacent dimensions that both operands traverse contiguously (or both skip).
    mutating func collapse() {
        // Drop size-1 dimensions: they contribute nothing to any offset.
        var dims: [(size: Int, a: Int, b: Int)] = []
        for axis in shape.indices where shape[axis] != 1 {
            dims.append((shape[axis], aStrides[axis], bStrides[axis]))
        }
        var merged: [(size: Int, a: Int, b: Int)] = []
        for dim in dims {
            if let last = merged.last,
                last.a == dim.a * dim.size, last.b == dim.b * dim.size
            {
                merged[merged.count - 1] = (last.size * dim.size, dim.a, dim.b)
            } else {
                merged.append(dim)
            }
        }
        if merged.isEmpty { merged = [(1, 1, 1)] }
        shape = merged.map(\.size)
        aStrides = merged.map(\.a)
        bStrides = merged.map(\.b)
    }
}
