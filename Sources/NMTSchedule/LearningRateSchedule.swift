import Foundation

/// A learning rate as a function of the global step.
public protocol LearningRateSchedule: Sendable {
    /// The learning rate of the update made at `step`, where `step` is the global step
    /// *before* the update (the reference's convention: the first update uses step 0).
    func learningRate(atStep step: Int) -> Float
}

/// The reference schedule (`transformer_main.get_learning_rate`): linear warmup, then
/// decay with the inverse square root of the step,
/// `lr = base · H^-0.5 · min(1, step / warmup) · rsqrt(max(step, warmup))`.
///
/// Evaluated in Float32 in the reference's order of operations. The very first update
/// (step 0) has learning rate 0, as in the reference (kept deliberately, see
/// Documentation/Reference.md, "Training").
public struct WarmupRsqrtSchedule: LearningRateSchedule, Codable, Equatable {
    /// The base learning rate (2.0 in every reference parameter set).
    public var baseLearningRate: Float
    /// The model's hidden size H.
    public var hiddenSize: Int
    /// Steps of linear warmup (16000 in the reference).
    public var warmupSteps: Int

    /// Creates the schedule with the reference defaults.
    public init(baseLearningRate: Float = 2.0, hiddenSize: Int, warmupSteps: Int = 16000) {
        self.baseLearningRate = baseLearningRate
        self.hiddenSize = hiddenSize
        self.warmupSteps = warmupSteps
    }

    /// The learning rate for the update made at `step` (the step before the update).
    public func learningRate(atStep step: Int) -> Float {
        // `learning_rate *= hidden_size ** -0.5` happens in Python floats (double), then
        // becomes a float32 constant; the rest runs as float32 graph ops.
        let scaled = Float(Double(baseLearningRate) * pow(Double(hiddenSize), -0.5))
        let s = Float(step), w = Float(warmupSteps)
        return scaled * min(1, s / w) * (1 / max(s, w).squareRoot())
    }
}
