/// Data that can join a differentiation session without being differentiated, so that a
/// kernel recorder sees every kernel computed from it.
///
/// A static-shape device traces a training step into a replayable program; kernels
/// computed only from data that is not attached would run once at trace time and be
/// frozen into the program as constants. Conform a batch type by attaching each field.
public protocol TapeAttachable {
    /// A copy of this value whose tensors belong to `tape` (gradients do not flow to them).
    func attached(to tape: GradientTape) -> Self
}

extension Tensor: TapeAttachable {
    /// The same values on `tape`, not differentiated.
    public func attached(to tape: GradientTape) -> Tensor {
        var result = detached
        result.tape = tape
        return result
    }
}

extension IndexTensor: TapeAttachable {
    /// The same ids on `tape`.
    public func attached(to tape: GradientTape) -> IndexTensor {
        IndexTensor(shape: shape, buffer: buffer, tape: tape)
    }
}

extension Array: TapeAttachable where Element: TapeAttachable {
    /// Every element attached to `tape`.
    public func attached(to tape: GradientTape) -> [Element] { map { $0.attached(to: tape) } }
}

extension Optional: TapeAttachable where Wrapped: TapeAttachable {
    /// The wrapped value attached to `tape`.
    public func attached(to tape: GradientTape) -> Wrapped? { map { $0.attached(to: tape) } }
}
