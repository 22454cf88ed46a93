import NMTTensor

/// How a parameter's initial values are drawn, with the reference model's choices.
public enum Initializer: Sendable, Equatable {
    /// All zeros (dense biases, layer-norm bias).
    case zeros
    /// All ones (layer-norm scale).
    case ones
    /// Uniform on ±sqrt(3 · gain / fan_avg), fan_avg = (fan_in + fan_out) / 2: TensorFlow's
    /// `variance_scaling_initializer(gain, mode="fan_avg", distribution="uniform")`, the
    /// reference's initializer for every dense kernel (gain 1.0).
    case varianceScalingUniform(gain: Float)
    /// Normal with mean 0 (the shared embedding uses standard deviation hidden^-0.5).
    case normal(standardDeviation: Float)
    /// A (semi-)orthogonal matrix times `gain`, from the QR decomposition of a normal
    /// matrix (see `Tensor.orthogonal(_:gain:key:)`).
    case orthogonal(gain: Float)

    /// fan_in and fan_out of a kernel shape as TensorFlow computes them: [in, out] for a
    /// matrix; for higher ranks the leading dimensions form a receptive field that
    /// multiplies both.
    public static func fans(of shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        switch shape.count {
        case 0: return (1, 1)
        case 1: return (shape[0], shape[0])
        default:
            let receptiveField = shape.dropLast(2).reduce(1, *)
            return (shape[shape.count - 2] * receptiveField, shape[shape.count - 1] * receptiveField)
        }
    }

    /// Draws a tensor of `shape` from this initializer's distribution.
    ///
    /// - Parameters:
    ///   - shape: the tensor's shape (a kernel [in, out], an embedding [V, H]).
    ///   - key: the random stream; the same key always gives the same tensor.
    public func callAsFunction(_ shape: [Int], key: RandomKey) -> Tensor {
        switch self {
        case .zeros: return Tensor.zeros(shape)
        case .ones: return Tensor.ones(shape)
        case .normal(let standardDeviation):
            return Tensor.randomNormal(shape, standardDeviation: standardDeviation, key: key)
        case .orthogonal(let gain):
            return Tensor.orthogonal(shape, gain: gain, key: key)
        case .varianceScalingUniform(let gain):
            let (fanIn, fanOut) = Initializer.fans(of: shape)
            let limit = (3 * gain / max(1, Float(fanIn + fanOut) / 2)).squareRoot()
            return Tensor.randomUniform(shape, lowerBound: -limit, upperBound: limit, key: key)
        }
    }
}
