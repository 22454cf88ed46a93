// Reshape, permute, slice, concatenate and split.

extension Tensor {
    /// The same elements viewed with another shape (no copy). One dimension may be -1 and
    /// is then inferred.
    public func reshaped(to newShape: [Int]) -> Tensor {
        let source = shape
        return detachedReshape(newShape).withGradient(of: [self]) { g in [g.reshaped(to: source)] }
    }

    /// Reshape without recording a gradient (for internal use on fresh results).
    func detachedReshape(_ requested: [Int]) -> Tensor {
        var newShape = requested
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && scalarCount % known == 0, "reshaped: cannot view shape \(shape) as \(requested)")
            newShape[unknown] = scalarCount / known
        }
        precondition(
            newShape.allSatisfy { $0 >= 0 } && newShape.reduce(1, *) == scalarCount,
            "reshaped: cannot view shape \(shape) (\(scalarCount) elements) as \(requested)")
        var result = Tensor(shape: newShape, buffer: buffer, tape: tape)
        result.node = -1
        return result
    }

    /// Inserts a dimension of size 1 at `axis`.
    public func expandingShape(at axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "expandingShape: axis \(axis) out of range for shape \(shape)")
        var newShape = shape
        newShape.insert(1, at: a)
        return reshaped(to: newShape)
    }

    /// Axes reordered: result axis i is this tensor's axis `permutation[i]`.
    public func permuted(_ permutation: [Int]) -> Tensor {
        precondition(
            permutation.sorted() == Array(0..<rank), "permuted: \(permutation) is not a permutation of the axes of \(shape)")
        if permutation == Array(0..<rank) { return self }
        let source = shape
        let out = Tensor(uninitializedShape: permutation.map { shape[$0] }, tape: tape)
        KernelDispatch.run(
            KernelLaunch("permute", inputs: [buffer], outputs: [out.buffer]) { args in
                ShapeKernels.permute(args.input(0), shape: source, permutation: permutation, args.output(0))
            }, on: tape)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, p) in permutation.enumerated() { inverse[p] = i }
        return out.withGradient(of: [self]) { g in [g.permuted(inverse)] }
    }

    /// The last two axes swapped.
    public func transposed() -> Tensor {
        precondition(rank >= 2, "transposed: needs rank >= 2, got shape \(shape)")
        var permutation = Array(0..<rank)
        permutation.swapAt(rank - 1, rank - 2)
        return permuted(permutation)
    }

    /// Elements `range` along `axis`.
    public func slice(alongAxis axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizedAxis(axis, op: "slice")
        precondition(
            range.lowerBound >= 0 && range.upperBound <= shape[a],
            "slice: range \(range) out of bounds for axis \(a) of shape \(shape)")
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape[a] = range.count
        let out = Tensor(uninitializedShape: outShape, tape: tape)
        let sourceRow = shape[a] * inner
        KernelDispatch.run(
            KernelLaunch("slice", inputs: [buffer], outputs: [out.buffer]) { args in
                ShapeKernels.copyBlocks(
                    from: args.input(0), sourceRow: sourceRow, sourceOffset: range.lowerBound * inner,
                    to: args.output(0), destinationRow: range.count * inner, destinationOffset: 0,
                    outer: outer, block: range.count * inner)
            }, on: tape)
        let source = shape
        return out.withGradient(of: [self]) { g in [g.padded(alongAxis: a, to: source, at: range.lowerBound)] }
    }

    /// Overwrites elements `start..<start + values.shape[axis]` along `axis` with `values`,
    /// in place (XLA's `dynamic_update_slice`): how a static-shape decoder writes a new
    /// position into a preallocated key/value cache without changing its shape.
    ///
    /// The storage is copied first only if another tensor shares it. No gradient flows
    /// through the write (inference only).
    public mutating func assignSlice(alongAxis axis: Int, at start: Int, _ values: Tensor) {
        let a = normalizedAxis(axis, op: "assignSlice")
        var expected = shape
        expected[a] = values.rank == rank ? values.shape[a] : -1
        precondition(
            values.shape == expected && start >= 0 && start + values.shape[a] <= shape[a],
            "assignSlice: values \(values.shape) do not fit shape \(shape) at \(start) along axis \(a)")
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        let (length, block) = (shape[a], values.shape[a] * inner)
        values.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { destination in
                ShapeKernels.copyBlocks(
                    from: source.baseAddress!, sourceRow: block, sourceOffset: 0, to: destination.baseAddress!,
                    destinationRow: length * inner, destinationOffset: start * inner, outer: outer, block: block)
            }
        }
    }

    /// This tensor placed at `offset` along `axis` inside zeros of shape `target` (the
    /// gradient of ``slice(alongAxis:_:)``).
    func padded(alongAxis axis: Int, to target: [Int], at offset: Int) -> Tensor {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let length = shape[axis], targetLength = target[axis]
        let out = Tensor(uninitializedShape: target, tape: tape)
        let total = out.scalarCount
        KernelDispatch.run(
            KernelLaunch("pad", inputs: [buffer], outputs: [out.buffer]) { args in
                args.output(0).initialize(repeating: 0, count: total)
                ShapeKernels.copyBlocks(
                    from: args.input(0), sourceRow: length * inner, sourceOffset: 0,
                    to: args.output(0), destinationRow: targetLength * inner, destinationOffset: offset * inner,
                    outer: outer, block: length * inner)
            }, on: tape)
        return out.withGradient(of: [self]) { g in [g.slice(alongAxis: axis, offset..<(offset + length))] }
    }

    /// Tensors joined along `axis`; all other dimensions must agree.
    public static func concatenate(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate: no tensors given")
        let first = tensors[0]
        let a = first.normalizedAxis(axis, op: "concatenate")
        for t in tensors {
            precondition(
                t.rank == first.rank && t.shape.indices.allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                "concatenate: shape \(t.shape) does not match \(first.shape) outside axis \(a)")
        }
        let tape = GradientTape.common(tensors, op: "concatenate")
        let outer = first.shape[..<a].reduce(1, *), inner = first.shape[(a + 1)...].reduce(1, *)
        let lengths = tensors.map { $0.shape[a] }
        var outShape = first.shape
        outShape[a] = lengths.reduce(0, +)
        let out = Tensor(uninitializedShape: outShape, tape: tape)
        let destinationRow = outShape[a] * inner
        KernelDispatch.run(
            KernelLaunch("concatenate", inputs: tensors.map(\.buffer), outputs: [out.buffer]) { args in
                var offset = 0
                for (i, length) in lengths.enumerated() {
                    ShapeKernels.copyBlocks(
                        from: args.input(i), sourceRow: length * inner, sourceOffset: 0,
                        to: args.output(0), destinationRow: destinationRow, destinationOffset: offset * inner,
                        outer: outer, block: length * inner)
                    offset += length
                }
            }, on: tape)
        return out.withGradient(of: tensors) { g in
            var offset = 0
            return lengths.map { length in
                defer { offset += length }
                return g.slice(alongAxis: a, offset..<(offset + length))
            }
        }
    }

    /// Pieces of the given sizes along `axis` (the sizes must add up to the dimension).
    public func split(sizes: [Int], alongAxis axis: Int) -> [Tensor] {
        let a = normalizedAxis(axis, op: "split")
        precondition(sizes.reduce(0, +) == shape[a], "split: sizes \(sizes) do not add up to \(shape[a]) (shape \(shape))")
        var offset = 0
        return sizes.map { size in
            defer { offset += size }
            return slice(alongAxis: a, offset..<(offset + size))
        }
    }

    /// `count` equal pieces along `axis`.
    public func split(count: Int, alongAxis axis: Int) -> [Tensor] {
        let a = normalizedAxis(axis, op: "split")
        precondition(count > 0 && shape[a] % count == 0, "split: axis \(a) of shape \(shape) does not divide into \(count)")
        return split(sizes: Array(repeating: shape[a] / count, count: count), alongAxis: a)
    }
}
