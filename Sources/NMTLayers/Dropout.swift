import NMTTensor

/// Inverted dropout, active only when the context is training.
///
/// Each dropout site has its own number, `site`, and draws from
/// `context.randomKey.split(site)`; a tensor's elements are numbered from the batch's
/// global first example (``ForwardContext/firstExampleIndex``) so that the mask depends on
/// the example's position, not on how a batch was split across replicas.
public struct Dropout: Layer, Sendable {
    /// Probability of zeroing an element.
    public var rate: Float
    /// This site's stream number (unique within a model).
    public var site: UInt64

    /// Creates a dropout site.
    public init(rate: Float, site: UInt64) {
        precondition(rate >= 0 && rate < 1, "Dropout: rate \(rate) must be in [0, 1)")
        self.rate = rate
        self.site = site
    }

    /// Dropout has no parameters.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {}

    /// Applies dropout to the rows `rows` of a [B·L, W] tensor held as [1, N, W] or [N, W]
    /// (padding removed): each element gets the mask it would get in the full [B, L, W]
    /// tensor, so padding removal does not change which activations are dropped.
    public func callAsFunction(_ x: Tensor, rows: IndexTensor, rowsPerExample: Int, context: ForwardContext) -> Tensor {
        guard context.isTraining, rate > 0, x.scalarCount > 0 else { return x }
        return x.dropout(
            rate: rate, keyBuffer: context.randomKeyBuffer, split: site,
            elementOffset: firstElement(of: x, rowsPerExample: rowsPerExample, context: context), rows: rows)
    }

    /// Applies dropout to [B, ...] in training; returns `x` unchanged otherwise.
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor {
        guard context.isTraining, rate > 0, x.scalarCount > 0 else { return x }
        return x.dropout(
            rate: rate, keyBuffer: context.randomKeyBuffer, split: site,
            elementOffset: firstElement(of: x, rowsPerExample: nil, context: context))
    }

    /// `self(relu(x + bias))`. In training the bias, the ReLU and the dropout run as one pass
    /// over memory (`Tensor.addingBiasReLUDropout`) with the same floats and gradients as
    /// the three operations; otherwise it is `relu(x + bias)`. With `rows`, `x` holds rows
    /// of a larger tensor as in ``callAsFunction(_:rows:rowsPerExample:context:)``.
    public func afterBiasAndReLU(
        _ x: Tensor, bias: Tensor, rows: IndexTensor? = nil, rowsPerExample: Int = 0, context: ForwardContext
    ) -> Tensor {
        guard context.isTraining, rate > 0, x.scalarCount > 0 else { return (x + bias).relu() }
        return x.addingBiasReLUDropout(
            bias, rate: rate, keyBuffer: context.randomKeyBuffer, split: site,
            elementOffset: firstElement(of: x, rowsPerExample: rows == nil ? nil : rowsPerExample, context: context), rows: rows)
    }

    /// `residual + self(x)`, the residual connection around a sublayer with output `x`. In
    /// training the dropout and the add run as one pass over memory
    /// (`Tensor.addingDropout(of:rate:keyBuffer:split:elementOffset:)`) with the same
    /// floats and gradients as the two operations.
    public func residualSum(_ residual: Tensor, _ x: Tensor, context: ForwardContext) -> Tensor {
        guard context.isTraining, rate > 0, x.scalarCount > 0 else { return residual + x }
        return residual.addingDropout(
            of: x, rate: rate, keyBuffer: context.randomKeyBuffer, split: site,
            elementOffset: firstElement(of: x, rowsPerExample: nil, context: context))
    }

    /// Word dropout (Gal & Ghahramani 2016, as Sennrich & Zhang 2019 use it for low-resource
    /// translation): in training, zeroes whole vectors of `x` [B, L, W], each the embedding
    /// of one token, with probability ``rate`` and scales the kept ones by 1 / (1 − rate);
    /// returns `x` unchanged otherwise.
    ///
    /// Vector (b, l) is kept when element `(firstExampleIndex + b)·L + l` of this site's
    /// stream is, so a batch split across replicas drops the tokens the whole batch would.
    public func wholeVectors(_ x: Tensor, context: ForwardContext) -> Tensor {
        guard context.isTraining, rate > 0, x.scalarCount > 0 else { return x }
        precondition(x.rank == 3, "Dropout.wholeVectors: x must be [B, L, W], not \(x.shape)")
        return x.droppingWholeVectors(
            rate: rate, keyBuffer: context.randomKeyBuffer, split: site, vectorOffset: context.firstExampleIndex * x.shape[1])
    }

    /// `self(softmax(logits + bias))`: the attention weights, as one row kernel
    /// (`Tensor.softmaxDropout(adding:rate:keyBuffer:split:elementOffset:)`) with the same
    /// floats and gradients as the three operations, in training and inference alike.
    public func afterBiasAndSoftmax(_ logits: Tensor, bias: Tensor, context: ForwardContext) -> Tensor {
        guard context.isTraining, rate > 0, logits.scalarCount > 0 else { return logits.softmaxDropout(adding: bias) }
        return logits.softmaxDropout(
            adding: bias, rate: rate, keyBuffer: context.randomKeyBuffer, split: site,
            elementOffset: firstElement(of: logits, rowsPerExample: nil, context: context))
    }

    /// The stream position of `x`'s first element: elements are numbered from the batch's
    /// global first example, `rowsPerExample` rows of `x`'s width each when `x` holds rows
    /// of a larger tensor, else `x`'s own elements per example (its first axis).
    private func firstElement(of x: Tensor, rowsPerExample: Int?, context: ForwardContext) -> Int {
        let perExample: Int
        if let rowsPerExample {
            perExample = rowsPerExample * (x.shape.last ?? 1)
        } else {
            perExample = x.rank > 0 && x.shape[0] > 0 ? x.scalarCount / x.shape[0] : x.scalarCount
        }
        return context.firstExampleIndex * perExample
    }
}
