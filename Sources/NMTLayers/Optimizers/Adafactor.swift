import Foundation
import NMTTensor

/// Adafactor (Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory
/// Cost", 2018), the Tensor2Tensor default for big Transformers, with its defaults.
///
/// For update number t (from 1), with `d_t = 1 - t^(-0.8)` (``decayExponent``) and the
/// gradient `G`:
/// - Second moments of `G² + ε1`, decayed by `d_t`. For a matrix [R, C] (and each matrix
///   of a higher-rank parameter) they are factored: row means `vr` [R] and column means
///   `vc` [C] instead of R·C values, and `V̂ = vr·vcᵀ / mean(vr)`. Vectors keep a full `v`.
/// - The update `U = G / √V̂`, divided by `max(1, RMS(U) / clippingThreshold)` (update
///   clipping).
/// - Its size: the relative step `ρ_t = min(1e-2, 1/√t)` (or the schedule's learning rate
///   when ``relativeStep`` is false) times `max(ε2, RMS(θ))` (``multipliesByParameterScale``).
/// - `θ -= size·U`, through a momentum `m = β1·m + (1 - β1)·size·U` when β1 > 0 (0 by
///   default: no first moment is kept).
///
/// Slots: `vr` and `vc` for factored parameters, `v` otherwise, and `m` when β1 > 0.
public struct Adafactor: Optimizer {
    /// β1 of the optional momentum (0: none, the default).
    public var beta1: Float
    /// The exponent of the second-moment decay `1 - t^(-exponent)` (0.8).
    public var decayExponent: Float
    /// ε1, added to squared gradients (1e-30).
    public var epsilon1: Float
    /// ε2, the smallest parameter scale (1e-3).
    public var epsilon2: Float
    /// The RMS above which an update is scaled down (1); nil turns clipping off.
    public var clippingThreshold: Float?
    /// Whether the step is relative to the parameter's RMS (true).
    public var multipliesByParameterScale: Bool
    /// Whether the step size is the paper's `min(1e-2, 1/√t)` (true) rather than the
    /// learning rate the trainer's schedule passes in.
    public var relativeStep: Bool
    /// Whether matrices keep factored second moments (true).
    public var factored: Bool
    /// Updates applied so far.
    public private(set) var step = 0
    /// The statistics by parameter name (`vr`, `vc` or `v`, and `m`).
    public var slotValues: [String: [String: Tensor]] = [:]

    /// Creates an optimizer with the paper's and Tensor2Tensor's defaults.
    public init(
        beta1: Float = 0, decayExponent: Float = 0.8, epsilon1: Float = 1e-30, epsilon2: Float = 1e-3,
        clippingThreshold: Float? = 1, multipliesByParameterScale: Bool = true, relativeStep: Bool = true,
        factored: Bool = true
    ) {
        self.beta1 = beta1
        self.decayExponent = decayExponent
        self.epsilon1 = epsilon1
        self.epsilon2 = epsilon2
        self.clippingThreshold = clippingThreshold
        self.multipliesByParameterScale = multipliesByParameterScale
        self.relativeStep = relativeStep
        self.factored = factored
    }

    /// What one step shares: the second-moment decay `d_t` and the step size `ρ_t`.
    public struct StepConstants: Sendable {
        /// `1 - t^(-decayExponent)`.
        public var decay: Float
        /// The relative step (or the schedule's rate).
        public var stepSize: Float
    }

    /// ``OptimizerKind/adafactor``.
    public var kind: OptimizerKind { .adafactor }

    /// `vr` [..., R] and `vc` [..., C] for a matrix, `v` otherwise; `m` when β1 > 0.
    public func slots(forParameterShape shape: [Int]) -> [OptimizerSlot] {
        var result: [OptimizerSlot]
        if factored && shape.count >= 2 {
            result = [
                OptimizerSlot(name: "vr", shape: Array(shape.dropLast())),
                OptimizerSlot(name: "vc", shape: Array(shape.dropLast(2)) + [shape[shape.count - 1]]),
            ]
        } else {
            result = [OptimizerSlot(name: "v", shape: shape)]
        }
        if beta1 > 0 { result.append(OptimizerSlot(name: "m", shape: shape)) }
        return result
    }

    /// Counts one update and returns its decay and step size.
    public mutating func beginStep(learningRate: Float) -> StepConstants {
        step += 1
        let t = Float(step)
        return StepConstants(
            decay: 1 - pow(t, -decayExponent), stepSize: relativeStep ? min(1e-2, 1 / t.squareRoot()) : learningRate)
    }

