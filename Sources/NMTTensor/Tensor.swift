/// An n-dimensional array of `Float` with value semantics, the unit every layer computes on.
///
/// Storage is contiguous and row-major, shared between copies until one of them is
/// mutated (copy-on-write). Operations never mutate their operands; each returns a new
/// tensor computed by one kernel launch (see ``KernelLaunch``). Shape legend used in the
/// docs of the whole library: B batch, S source length, T target length, H hidden,
/// V vocabulary, N heads.
///
/// A tensor produced inside ``valueAndGradient(of:recorder:_:)`` remembers how it was
/// computed so that gradients can flow back to the parameters; outside, tensors are
/// plain values.
public struct Tensor {
    /// The size of each dimension, outermost first. `[]` is a scalar.
    public private(set) var shape: [Int]
    /// Where the elements live; shared between copies until one is mutated.
    package var buffer: KernelBuffer
    /// The differentiation session this tensor belongs to, if any.
    var tape: GradientTape?
    /// This tensor's node on `tape`, or -1 when gradients do not flow through it.
    var node: Int = -1

    /// Creates a tensor over an existing buffer (callers in the package guarantee the size;
    /// a device uses it to view its own memory as tensors).
    package init(shape: [Int], buffer: KernelBuffer, tape: GradientTape? = nil) {
        self.shape = shape
        self.buffer = buffer
        self.tape = tape
    }

    /// Creates a tensor whose elements are not yet written; the caller's kernel fills them.
    init(uninitializedShape shape: [Int], tape: GradientTape?) {
        Tensor.checkShape(shape, op: "Tensor")
        self.init(shape: shape, buffer: KernelBuffer(capacity: shape.reduce(1, *), of: Float.self), tape: tape)
    }

    /// Creates a tensor from row-major elements.
    ///
    /// - Precondition: `scalars.count` equals the product of `shape`.
    public init(shape: [Int], scalars: [Float]) {
        Tensor.checkShape(shape, op: "Tensor(shape:scalars:)")
        let count = shape.reduce(1, *)
        precondition(
            scalars.count == count,
            "Tensor(shape:scalars:): shape \(shape) holds \(count) elements but \(scalars.count) were given")
        self.init(shape: shape, buffer: KernelBuffer(capacity: count, of: Float.self))
        scalars.withUnsafeBufferPointer { source in
            buffer.pointer(as: Float.self).update(from: source.baseAddress!, count: count)
        }
    }

    /// Creates a one-dimensional tensor `[scalars.count]`.
    public init(_ scalars: [Float]) {
        self.init(shape: [scalars.count], scalars: scalars)
    }

    /// Creates a scalar tensor (shape `[]`).
    public init(_ scalar: Float) {
        self.init(shape: [], scalars: [scalar])
    }

    /// Creates a tensor with every element equal to `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(uninitializedShape: shape, tape: nil)
        buffer.pointer(as: Float.self).initialize(repeating: value, count: scalarCount)
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }

    /// A tensor of ones.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

    /// The number of elements (the product of the shape; 1 for a scalar).
    public var scalarCount: Int { shape.reduce(1, *) }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The elements in row-major order.
    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: buffer.pointer(as: Float.self), count: scalarCount))
    }

    /// The single element of a tensor with one element.
    ///
    /// - Precondition: `scalarCount == 1`.
    public var scalar: Float {
        precondition(scalarCount == 1, "Tensor.scalar: shape \(shape) has \(scalarCount) elements, not 1")
        return buffer.pointer(as: Float.self).pointee
    }

    /// The element at a multi-dimensional index.
    public subscript(index: Int...) -> Float {
        get { buffer.pointer(as: Float.self)[flatIndex(index)] }
        set {
            let offset = flatIndex(index)
            withUnsafeMutableBufferPointer { $0[offset] = newValue }
        }
    }

    /// Whether gradients flow through this tensor (it was computed from differentiated
    /// parameters inside ``valueAndGradient(of:recorder:_:)``).
    public var isDifferentiable: Bool { node >= 0 }

    /// The same values, disconnected from any differentiation session: gradients do not
    /// flow through the result and kernels on it are not recorded.
    public var detached: Tensor { Tensor(shape: shape, buffer: buffer) }

    /// Reads the elements in place.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: buffer.pointer(as: Float.self), count: scalarCount))
    }

    /// Writes the elements in place, first copying the storage if another tensor shares it.
    ///
    /// A tensor mutated this way is detached from its differentiation session: gradients
    /// cannot flow through an in-place change.
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isKnownUniquelyReferenced(&buffer) { buffer = buffer.copy() }
        tape = nil
        node = -1
        var pointer = UnsafeMutableBufferPointer(start: buffer.pointer(as: Float.self), count: scalarCount)
        return try body(&pointer)
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == rank, "Tensor subscript: \(index.count) indices for shape \(shape)")
        var offset = 0
        for (axis, i) in index.enumerated() {
            precondition(i >= 0 && i < shape[axis], "Tensor subscript: index \(index) out of range for shape \(shape)")
            offset = offset * shape[axis] + i
        }
        return offset
    }

    static func checkShape(_ shape: [Int], op: String) {
        precondition(shape.allSatisfy { $0 >= 0 }, "\(op): negative dimension in shape \(shape)")
    }
}

extension Tensor: CustomStringConvertible {
    /// The shape and, for small tensors, the elements.
    public var description: String {
        let count = scalarCount
        let shown = scalars.prefix(16).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(count > 16 ? ", … (\(count) total)" : "")])"
    }
}

/// Sendable: a copy-on-write value: a tensor writes its buffer only after
/// `isKnownUniquelyReferenced` (`uniqueStorage()`), so a copy on another thread never sees
/// a write; its tape is reached only by the thread that differentiates with it.
extension Tensor: @unchecked Sendable {}
