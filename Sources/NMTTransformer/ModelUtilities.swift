import Foundation
import NMTTensor

/// The reference's `model_utils`: positional encoding and attention biases.
public enum ModelUtilities {
    /// The additive bias that hides a position from attention (the reference's `_NEG_INF`).
    public static let negativeInfinity: Float = -1e9

    /// Sinusoidal position signal: for position p and timescale i,
    /// `sin(p · inv[i])` in the first half of the hidden axis and `cos(p · inv[i])` in the
    /// second (concatenated, not interleaved), with
    /// `inv[i] = minTimescale · exp(-i · ln(maxTimescale / minTimescale) / (H/2 - 1))`.
    ///
    /// Computed in Float32 in the reference's order of operations, so the values match
    /// TensorFlow's to the last bit of its float32 `sin`/`cos`.
    ///
    /// - Precondition: `hiddenSize` is even and at least 4 (the reference divides by H/2 - 1).
    /// - Returns: [length, H].
    public static func positionalEncoding(
        length: Int, hiddenSize: Int, minTimescale: Double = 1, maxTimescale: Double = 1e4
    ) -> Tensor {
        precondition(
            hiddenSize >= 4 && hiddenSize % 2 == 0, "positionalEncoding: hidden size \(hiddenSize) must be even and >= 4")
        let timescales = hiddenSize / 2
        // A Python float in the reference, folded into the float32 graph as a constant.
        let logIncrement = Float(Foundation.log(maxTimescale / minTimescale) / Double(timescales - 1))
        let inverse = (0..<timescales).map { Float(minTimescale) * Foundation.exp(Float($0) * -logIncrement) }
        var values = [Float](repeating: 0, count: length * hiddenSize)
        for p in 0..<length {
            for i in 0..<timescales {
                let scaled = Float(p) * inverse[i]
                values[p * hiddenSize + i] = Foundation.sin(scaled)
                values[p * hiddenSize + timescales + i] = Foundation.cos(scaled)
            }
        }
        return Tensor(shape: [length, hiddenSize], scalars: values)
    }

    /// Marian's sinusoidal position table (`MarianSinusoidalPositionalEmbedding`): for
    /// position p and k < H/2, `sin(p / 10000^(2k/H))` at column k and
    /// `cos(p / 10000^(2k/H))` at column H/2 + k, computed in double precision as numpy
    /// does there and rounded to float once.
    ///
    /// - Precondition: `hiddenSize` is even.
    /// - Returns: [length, H].
    public static func marianPositionTable(length: Int, hiddenSize: Int) -> Tensor {
        precondition(hiddenSize >= 2 && hiddenSize % 2 == 0, "marianPositionTable: hidden size \(hiddenSize) must be even")
        let half = hiddenSize / 2
        let frequencies = (0..<half).map { Foundation.pow(10000.0, Double(2 * $0) / Double(hiddenSize)) }
        var values = [Float](repeating: 0, count: length * hiddenSize)
        for p in 0..<length {
            for k in 0..<half {
                let angle = Double(p) / frequencies[k]
                values[p * hiddenSize + k] = Float(Foundation.sin(angle))
                values[p * hiddenSize + half + k] = Float(Foundation.cos(angle))
            }
        }
        return Tensor(shape: [length, hiddenSize], scalars: values)
    }

    /// 1 where an id is padding (0) and 0 elsewhere: the reference's `get_padding`.
    ///
    /// - Parameter ids: [B, L].
    /// - Returns: [B, L].
    public static func padding(_ ids: IndexTensor) -> Tensor { ids.mask(equalTo: 0) }

    /// The attention bias hiding padded keys: `padding · -1e9` as [B, 1, 1, L]
    /// (the reference's `get_padding_bias`).
    ///
    /// - Parameter ids: [B, L].
    public static func paddingBias(_ ids: IndexTensor) -> Tensor {
        precondition(ids.shape.count == 2, "paddingBias: ids must be [B, L], got \(ids.shape)")
        return (padding(ids) * negativeInfinity).reshaped(to: [ids.shape[0], 1, 1, ids.shape[1]])
    }

    /// The causal bias of decoder self-attention: 0 on and below the diagonal, -1e9 above
    /// (the reference's `get_decoder_self_attention_bias`).
    ///
    /// - Returns: [1, 1, L, L].
    public static func decoderSelfAttentionBias(length: Int) -> Tensor {
        var values = [Float](repeating: 0, count: length * length)
        for i in 0..<length { for j in (i + 1)..<max(length, i + 1) { values[i * length + j] = negativeInfinity } }
        return Tensor(shape: [1, 1, length, length], scalars: values)
    }
}
