import NMTTensor

/// Layer normalization over the last axis with learned scale and bias (the reference's
/// `LayerNormalization`, epsilon 1e-6).
public struct LayerNorm: Layer, Sendable {
    /// [H], initialized to ones.
    public var scale: Tensor
    /// [H], initialized to zeros.
    public var bias: Tensor
    /// Added to the variance.
    public var epsilon: Float

    /// Creates a layer normalizing vectors of `size` elements.
    public init(size: Int, epsilon: Float = 1e-6) {
        scale = Tensor.ones([size])
        bias = Tensor.zeros([size])
        self.epsilon = epsilon
    }

    /// Visits `scale` and `bias`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        try body("scale", &scale)
        try body("bias", &bias)
    }

    /// Normalizes [..., H]; it computes alike in every context.
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor { callAsFunction(x) }

    /// Normalizes [..., H].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.layerNormalized(scale: scale, bias: bias, epsilon: epsilon)
    }
}
