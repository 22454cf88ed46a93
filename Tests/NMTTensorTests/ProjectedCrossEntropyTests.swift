import CNMTKernels
@testable import NMTTensor
import NMTTestSupport
import XCTest

/// The fused output layer and loss (`projectedSoftmaxCrossEntropy`) and its product
/// kernel (`nmt_accumulate_products`): the kernel bit for bit against the fused
/// multiply-add chain written here, at every width; the op within derived rounding bounds
/// of the unfused `matmul` + `softmaxCrossEntropy` and their autodiff gradients.
final class ProjectedCrossEntropyTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    /// Rows that fill 6-row (AVX-512) and 4-row (AVX2) blocks and leave some over, column
    /// counts with masked and scalar tails and two 64-column blocks, both stride layouts
    /// (the weight gradient reads the tile down its columns, the hidden gradient along its
    /// rows), a nonzero start and a depth of zero.
    func testAccumulatedProductsAreTheFusedMultiplyAddChainAtEveryWidth() {
        let shapes = [(1, 1, 1), (6, 9, 64), (9, 12, 40), (13, 20, 70), (7, 33, 17), (11, 5, 130), (4, 0, 9), (5, 8, 5)]
        for (index, (rows, depth, columns)) in shapes.enumerated() {
            let a = patternTensor([rows * depth], frequency: 0.7 + Double(index) * 0.1, amplitude: 2).scalars
            let b = patternTensor([depth * columns], frequency: 0.31 + Double(index) * 0.05, amplitude: 0.7).scalars
            let start = patternTensor([rows * columns], frequency: 1.1, amplitude: 0.3).scalars
            for (rowStride, depthStride) in [(depth, 1), (1, rows)] {
                var expected = start
                for r in 0..<rows {
                    for j in 0..<columns {
                        for i in 0..<depth { expected[r * columns + j].addProduct(a[r * rowStride + i * depthStride], b[i * columns + j]) }
                    }
                }
                for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                    var c = start
                    nmt_accumulate_products(a, rowStride, depthStride, b, columns, &c, columns, rows, depth, columns)
                    XCTAssertEqual(
                        c.map(\.bitPattern), expected.map(\.bitPattern),
                        "[\(rows), \(depth)]·[\(depth), \(columns)], strides (\(rowStride), \(depthStride)), width \(bits)")
                    // The depth in two calls continues the same chains.
                    let half = depth / 2
                    var split = start
                    a.withUnsafeBufferPointer { a in
                        b.withUnsafeBufferPointer { b in
                            let (a, b) = (a.baseAddress!, b.baseAddress!)
                            nmt_accumulate_products(a, rowStride, depthStride, b, columns, &split, columns, rows, half, columns)
                            nmt_accumulate_products(
                                a + half * depthStride, rowStride, depthStride, b + half * columns, columns, &split, columns,
                                rows, depth - half, columns)
                        }
                    }
                    XCTAssertEqual(split.map(\.bitPattern), expected.map(\.bitPattern), "split depth, width \(bits)")
                }
            }
        }
    }

    /// A problem with a vocabulary not a multiple of 16 and spread over several slots and
    /// tiles (600 ids: 38 panels), a depth that is not a multiple of 16, padding rows
    /// (label 0, ignored) and rows whose loss gradient is 0.
    private struct Problem {
        let hidden: Tensor, weights: Tensor, labels: IndexTensor, rowWeights: Tensor
        let on: Float = 0.9, off: Float

        init(rows: Int = 70, depth: Int = 37, vocabulary: Int = 600) {
            off = 0.1 / Float(vocabulary - 1)
            hidden = patternTensor([rows, depth], frequency: 0.37, amplitude: 1.5)
            weights = patternTensor([vocabulary, depth], frequency: 0.113, amplitude: 0.6, phase: 0.4)
            labels = IndexTensor(shape: [rows], scalars: (0..<rows).map { $0 % 9 == 4 ? 0 : Int32(($0 * 37 + 11) % vocabulary) })
            // Per-row loss weights: every seventh row 0 (skipped in the backward pass).
            rowWeights = Tensor(shape: [rows], scalars: (0..<rows).map { $0 % 7 == 3 ? 0 : 0.5 + Float($0 % 5) / 4 })
        }

        /// The loss Σ ce·weight with the fused op, its value and gradients.
        func fused() -> (Tensor, [Tensor]) {
            valueAndGradient(at: [hidden, weights]) { p in
                (p[0].projectedSoftmaxCrossEntropy(weights: p[1], labels: labels, onValue: on, offValue: off, ignoredLabel: 0)
                    * rowWeights).sum()
            }
        }

        /// The same loss from the unfused ops, padding rows weighted 0.
        func unfused() -> (Tensor, [Tensor], logits: [Float]) {
            let mask = rowWeights * (1 - labels.mask(equalTo: 0))
            let (value, gradients) = valueAndGradient(at: [hidden, weights]) { p in
                (Tensor.matmul(p[0], p[1], transposeB: true).softmaxCrossEntropy(labels: labels, onValue: on, offValue: off)
                    * mask).sum()
            }
            return (value, gradients, Tensor.matmul(hidden, weights, transposeB: true).scalars)
        }
    }

    /// Each logit is a depth-k sum in either order (the panel chain, BLAS), so two differ by
    /// at most δ = 2k·2⁻²⁴·Σ|x_i w_i|. The loss and softmax move with the logits at most as
    /// fast as the logits themselves (their derivatives are bounded by Σt + 1 = 2), and the
    /// gradient element g(Σt·p - t) by g·p·2δ; each gradient entry then sums n such terms
    /// in another order: n·2⁻²³ of the magnitudes. 16 ulps cover the exp and the few
    /// roundings of the per-row formula.
    func testAgreesWithTheUnfusedOpsWithinRounding() {
        let problem = Problem()
        let (fusedLoss, fused) = problem.fused()
        let (unfusedLoss, unfused, logits) = problem.unfused()
        let (rows, depth, vocabulary) = (70, 37, 600)
        let xs = problem.hidden.scalars, ws = problem.weights.scalars, labels = problem.labels.scalars
        let weights = problem.rowWeights.scalars
        let epsilon = Float(0x1p-24)
        var probabilities = [Float](repeating: 0, count: rows * vocabulary), delta = [Float](repeating: 0, count: rows)
        var lossBound: Float = 0
        for r in 0..<rows {
            let row = logits[(r * vocabulary)..<((r + 1) * vocabulary)]
            let maximum = row.max()!
            let sum = row.reduce(Float(0)) { $0 + exp($1 - maximum) }
            for v in 0..<vocabulary { probabilities[r * vocabulary + v] = exp(row[r * vocabulary + v] - maximum) / sum }
            delta[r] = (0..<vocabulary).map { v in
                2 * Float(depth) * epsilon * (0..<depth).reduce(Float(0)) { $0 + abs(xs[r * depth + $1] * ws[v * depth + $1]) }
            }.max()!
            if labels[r] != 0 { lossBound += weights[r] * (2 * delta[r] + 16 * epsilon * (1 + abs(maximum) + log(sum))) }
        }
        XCTAssertEqual(fusedLoss.scalar, unfusedLoss.scalar, accuracy: lossBound + Float(rows) * 2 * epsilon * abs(unfusedLoss.scalar))
        let g = (0..<rows).map { labels[$0] == 0 ? 0 : weights[$0] }
        func gradientTerm(_ r: Int, _ v: Int) -> (value: Float, error: Float) {
            let p = probabilities[r * vocabulary + v]
            let target = v == Int(labels[r]) ? problem.on : problem.off
            return (g[r] * (p - target), g[r] * (p * (2 * delta[r] + 16 * epsilon) + 16 * epsilon * abs(p - target)))
        }
        // Σ_i G_i·f_i in another order: the terms' own errors times |f_i|, plus 2⁻²³ of the
        // magnitudes per rounding.
        func sumBound(_ count: Int, roundings: Int, _ term: (Int) -> (gradient: (value: Float, error: Float), factor: Float)) -> Float {
            var magnitude: Float = 0, error: Float = 0
            for i in 0..<count {
                let (gradient, factor) = term(i)
                magnitude += abs(gradient.value * factor)
                error += gradient.error * abs(factor)
            }
            return error + Float(roundings) * 2 * epsilon * magnitude
        }
        // dx[r, j] = Σ_v G[r, v] W[v, j], in 8 slots added at the end.
        for r in 0..<rows {
            for j in 0..<depth {
                let bound = sumBound(vocabulary, roundings: vocabulary + 8) { v in (gradientTerm(r, v), ws[v * depth + j]) }
                XCTAssertEqual(fused[0].scalars[r * depth + j], unfused[0].scalars[r * depth + j], accuracy: bound, "dx (\(r), \(j))")
            }
        }
        // dW[v, j] = Σ_r G[r, v] x[r, j]
        for v in 0..<vocabulary {
            for j in 0..<depth {
                let bound = sumBound(rows, roundings: rows) { r in (gradientTerm(r, v), xs[r * depth + j]) }
                XCTAssertEqual(fused[1].scalars[v * depth + j], unfused[1].scalars[v * depth + j], accuracy: bound, "dW (\(v), \(j))")
            }
        }
    }

    /// Padding rows have loss 0 and, with rows of zero loss gradient, a zero hidden gradient;
    /// the losses of the other rows are those of the unfused op on the panel product's
    /// logits, bit for bit (the same row kernel on the same floats).
    func testSkippedRowsAndTheLossOfTheOthers() {
        let problem = Problem()
        let (_, fused) = problem.fused()
        let losses = problem.hidden.projectedSoftmaxCrossEntropy(
            weights: problem.weights, labels: problem.labels, onValue: problem.on, offValue: problem.off, ignoredLabel: 0)
        let logits = Tensor.matmul(problem.hidden, packed: PackedMatrix(transposing: problem.weights))
        let reference = logits.softmaxCrossEntropy(labels: problem.labels, onValue: problem.on, offValue: problem.off)
        let depth = 37
        for (r, label) in problem.labels.scalars.enumerated() {
            if label == 0 {
                XCTAssertEqual(losses.scalars[r], 0, "padding row \(r)")
            } else {
                XCTAssertEqual(losses.scalars[r].bitPattern, reference.scalars[r].bitPattern, "row \(r)")
            }
            if label == 0 || problem.rowWeights.scalars[r] == 0 {
                XCTAssertEqual(Array(fused[0].scalars[(r * depth)..<((r + 1) * depth)]), Array(repeating: 0, count: depth), "row \(r)")
            }
        }
    }

    /// From depth 512 the forward pass computes 128 rows a block (and AVX-512 three panels
    /// at a time): 300 rows are three blocks, the last partial. Every kept row's loss is
    /// still the unfused op's on the panel product's logits, bit for bit, whether the
    /// logits are kept or computed again in the backward pass.
    func testDeepRowsInBlocksGiveEachRowsLossBitForBit() {
        let problem = Problem(rows: 300, depth: 512, vocabulary: 100)
        let logits = Tensor.matmul(problem.hidden, packed: PackedMatrix(transposing: problem.weights))
        let reference = logits.softmaxCrossEntropy(labels: problem.labels, onValue: problem.on, offValue: problem.off)
        let (_, kept) = problem.fused()
        let previous = ProjectedCrossEntropyKernels.maximumStoredLogits.exchange(0, ordering: .relaxed)
        defer { ProjectedCrossEntropyKernels.maximumStoredLogits.store(previous, ordering: .relaxed) }
        let (_, recomputed) = problem.fused()
        for (a, b) in zip(kept, recomputed) { XCTAssertEqual(a.scalars.map(\.bitPattern), b.scalars.map(\.bitPattern)) }
        let losses = problem.hidden.projectedSoftmaxCrossEntropy(
            weights: problem.weights, labels: problem.labels, onValue: problem.on, offValue: problem.off, ignoredLabel: 0)
        for (r, label) in problem.labels.scalars.enumerated() {
            let expected = label == 0 ? 0 : reference.scalars[r]
            XCTAssertEqual(losses.scalars[r].bitPattern, expected.bitPattern, "row \(r)")
        }
    }

    /// The slots and tiles are fixed by the shapes: one core gives the floats that two do.
    func testOneCoreGivesTheFloatsOfSeveral() {
        let problem = Problem(rows: 150, depth: 64, vocabulary: 1000)
        let (loss, gradients) = problem.fused()
        let (serialLoss, serialGradients) = Parallel.serially { problem.fused() }
        XCTAssertEqual(loss.scalar.bitPattern, serialLoss.scalar.bitPattern)
        for (a, b) in zip(gradients, serialGradients) { XCTAssertEqual(a.scalars.map(\.bitPattern), b.scalars.map(\.bitPattern)) }
    }

    /// The backward pass reads the logits the forward pass kept, or computes them again
    /// when they are too large to keep: the same chains, so the same floats.
    func testKeptAndRecomputedLogitsGiveTheSameFloats() {
        let problem = Problem()
        let (loss, gradients) = problem.fused()
        let previous = ProjectedCrossEntropyKernels.maximumStoredLogits.exchange(0, ordering: .relaxed)
        defer { ProjectedCrossEntropyKernels.maximumStoredLogits.store(previous, ordering: .relaxed) }
        let (recomputedLoss, recomputed) = problem.fused()
        XCTAssertEqual(loss.scalar.bitPattern, recomputedLoss.scalar.bitPattern)
        for (a, b) in zip(gradients, recomputed) { XCTAssertEqual(a.scalars.map(\.bitPattern), b.scalars.map(\.bitPattern)) }
    }

    /// No rows to compute: zero gradients, not garbage.
    func testAllRowsPaddingGivesZeroGradients() {
        let weights = patternTensor([20, 8], frequency: 0.3, amplitude: 1)
        let (_, gradients) = valueAndGradient(at: [patternTensor([3, 8], frequency: 0.5, amplitude: 1), weights]) { p in
            p[0].projectedSoftmaxCrossEntropy(weights: p[1], labels: IndexTensor(shape: [3], scalars: [0, 0, 0]), ignoredLabel: 0).sum()
        }
        XCTAssertEqual(gradients[0].scalars, Array(repeating: 0, count: 24))
        XCTAssertEqual(gradients[1].scalars, Array(repeating: 0, count: 160))
    }
}
