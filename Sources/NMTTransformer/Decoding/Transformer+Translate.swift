import Foundation
import NMTLayers
import NMTTensor

extension Transformer {
    /// Translates source ids [B, S] with the reference beam search and the
    /// configuration's decoding settings (``TransformerConfiguration/beamSize``,
    /// ``TransformerConfiguration/alpha``, ``TransformerConfiguration/extraDecodeLength``):
    /// what the reference's model does when it predicts.
    ///
    /// - Parameters:
    ///   - inputs: source ids [B, S], 0-padded, each sentence ending in EOS.
    ///   - plan: how the device computes (see `ExecutionPlan`; a device hands its own).
    public func translate(_ inputs: IndexTensor, plan: ExecutionPlan) -> DecodedBatch {
        translate(inputs, options: configuration.decodingOptions, plan: plan)
    }

    /// Translates source ids [B, S] as `options` says: its strategy (beam search, greedy
    /// decoding, sampling) up to S + `options.extraDecodeLength` tokens, with the optional
    /// per-sentence length limit and n-gram repeat blocking.
    ///
    /// - Parameters:
    ///   - inputs: source ids [B, S], 0-padded, each sentence ending in EOS.
    ///   - options: the search and its limits; must be valid (``DecodingOptions/problem`` nil).
    ///   - sentenceIndices: each row's position in the caller's input (default 0..<B): a
    ///     sampled sentence draws from the options' seed split by it, so its draws do not
    ///     depend on the batch it is in.
    ///   - plan: how the device computes (see `ExecutionPlan`; a device hands its own).
    public func translate(
        _ inputs: IndexTensor, options: DecodingOptions, sentenceIndices: [Int]? = nil, plan: ExecutionPlan
    ) -> DecodedBatch {
        precondition(options.problem == nil, "translate: \(options.problem ?? "")")
        let (batch, width) = (inputs.shape[0], inputs.shape[1])
        let maximumLength = width + options.extraDecodeLength
        let ids = inputs.scalars
        let limits = options.lengthLimit.map { limit in
            (0..<batch).map { b in
                min(maximumLength, limit.tokens(forSourceLength: ids[(b * width)..<((b + 1) * width)].filter { $0 != 0 }.count))
            }
        }
        let rows = sentenceIndices ?? Array(0..<batch)
        precondition(rows.count == batch, "translate: \(rows.count) sentence indices for \(batch) sentences")
        let request = DecodingRequest(
            inputs: inputs, maximumLength: maximumLength, sentenceMaximumLengths: limits,
            noRepeatNgramSize: options.noRepeatNgramSize, sentenceIndices: rows, plan: plan)
        return options.strategy.decode(request, with: self)
    }
}
