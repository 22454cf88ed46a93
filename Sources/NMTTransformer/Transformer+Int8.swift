import NMTLayers
import NMTTensor

extension Transformer {
    /// A copy for int8 inference on the CPU: every projection of the encoder and decoder
    /// layers (attention queries, keys, values and outputs; both feed-forward layers) and
    /// the logits projection quantized per output channel (NMTTensor's `Int8Matrix`),
    /// activations quantized per row as the model runs, products summed in int32.
    ///
    /// Embeddings, normalizations, biases and the attention products themselves stay in
    /// float, as in CTranslate2's int8 mode. The copy translates as the original does but
    /// with the int8 products' rounding, which changes some translations (measured on
    /// the Ding test set in Documentation/Performance.md); it gives the same result on
    /// every CPU. It is for decoding only: it has no gradients, a static-shape device
    /// cannot run it (see ``isInt8``), and visiting its parameters turns it back into
    /// the float model.
    ///
    /// - Throws: ``Int8QuantizationError`` naming the first weight that is NaN or
    ///   infinite.
    public func int8Quantized() throws(Int8QuantizationError) -> Transformer {
        var copy = self
        for index in copy.encoder.layers.indices {
            let prefix = "encoder.layers.\(index)."
            try Self.quantize(&copy.encoder.layers[index].selfAttention, prefix + "selfAttention")
            try Self.quantize(&copy.encoder.layers[index].feedForward, prefix + "feedForward")
        }
        for index in copy.decoder.layers.indices {
            let prefix = "decoder.layers.\(index)."
            try Self.quantize(&copy.decoder.layers[index].selfAttention, prefix + "selfAttention")
            try Self.quantize(&copy.decoder.layers[index].encoderDecoderAttention, prefix + "encoderDecoderAttention")
            try Self.quantize(&copy.decoder.layers[index].feedForward, prefix + "feedForward")
        }
        let (name, weights) = outputProjection.map { ("outputProjection", $0) } ?? ("embedding.weights", embedding.weights)
        do {
            copy.int8Logits = try Int8Matrix(transposing: weights)
        } catch {
            // [V, H] is quantized as its transpose: the error's row is H's, its column V's.
            guard case .notFinite(let row, let column) = error else { throw .weight(name, error) }
            throw .weight(name, .notFinite(row: column, column: row))
        }
        return copy
    }

    /// Whether the model computes with int8 weights (``int8Quantized()``).
    public var isInt8: Bool { int8Logits != nil }

    private static func quantize(_ attention: inout MultiHeadAttention, _ prefix: String) throws(Int8QuantizationError) {
        try quantize(&attention.query, prefix + ".query")
        try quantize(&attention.key, prefix + ".key")
        try quantize(&attention.value, prefix + ".value")
        try quantize(&attention.output, prefix + ".output")
    }

    private static func quantize(_ network: inout FeedForward, _ prefix: String) throws(Int8QuantizationError) {
        try quantize(&network.filter, prefix + ".filter")
        try quantize(&network.output, prefix + ".output")
    }

    private static func quantize(_ layer: inout Linear, _ name: String) throws(Int8QuantizationError) {
        do { layer.int8 = try Int8Matrix(kernel: layer.kernel) } catch { throw .weight(name + ".kernel", error) }
    }
}

/// A model that cannot be quantized to int8.
public enum Int8QuantizationError: Error, Equatable, CustomStringConvertible {
    /// The named parameter (a dotted path, as in checkpoints) holds a value with no int8
    /// form; the position is in the parameter's own [rows, columns].
    case weight(String, Int8MatrixError)

    /// Names the parameter and the element.
    public var description: String {
        switch self {
        case .weight(let name, .notFinite(let row, let column)):
            return "cannot quantize the model to int8: \(name) holds a value that is not a finite number at row \(row), column \(column)"
        }
    }
}
