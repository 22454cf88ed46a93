import NMTTensor

/// Adam with TensorFlow 1 semantics, the reference's optimizer (as `LazyAdam`, which is
/// Adam for dense gradients).
///
/// For update number t (from 1): `lr_t = lr·√(1-β2^t)/(1-β1^t)`,
/// `m += (g - m)(1-β1)`, `v += (g² - v)(1-β2)`, `θ -= lr_t·m/(√v + ε)` — epsilon outside
/// the square root, and β^t kept as float32 running products as TensorFlow's
/// `beta1_power`/`beta2_power` variables are.
///
/// With `sparseRows` for a parameter, only those rows of it (and of its moments) are
/// updated: LazyAdam's behaviour for an embedding gradient that is an `IndexedSlices`.
/// Without them the update is dense, identical to Adam.
public struct Adam: Sendable {
    /// β1 (0.9 in the reference).
    public var beta1: Float
    /// β2 (0.997 in the reference).
    public var beta2: Float
    /// ε (1e-9 in the reference).
    public var epsilon: Float
    /// Updates applied so far.
    public private(set) var step: Int
    /// β1^step as a float32 running product.
    public private(set) var beta1Power: Float
    /// β2^step as a float32 running product.
    public private(set) var beta2Power: Float
    /// First moments by parameter name.
    public private(set) var firstMoments: [String: Tensor]
    /// Second moments by parameter name.
    public private(set) var secondMoments: [String: Tensor]

    /// Creates an optimizer with the reference's constants by default.
    public init(beta1: Float = 0.9, beta2: Float = 0.997, epsilon: Float = 1e-9) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        step = 0
        beta1Power = 1
        beta2Power = 1
        firstMoments = [:]
        secondMoments = [:]
    }

    /// Applies one update to every parameter that has a gradient.
    ///
    /// - Parameters:
    ///   - parameters: the model, updated in place.
    ///   - gradients: from ``NMTTensor/valueAndGradient(of:recorder:_:)``.
    ///   - learningRate: this step's rate (from a schedule).
    ///   - sparseRows: for LazyAdam, the rows each named [R, W] parameter's gradient touches
    ///     (duplicates allowed); other parameters are updated densely.
    public mutating func update<Parameters: ParameterContainer>(
        _ parameters: inout Parameters, along gradients: ParameterGradients, learningRate: Float,
        sparseRows: [String: IndexTensor] = [:]
    ) {
        let stepSize = advance(learningRate: learningRate)
        let distinctRows = sparseRows.mapValues { IndexTensor(Array(Set($0.scalars)).sorted()) }
        parameters.visitParameters { name, parameter in
            guard let gradient = gradients[name] else { return }
            let m = firstMoments[name] ?? Tensor.zeros(parameter.shape)
            let v = secondMoments[name] ?? Tensor.zeros(parameter.shape)
            let updated = Tensor.adamUpdate(
                parameter: parameter, gradient: gradient, firstMoment: m, secondMoment: v, stepSize: stepSize,
                beta1: beta1, beta2: beta2, epsilon: epsilon, rows: distinctRows[name])
            parameter = updated.parameter
            firstMoments[name] = updated.firstMoment
            secondMoments[name] = updated.secondMoment
        }
    }

    /// Counts one update (step and β powers) and returns its bias-corrected step size
    /// `lr·√(1-β2^t)/(1-β1^t)`; ``update(_:along:learningRate:sparseRows:)`` calls it.
    ///
    /// A device that keeps parameters and moments in its own memory calls this once per
    /// update, applies ``NMTTensor/AdamKernel`` with the returned step size itself, and
    /// hands the moments back with ``replaceMoments(first:second:)``.
    public mutating func advance(learningRate: Float) -> Float {
        step += 1
        beta1Power *= beta1
        beta2Power *= beta2
        return learningRate * (1 - beta2Power).squareRoot() / (1 - beta1Power)
    }

    /// Replaces the moments by parameter name (see ``advance(learningRate:)``).
    public mutating func replaceMoments(first: [String: Tensor], second: [String: Tensor]) {
        firstMoments = first
        secondMoments = second
    }

    /// Everything needed to resume: moments as `m/NAME` and `v/NAME` tensors, and the step
    /// and β powers as scalars (`step`, `beta1_power`, `beta2_power`).
    public var state: [String: Tensor] {
        var result: [String: Tensor] = [
            "step": Tensor(Float(step)), "beta1_power": Tensor(beta1Power), "beta2_power": Tensor(beta2Power),
        ]
        for (name, m) in firstMoments { result["m/" + name] = m }
        for (name, v) in secondMoments { result["v/" + name] = v }
        return result
    }

    /// Restores a state saved from ``state``.
    ///
    /// - Throws: ``ParameterError/missing(_:)`` when the step or β powers are absent.
    public mutating func restore(_ saved: [String: Tensor]) throws(ParameterError) {
        for required in ["step", "beta1_power", "beta2_power"] where saved[required]?.scalarCount != 1 {
            throw .missing(required)
        }
        step = Int(saved["step"]!.scalar)
        beta1Power = saved["beta1_power"]!.scalar
        beta2Power = saved["beta2_power"]!.scalar
        firstMoments = [:]
        secondMoments = [:]
        for (name, tensor) in saved {
            if name.hasPrefix("m/") { firstMoments[String(name.dropFirst(2))] = tensor }
            if name.hasPrefix("v/") { secondMoments[String(name.dropFirst(2))] = tensor }
        }
    }
}

/// LazyAdam is ``Adam`` given the rows an embedding gradient touches (`sparseRows`); with
/// dense gradients the two are the same optimizer.
public typealias LazyAdam = Adam
