/// An n-dimensional array of `Int32` (token ids, row indices) with value semantics.
///
/// Ids are kept apart from ``Tensor`` so that they are never rounded through `Float`
/// and never differentiated. Like tensors they live in a ``KernelBuffer``, so a static
/// device can feed new ids into a recorded program.
///
/// Sendable: a value whose buffer is filled when it is made and never written afterwards;
/// `tape` is reached only by the thread that differentiates with it.
public struct IndexTensor: @unchecked Sendable {
    /// The size of each dimension, outermost first.
    public let shape: [Int]
    /// Where the ids live.
    package let buffer: KernelBuffer
    /// The session whose kernel recorder sees operations on these ids (ids are never
    /// differentiated, but a traced step must record what it computes from them).
    var tape: GradientTape?

    /// Creates an index tensor from row-major ids.
    ///
    /// - Precondition: `scalars.count` equals the product of `shape`.
    public init(shape: [Int], scalars: [Int32]) {
        Tensor.checkShape(shape, op: "IndexTensor")
        let count = shape.reduce(1, *)
        precondition(
            scalars.count == count,
            "IndexTensor(shape:scalars:): shape \(shape) holds \(count) elements but \(scalars.count) were given")
        self.shape = shape
        buffer = KernelBuffer(capacity: count, of: Int32.self)
        scalars.withUnsafeBufferPointer { buffer.pointer(as: Int32.self).update(from: $0.baseAddress!, count: count) }
    }

    /// Creates a one-dimensional index tensor.
    public init(_ scalars: [Int32]) { self.init(shape: [scalars.count], scalars: scalars) }

    init(shape: [Int], buffer: KernelBuffer, tape: GradientTape? = nil) {
        self.shape = shape
        self.buffer = buffer
        self.tape = tape
    }

    /// The number of elements.
    public var scalarCount: Int { shape.reduce(1, *) }

    /// The ids in row-major order.
    public var scalars: [Int32] {
        Array(UnsafeBufferPointer(start: buffer.pointer(as: Int32.self), count: scalarCount))
    }

    /// The same ids viewed with another shape of equal element count.
    public func reshaped(to newShape: [Int]) -> IndexTensor {
        precondition(
            newShape.reduce(1, *) == scalarCount,
            "IndexTensor.reshaped: cannot view shape \(shape) as \(newShape)")
        return IndexTensor(shape: newShape, buffer: buffer, tape: tape)
    }

    /// A float tensor of the same shape holding 1 where the id equals `value` and 0 elsewhere
    /// (for example the padding mask `ids.mask(equalTo: 0)`).
    public func mask(equalTo value: Int32) -> Tensor {
        let out = Tensor(uninitializedShape: shape, tape: tape)
        let count = scalarCount
        KernelDispatch.run(
            KernelLaunch("index_equal_mask", inputs: [buffer], outputs: [out.buffer]) { args in
                let ids = args.indices(0), y = args.output(0)
                for i in 0..<count { y[i] = ids[i] == value ? 1 : 0 }
            }, on: tape)
        return out
    }
}

extension IndexTensor {
    /// Rows `range` of an id matrix [B, L] (a batch's sentences), copied straight from its
    /// storage.
    public func rows(_ range: Range<Int>) -> IndexTensor {
        precondition(shape.count == 2 && range.lowerBound >= 0 && range.upperBound <= shape[0], "rows: \(range) of \(shape)")
        let width = shape[1]
        let start = buffer.pointer(as: Int32.self) + range.lowerBound * width
        return IndexTensor(shape: [range.count, width], scalars: Array(UnsafeBufferPointer(start: start, count: range.count * width)))
    }

    /// Ids other than `padding` in rows `range` of an id matrix [B, L], counted in place.
    public func count(notEqualTo padding: Int32, rows range: Range<Int>) -> Int {
        precondition(shape.count == 2 && range.lowerBound >= 0 && range.upperBound <= shape[0], "count: \(range) of \(shape)")
        let width = shape[1]
        let ids = buffer.pointer(as: Int32.self)
        var count = 0
        for i in (range.lowerBound * width)..<(range.upperBound * width) where ids[i] != padding { count += 1 }
        return count
    }
}
