// Sum, mean and maximum over axes.

extension Tensor {
    /// Normalizes possibly negative axes, trapping on an axis out of range.
    func normalizedAxis(_ axis: Int, op: StaticString) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "\(op): axis \(axis) out of range for shape \(shape)")
        return a
    }

    /// Reduces one axis, keeping it with size 1.
    private func reduceKeeping(axis: Int, _ operation: ReductionKernels.Operation, _ name: StaticString) -> Tensor {
        let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        var outShape = shape
        outShape[axis] = 1
        let out = Tensor(uninitializedShape: outShape, tape: tape)
        KernelDispatch.run(
            KernelLaunch(name, inputs: [buffer], outputs: [out.buffer]) { args in
                ReductionKernels.reduce(operation, args.input(0), args.output(0), outer: outer, n: n, inner: inner)
            }, on: tape)
        return out
    }

    /// Reduces the given axes in one pass per axis, without recording a gradient.
    private func reduced(_ axes: [Int], _ operation: ReductionKernels.Operation, keep: Bool, _ name: StaticString)
        -> Tensor
    {
        let normalized = Set(axes.map { normalizedAxis($0, op: name) }).sorted(by: >)
        var result = self
        for axis in normalized { result = result.reduceKeeping(axis: axis, operation, name) }
        if !keep { result = result.detachedReshape(shape.indices.filter { !normalized.contains($0) }.map { shape[$0] }) }
        return result
    }

    /// The sum over `axes`; removed from the shape unless `keepingDimensions`.
    public func sum(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let source = shape
        let keptShape = shape.indices.map { axes.map { normalizedAxis($0, op: "sum") }.contains($0) ? 1 : shape[$0] }
        return reduced(axes, .sum, keep: keepingDimensions, "sum").withGradient(of: [self]) { g in
            [g.reshaped(to: keptShape).broadcasted(to: source)]
        }
    }

    /// The sum over one axis.
    public func sum(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        sum(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The sum of all elements, as a scalar tensor.
    public func sum() -> Tensor { sum(alongAxes: Array(0..<rank)) }

    /// The mean over `axes`.
    public func mean(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let count = Set(axes.map { normalizedAxis($0, op: "mean") }).reduce(1) { $0 * shape[$1] }
        return sum(alongAxes: axes, keepingDimensions: keepingDimensions) * (1 / Float(count))
    }

    /// The mean over one axis.
    public func mean(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        mean(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The mean of all elements, as a scalar tensor.
    public func mean() -> Tensor { mean(alongAxes: Array(0..<rank)) }

    /// The maximum over `axes`. The gradient is shared equally among tied maxima, as in
    /// TensorFlow's `reduce_max`.
    public func max(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let x = self
        let keptMax = reduced(axes, .max, keep: true, "max")
        let result = keepingDimensions ? keptMax : keptMax.detachedReshape(
            shape.indices.filter { !axes.map { normalizedAxis($0, op: "max") }.contains($0) }.map { shape[$0] })
        return result.withGradient(of: [self]) { g in
            let winners = x.elementsEqual(keptMax)
            let share = winners / winners.sum(alongAxes: axes, keepingDimensions: true)
            return [share * g.reshaped(to: keptMax.shape)]
        }
    }

    /// The maximum over one axis.
    public func max(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        max(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }
}
