import Foundation

/// Row-wise kernels over the last axis: softmax, log-softmax and layer normalization,
/// each forward and backward in one pass over the data.
enum NormalizationKernels {
    /// Writes `exp(x - max(x))` of one row into `y` and returns the row maximum and the
    /// sum of the exponentials (the shared first half of softmax and log-softmax).
    @inline(__always)
    static func shiftedExp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, width: Int)
        -> (maximum: Float, sum: Float)
    {
        let maximum = ReductionKernels.reduceRow(.max, x, count: width)
        for i in 0..<width { y[i] = x[i] - maximum }
        ElementwiseKernels.exp(y, y, count: width)
        return (maximum, ReductionKernels.reduceRow(.sum, y, count: width))
    }

    /// y = softmax(x) per row of `width`, stable (the row maximum is subtracted first).
    static func softmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        Parallel.forChunks(rows, costPerItem: width * 4) { range in
            for r in range { softmaxRow(x + r * width, y + r * width, width: width) }
        }
    }

    /// y = softmax(x) of one row; `y` may be `x`.
    @inline(__always)
    static func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, width: Int) {
        let scale = 1 / shiftedExp(x, y, width: width).sum
        for i in 0..<width { y[i] *= scale }
    }

    /// y = softmax(x + bias) of one row, the floats of the add followed by ``softmaxRow(_:_:width:)``.
    @inline(__always)
    static func biasSoftmax(
        _ x: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, width: Int
    ) {
        for i in 0..<width { y[i] = x[i] + bias[i] }
        softmaxRow(y, y, width: width)
    }

    /// dx = y * (g - Σ g*y) per row, the gradient of softmax with output y.
    static func softmaxBackward(
        _ g: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, width: Int
    ) {
        Parallel.forChunks(rows, costPerItem: width * 2) { range in
            for r in range { softmaxBackwardRow(g + r * width, y + r * width, dx + r * width, width: width) }
        }
    }

    /// dx = y * (g - Σ g*y) of one row; `dx` may be `g`.
    @inline(__always)
    static func softmaxBackwardRow(
        _ g: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, width: Int
    ) {
        var dot: Float = 0
        for i in 0..<width { dot += g[i] * y[i] }
        for i in 0..<width { dx[i] = y[i] * (g[i] - dot) }
    }

    /// y = x - max - log Σ exp(x - max) per row.
    static func logSoftmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        Parallel.forChunks(rows, costPerItem: width * 4) { range in
            for r in range {
                let xr = x + r * width, yr = y + r * width
                // The exponentials go to y temporarily, then y is rewritten from x: no scratch.
                let (maximum, sum) = shiftedExp(xr, yr, width: width)
                let shift = maximum + Foundation.log(sum)
                for i in 0..<width { yr[i] = xr[i] - shift }
            }
        }
    }

    /// dx = g - exp(y) * Σ g per row, the gradient of log-softmax with output y.
    static func logSoftmaxBackward(
        _ g: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, width: Int
    ) {
        Parallel.forChunks(rows, costPerItem: width * 4) { range in
            for r in range {
                let gr = g + r * width, yr = y + r * width, dr = dx + r * width
                let total = ReductionKernels.reduceRow(.sum, gr, count: width)
                ElementwiseKernels.exp(yr, dr, count: width)
                for i in 0..<width { dr[i] = gr[i] - dr[i] * total }
            }
        }
    }

    /// y = (x - mean) / sqrt(var + epsilon) * scale + bias per row; also writes each row's
    /// mean and 1/sqrt(var + epsilon) for the backward pass.
    static func layerNorm(
        _ x: UnsafePointer<Float>, _ scale: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
        _ y: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
        rows: Int, width: Int, epsilon: Float
    ) {
        Parallel.forChunks(rows, costPerItem: width * 3) { range in
            for r in range {
                let xr = x + r * width, yr = y + r * width
                let mu = ReductionKernels.reduceRow(.sum, xr, count: width) / Float(width)
                // Two-pass variance, as the reference computes mean((x - mean)^2).
                var sq: Float = 0
                for i in 0..<width {
                    let c = xr[i] - mu
                    sq += c * c
                }
                let inv = 1 / (sq / Float(width) + epsilon).squareRoot()
                for i in 0..<width { yr[i] = (xr[i] - mu) * inv * scale[i] + bias[i] }
                mean[r] = mu
                rstd[r] = inv
            }
        }
    }

    /// Gradients of layer normalization: dx per row, and dscale, dbias summed over rows.
    ///
    /// With x̂ = (x - mean) * rstd and ĝ = g * scale:
    /// dx = rstd * (ĝ - mean(ĝ) - x̂ * mean(ĝ * x̂)).
    static func layerNormBackward(
        _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ scale: UnsafePointer<Float>,
        _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>, _ dscale: UnsafeMutablePointer<Float>, _ dbias: UnsafeMutablePointer<Float>,
        rows: Int, width: Int
    ) {
        dscale.initialize(repeating: 0, count: width)
        dbias.initialize(repeating: 0, count: width)
        // dx rows are independent; parameter sums are accumulated in row order afterwards so
        // that the result does not depend on how rows were split across threads.
        Parallel.forChunks(rows, costPerItem: width * 4) { range in
            for r in range {
                let gr = g + r * width, xr = x + r * width, dr = dx + r * width
                let mu = mean[r], inv = rstd[r]
                var sumG: Float = 0, sumGX: Float = 0
                for i in 0..<width {
                    let gh = gr[i] * scale[i]
                    sumG += gh
                    sumGX += gh * (xr[i] - mu) * inv
                }
                let meanG = sumG / Float(width), meanGX = sumGX / Float(width)
                for i in 0..<width {
                    let xhat = (xr[i] - mu) * inv
                    dr[i] = inv * (gr[i] * scale[i] - meanG - xhat * meanGX)
                }
            }
        }
        for r in 0..<rows {
            let gr = g + r * width, xr = x + r * width
            let mu = mean[r], inv = rstd[r]
            for i in 0..<width {
                dscale[i] += gr[i] * (xr[i] - mu) * inv
                dbias[i] += gr[i]
            }
        }
    }
}