    /// Updates one parameter and its statistics in place.
    public func apply(_ constants: StepConstants, to memory: ParameterMemory) {
        let count = memory.count
        let columns = memory.shape.last ?? 1
        let rows = count / max(columns, 1)
        var size = constants.stepSize
        if multipliesByParameterScale {
            size *= max(epsilon2, Self.rootMeanSquare(rows: rows, columns: columns) { row, range in
                Self.sumOfSquares(memory.parameter + row * columns, range)
            })
        }
        // The update is U = G ⊙ P for a preconditioner P: the outer product of row and
        // column factors for a factored matrix, 1/√v elementwise otherwise. It is applied
        // row by row (a vector is one row), in two passes: its RMS for clipping, then the
        // step, so that no update-sized scratch memory is needed.
        let g = memory.gradient
        let rowFactors: [Float], columnFactors: [Float]
        if factored && memory.shape.count >= 2 {
            (rowFactors, columnFactors) = Self.updateFactoredMoments(
                memory, rows: memory.shape[memory.shape.count - 2], columns: columns, decay: constants.decay,
                epsilon1: epsilon1)
        } else {
            let v = memory.slots[0]
            let decay = constants.decay, epsilon1 = epsilon1
            Parallel.forChunks(count, costPerItem: 4) { range in
                for i in range { v[i] = decay * v[i] + (1 - decay) * (g[i] * g[i] + epsilon1) }
            }
            (rowFactors, columnFactors) = ([], [])
        }
        let isFactored = !rowFactors.isEmpty
        let matrixRows = isFactored ? memory.shape[memory.shape.count - 2] : 1
        /// Elements `range` of row `row` of U, handed to `body` one by one.
        func update(row: Int, _ range: Range<Int>, _ body: (Int, Float) -> Void) {
            let start = row * columns
            if isFactored {
                let rowFactor = rowFactors[row], columnBase = (row / matrixRows) * columns
                for c in range { body(start + c, g[start + c] * rowFactor * columnFactors[columnBase + c]) }
            } else {
                let v = memory.slots[0]
                for c in range { body(start + c, g[start + c] * (1 / v[start + c].squareRoot())) }
            }
        }
        if let clippingThreshold {
            let rms = Self.rootMeanSquare(rows: rows, columns: columns) { row, range in
                var sum = 0.0
                update(row: row, range) { _, u in sum += Double(u) * Double(u) }
                return sum
            }
            size /= max(1, rms / clippingThreshold)
        }
        let p = memory.parameter, beta1 = beta1
        let m = beta1 > 0 ? memory.slots[memory.slots.count - 1] : nil
        Parallel.forChunks(rows, costPerItem: columns * 4) { rowRange in
            for row in rowRange {
                update(row: row, 0..<columns) { i, u in
                    if let m {
                        m[i] = beta1 * m[i] + (1 - beta1) * (size * u)
                        p[i] -= m[i]
                    } else {
                        p[i] -= size * u
                    }
                }
            }
        }
    }

    /// Decays the row and column statistics of each [R, C] matrix towards this gradient's
    /// and returns the factors `1/√(vr/mean(vr))` per row and `1/√vc` per column.
    private static func updateFactoredMoments(
        _ memory: ParameterMemory, rows: Int, columns: Int, decay: Float, epsilon1: Float
    ) -> (rows: [Float], columns: [Float]) {
        let g = memory.gradient, vr = memory.slots[0], vc = memory.slots[1]
        let matrices = memory.count / (rows * columns)
        var rowFactors = [Float](repeating: 0, count: matrices * rows)
        var columnFactors = [Float](repeating: 0, count: matrices * columns)
        var columnSums = [Double](repeating: 0, count: columns)
        for matrix in 0..<matrices {
            for column in 0..<columns { columnSums[column] = 0 }
            var rowMeanSum = 0.0
            for row in 0..<rows {
                let start = (matrix * rows + row) * columns
                var rowSum = 0.0
                for column in 0..<columns {
                    let squared = Double(g[start + column] * g[start + column] + epsilon1)
                    rowSum += squared
                    columnSums[column] += squared
                }
                let r = matrix * rows + row
                vr[r] = decay * vr[r] + (1 - decay) * Float(rowSum / Double(columns))
                rowMeanSum += Double(vr[r])
            }
            let longTermMean = Float(rowMeanSum / Double(rows))
            for row in 0..<rows {
                let r = matrix * rows + row
                rowFactors[r] = 1 / (vr[r] / longTermMean).squareRoot()
            }
            for column in 0..<columns {
                let c = matrix * columns + column
                vc[c] = decay * vc[c] + (1 - decay) * Float(columnSums[column] / Double(rows))
                columnFactors[c] = 1 / vc[c].squareRoot()
            }
        }
        return (rowFactors, columnFactors)
    }

    /// `√(mean(x²))` over `rows` rows of `columns` elements, where `rowSum(row, range)`
    /// gives `Σ x²` of one row's elements `range`: rows are summed concurrently into one
    /// slot each and then added in row order, so the result does not depend on threads.
    private static func rootMeanSquare(rows: Int, columns: Int, _ rowSum: (Int, Range<Int>) -> Double) -> Float {
        var sums = [Double](repeating: 0, count: rows)
        sums.withUnsafeMutableBufferPointer { sums in
            let sums = sums
            Parallel.forChunks(rows, costPerItem: columns * 2) { rowRange in
                for row in rowRange { sums[row] = rowSum(row, 0..<columns) }
            }
        }
        return Float((sums.reduce(0, +) / Double(max(rows * columns, 1))).squareRoot())
    }

    /// `Σ x²` over `range` in double precision.
    private static func sumOfSquares(_ x: UnsafePointer<Float>, _ range: Range<Int>) -> Double {
        var sum = 0.0
        for i in range { sum += Double(x[i]) * Double(x[i]) }
        return sum
    }

    /// `step`.
    public var scalarState: [String: Float] { ["step": Float(step)] }

    /// Restores `step`.
    public mutating func restoreScalars(_ scalars: [String: Float]) throws(ParameterError) {
        guard let savedStep = scalars["step"] else { throw .missing("step") }
        step = Int(savedStep)
    }
}
