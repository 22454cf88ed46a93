import Foundation
import NMTLayers
import NMTTensor
import NMTTransformer

/// An exponential moving average of a model's weights during training (Polyak
/// averaging, `tf.train.ExponentialMovingAverage`): after each update,
/// `average = decay · average + (1 - decay) · weights`. Evaluation and translation with
/// the average are usually better than with the last weights, which follow the last
/// batches' noise.
///
/// Checkpoints keep it beside the weights (`ema.safetensors`), and
/// `Checkpoint.loadModel(at:vocabularyHash:averagedWeights:warning:)` hands out the
/// averaged weights when a checkpoint has them.
public struct ExponentialMovingAverage: Sendable {
    /// The file inside a checkpoint.
    public static let fileName = "ema.safetensors"

    /// The weight of the old average at each update, in (0, 1).
    public let decay: Float
    /// The averaged value of each parameter, by name.
    public private(set) var weights: [String: Tensor]

    /// An average that starts at `model`'s weights.
    public init(decay: Float, startingAt model: Transformer) {
        precondition(decay > 0 && decay < 1, "ExponentialMovingAverage: decay \(decay) must be in (0, 1)")
        self.decay = decay
        weights = Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.tensor) })
    }

    /// An average restored from a checkpoint.
    public init(decay: Float, weights: [String: Tensor]) {
        precondition(decay > 0 && decay < 1, "ExponentialMovingAverage: decay \(decay) must be in (0, 1)")
        self.decay = decay
        self.weights = weights
    }

    /// Moves the average toward `model`'s weights for `steps` updates. Several steps at
    /// once (a device loop of several steps, whose intermediate weights the host never
    /// sees) use the decay of that many steps, `decay^steps`.
    public mutating func update(toward model: Transformer, steps: Int = 1) {
        guard steps > 0 else { return }
        let kept = Float(Foundation.pow(Double(decay), Double(steps)))
        let moved = 1 - kept
        // In place: every step would otherwise allocate three tensors per parameter. The
        // first update copies the buffers the average shares with the starting weights.
        for (name, tensor) in model.namedParameters {
            weights[name]!.withUnsafeMutableBufferPointer { average in
                tensor.withUnsafeBufferPointer { current in
                    for i in average.indices { average[i] = average[i] * kept + current[i] * moved }
                }
            }
        }
    }

    /// `model` with the averaged weights.
    ///
    /// - Throws: `ParameterError` when the average does not fit the model.
    public func applied(to model: Transformer) throws -> Transformer {
        var averaged = model
        try averaged.load(weights)
        return averaged
    }
}
