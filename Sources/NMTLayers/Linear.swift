import NMTTensor

/// A dense layer `y = x · kernel + bias` (TensorFlow's `tf.layers.Dense`), optionally
/// followed by ReLU.
public struct Linear: Layer, Sendable {
    /// [in, out].
    public var kernel: Tensor
    /// [out], or nil for a layer without bias (the attention projections).
    public var bias: Tensor?
    /// Whether ReLU follows the affine map.
    public var usesReLU: Bool
    /// The kernel quantized for int8 inference, or nil: when set, the layer multiplies
    /// with it (`Tensor.matmul(_:int8:addingRow:relu:)`, no gradient) instead of
    /// ``kernel``. Visiting the parameters clears it, since a visitor may change the kernel.
    public var int8: Int8Matrix?

    /// Creates a layer with the reference initialization: kernel from fan_avg variance
    /// scaling (gain 1), bias zeros.
    public init(inputSize: Int, outputSize: Int, useBias: Bool = true, usesReLU: Bool = false, key: RandomKey) {
        kernel = Initializer.varianceScalingUniform(gain: 1)([inputSize, outputSize], key: key)
        bias = useBias ? Tensor.zeros([outputSize]) : nil
        self.usesReLU = usesReLU
    }

    /// Visits `kernel` and, if present, `bias`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        int8 = nil
        try body("kernel", &kernel)
        if bias != nil { try body("bias", &bias!) }
    }

    /// Applies the layer to [..., in], giving [..., out]; it computes alike in every context.
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor { callAsFunction(x) }

    /// Applies the layer to [..., in], giving [..., out].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let int8 { return Tensor.matmul(x, int8: int8, addingRow: bias, relu: usesReLU) }
        var y = x.matmul(kernel)
        if let bias { y = y + bias }
        return usesReLU ? y.relu() : y
    }
}
