import Foundation
import NMTTensor

/// The reference training loss (`metrics.padded_cross_entropy_loss`): label-smoothed
/// cross-entropy minus its smallest possible value, counted on non-padding targets.
public enum TransformerLoss {
    /// The soft-target values and normalizing constant for `smoothing` over V ids.
    ///
    /// `on = 1 - smoothing`, `off = (1 - on) / (V - 1)` (Python doubles in the reference,
    /// then float32), and `constant = -(on·ln on + (V-1)·off·ln(off + 1e-20))` computed in
    /// float32 as the reference graph does. For V = 33708 and smoothing 0.1,
    /// off = 2.96674e-6 and the constant is 1.3676291.
    public static func smoothingConstants(smoothing: Float, vocabularySize: Int)
        -> (on: Float, off: Float, normalizingConstant: Float)
    {
        let confidence = 1 - Double(smoothing)
        let on = Float(confidence)
        let off = Float((1 - confidence) / Double(vocabularySize - 1))
        // 0·ln 0 is taken as 0 (smoothing 0 gives on = 1, off = 0).
        let onTerm = on * Foundation.log(on)
        let offTerm = Float(vocabularySize - 1) * off * Foundation.log(off + 1e-20)
        return (on, off, -(onTerm + offTerm))
    }

    /// Per-token losses and weights.
    ///
    /// - Parameters:
    ///   - logits: [B, T, V].
    ///   - labels: [B, T] target ids (0 = padding).
    ///   - smoothing: label smoothing (0.1 in training, 0 for perplexity).
    /// - Returns: `losses` [B, T], zero at padding, and `weights` [B, T], 1 at non-padding.
    public static func paddedCrossEntropy(logits: Tensor, labels: IndexTensor, smoothing: Float)
        -> (losses: Tensor, weights: Tensor)
    {
        precondition(
            logits.rank == 3 && labels.shape == Array(logits.shape.prefix(2)),
            "paddedCrossEntropy: logits \(logits.shape) and labels \(labels.shape) disagree")
        let (batch, length, vocabulary) = (logits.shape[0], logits.shape[1], logits.shape[2])
        let (on, off, constant) = smoothingConstants(smoothing: smoothing, vocabularySize: vocabulary)
        let crossEntropy = logits.reshaped(to: [batch * length, vocabulary])
            .softmaxCrossEntropy(labels: labels.reshaped(to: [batch * length]), onValue: on, offValue: off)
        let weights = 1 - labels.mask(equalTo: 0)
        return ((crossEntropy.reshaped(to: [batch, length]) - constant) * weights, weights)
    }

    /// The training loss: Σ losses / Σ weights over a batch, a scalar.
    public static func mean(logits: Tensor, labels: IndexTensor, smoothing: Float) -> Tensor {
        let (losses, weights) = paddedCrossEntropy(logits: logits, labels: labels, smoothing: smoothing)
        return losses.sum() / weights.sum()
    }

    /// The training loss of decoder outputs through an output layer without bias, with the
    /// logits gradient never materialized (`Tensor.projectedSoftmaxCrossEntropy`):
    /// the loss of `mean(logits: hidden · outputWeightsᵀ, …)`, equal to it to rounding.
    ///
    /// - Parameters:
    ///   - hidden: decoder outputs [B, T, H].
    ///   - outputWeights: the output projection [V, H] (the shared embedding table).
    ///   - labels: [B, T] target ids (0 = padding).
    ///   - smoothing: label smoothing.
    /// - Returns: a scalar.
    public static func mean(hidden: Tensor, outputWeights: Tensor, labels: IndexTensor, smoothing: Float) -> Tensor {
        precondition(
            hidden.rank == 3 && labels.shape == Array(hidden.shape.prefix(2)),
            "TransformerLoss.mean: hidden \(hidden.shape) and labels \(labels.shape) disagree")
        let (batch, length) = (hidden.shape[0], hidden.shape[1])
        let (on, off, constant) = smoothingConstants(smoothing: smoothing, vocabularySize: outputWeights.shape[0])
        // Padding rows are skipped (loss 0); the weights zero them as in `paddedCrossEntropy`.
        let crossEntropy = hidden.reshaped(to: [batch * length, hidden.shape[2]]).projectedSoftmaxCrossEntropy(
            weights: outputWeights, labels: labels.reshaped(to: [batch * length]), onValue: on, offValue: off,
            ignoredLabel: 0)
        let weights = 1 - labels.mask(equalTo: 0)
        return ((crossEntropy.reshaped(to: [batch, length]) - constant) * weights).sum() / weights.sum()
    }
}
