import CNMTKernels
import NMTTensor
import NMTTestSupport
import XCTest

/// The C vector kernels (CNMTKernels) against the Swift kernels they stand in for, which
/// run when the vector width is limited to 0: results agree to a stated tolerance, since
/// the vector kernels sum in another order and use fused multiply-adds.
final class VectorKernelTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    /// Runs `body` once per vector width this CPU has, the portable Swift path (0) first.
    func compareWidths(_ body: () -> [Tensor], tolerance: Float, _ what: String) {
        _ = nmt_kernels_limit_vector_bits(0)
        let reference = body()
        for bits in [256, 512] where nmt_kernels_limit_vector_bits(Int32(bits)) == bits {
            let vector = body()
            for (actual, expected) in zip(vector, reference) {
                assertClose(actual, expected, absoluteTolerance: tolerance, relativeTolerance: tolerance, "\(what), \(bits)-bit")
            }
        }
    }

    /// Label-smoothed cross entropy and its gradient: a width with a tail (1003), large and
    /// small logits, labels 0 and 1002 among them. Relative 2e-6: the sums of 1003 exponentials
    /// differ by a few ulp between 8 and 16 partial sums.
    func testCrossEntropyMatchesTheSwiftKernel() {
        let logits = patternTensor([37, 1003], frequency: 0.37, amplitude: 9)
        let labels = IndexTensor((0..<36).map { Int32($0 * 27 % 1003) } + [1002])
        compareWidths({
            let (loss, gradients) = valueAndGradient(at: [logits]) { x in
                x[0].softmaxCrossEntropy(labels: labels, onValue: 0.9, offValue: 0.1 / 1002).sum()
            }
            return [logits.softmaxCrossEntropy(labels: labels, onValue: 0.9, offValue: 0.1 / 1002), loss, gradients[0]]
        }, tolerance: 2e-6, "cross entropy")
    }

    /// The fused bias + ReLU + dropout gives exactly the three operations' values and
    /// gradients, with and without padding-removed rows, at every width.
    func testFusedBiasReLUDropoutEqualsTheThreeOperations() {
        let keys = RandomKeyBuffer(RandomKey(seed: 9))
        let bias = patternTensor([70], frequency: 0.4, amplitude: 0.5)
        for rows in [nil, IndexTensor([5, 0, 20, 13])] as [IndexTensor?] {
            let x = patternTensor(rows == nil ? [3, 7, 70] : [4, 70], frequency: 0.23, amplitude: 1)
            let weights = patternTensor(x.shape, frequency: 0.71, amplitude: 1)
            func run(fused: Bool) -> [[Float]] {
                let apply = { (p: [Tensor]) -> Tensor in
                    fused
                        ? p[0].addingBiasReLUDropout(p[1], rate: 0.3, keyBuffer: keys, split: 5, elementOffset: 11, rows: rows)
                        : (p[0] + p[1]).relu().dropout(rate: 0.3, keyBuffer: keys, split: 5, elementOffset: 11, rows: rows)
                }
                let (_, gradients) = valueAndGradient(at: [x, bias]) { p in (apply(p) * weights).sum() }
                return [apply([x, bias]).scalars] + gradients.map(\.scalars)
            }
            for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                let fused = run(fused: true), plain = run(fused: false)
                XCTAssertEqual(fused, plain, "\(bits)-bit, rows \(rows?.scalars ?? [])")
                XCTAssertTrue(fused[0].contains(0) && fused[0].contains { $0 > 0 }, "some elements dropped or cut, some kept")
            }
        }
    }

    /// The fused residual + dropout gives exactly `residual + dropout(x)`: values and both
    /// gradients, at every width, over a length that is not a multiple of a vector or tile.
    func testFusedResidualDropoutEqualsTheTwoOperations() {
        let keys = RandomKeyBuffer(RandomKey(seed: 4))
        let residual = patternTensor([3, 11, 37], frequency: 0.31, amplitude: 2)
        let x = patternTensor([3, 11, 37], frequency: 0.17, amplitude: 1)
        let weights = patternTensor(x.shape, frequency: 0.53, amplitude: 1)
        func run(fused: Bool) -> [[Float]] {
            let apply = { (p: [Tensor]) -> Tensor in
                fused
                    ? p[0].addingDropout(of: p[1], rate: 0.25, keyBuffer: keys, split: 3, elementOffset: 7)
                    : p[0] + p[1].dropout(rate: 0.25, keyBuffer: keys, split: 3, elementOffset: 7)
            }
            let (_, gradients) = valueAndGradient(at: [residual, x]) { p in (apply(p) * weights).sum() }
            return [apply([residual, x]).scalars] + gradients.map(\.scalars)
        }
        for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
            let fused = run(fused: true), plain = run(fused: false)
            XCTAssertEqual(fused, plain, "\(bits)-bit")
            XCTAssertTrue(fused[2].contains(0) && fused[2].contains { $0 != 0 }, "some elements dropped, some kept")
        }
    }

    /// The fused attention weights give exactly `dropout(softmax(logits + bias))`, values and
    /// gradients (of a differentiable bias too), for the padding bias [B, 1, 1, Lk] and the
    /// causal bias [1, 1, Lq, Lk], with dropout and without.
    func testFusedSoftmaxDropoutEqualsTheThreeOperations() {
        let keys = RandomKeyBuffer(RandomKey(seed: 12))
        let logits = patternTensor([2, 3, 5, 19], frequency: 0.29, amplitude: 4)
        let weights = patternTensor(logits.shape, frequency: 0.61, amplitude: 1)
        for biasShape in [[2, 1, 1, 19], [1, 1, 5, 19], [19]] {
            let bias = patternTensor(biasShape, frequency: 0.83, amplitude: 3)
            for rate: Float in [0, 0.2] {
                func run(fused: Bool) -> [[Float]] {
                    let apply = { (p: [Tensor]) -> Tensor in
                        if fused { return p[0].softmaxDropout(adding: p[1], rate: rate, keyBuffer: keys, split: 8, elementOffset: 3) }
                        let probabilities = (p[0] + p[1]).softmax()
                        return rate == 0
                            ? probabilities : probabilities.dropout(rate: rate, keyBuffer: keys, split: 8, elementOffset: 3)
                    }
                    let (_, gradients) = valueAndGradient(at: [logits, bias]) { p in (apply(p) * weights).sum() }
                    return [apply([logits, bias]).scalars] + gradients.map(\.scalars)
                }
                let fused = run(fused: true), plain = run(fused: false)
                XCTAssertEqual(fused, plain, "bias \(biasShape), rate \(rate)")
                XCTAssertEqual(fused[0].contains(0), rate > 0, "dropout zeroes some weights exactly when it is on")
            }
        }
    }

    /// The AVX-512 e^x and row maximum give the Swift kernels' floats bit for bit (so
    /// softmax, log-softmax and beam search do not change): a sweep through the whole
    /// range with the overflow and underflow edges, zeros, infinities and NaN; softmax and
    /// log-softmax rows with a tail and a NaN-free maximum after a NaN.
    func testExpAndRowMaximumEqualTheSwiftKernelsBitForBit() {
        let sweep = stride(from: -100 as Float, through: 100, by: 0.0173).map { $0 }
        let edges: [Float] = [88.3762626, 88.37627, -86.9, -86.90001, 0, -0, .infinity, -.infinity, .nan, 1e-30, -1e-30]
        let x = Tensor(sweep + edges)
        let rows = patternTensor([7, 1003], frequency: 0.37, amplitude: 30)
        func run() -> [[UInt32]] {
            [x.exp(), rows.softmax(), rows.logSoftmax()].map { $0.scalars.map(\.bitPattern) }
                + [[rows.max(alongAxis: 1).scalars, Tensor([.nan, -3, .nan, 2, 1]).max(alongAxis: 0).scalars].flatMap { $0 }.map(\.bitPattern)]
        }
        _ = nmt_kernels_limit_vector_bits(0)
        let swift = run()
        guard nmt_kernels_limit_vector_bits(512) == 512 else { return }
        let vector = run()
        for (name, (a, b)) in zip(["exp", "softmax", "logSoftmax", "max"], zip(vector, swift)) {
            let differing = a.indices.filter { $0 >= b.count || a[$0] != b[$0] }
            XCTAssertTrue(
                a.count == b.count && differing.isEmpty,
                "\(name): AVX-512 and Swift differ in \(differing.count) elements, the first at \(differing.first ?? -1)")
        }
        XCTAssertEqual(swift[3].last.map(Float.init(bitPattern:)), 2, "NaN never wins the maximum")
    }

    /// NMT_VECTOR_BITS, when set, is the widest width the whole process uses (CI runs parts
    /// of the suite at 256 bits this way): a value the library ignores would make such a
    /// run test the widest path while claiming another, so an unknown value fails here.
    func testTheEnvironmentSetsTheWidestWidth() {
        let value = ProcessInfo.processInfo.environment["NMT_VECTOR_BITS"] ?? ""
        let expected: Int32? = value.isEmpty ? 512 : ["512": 512, "256": 256, "0": 0][value]
        XCTAssertNotNil(expected, "NMT_VECTOR_BITS=\(value) is not 512, 256 or 0")
        XCTAssertEqual(nmt_kernels_vector_bits_ceiling(), expected ?? 512)
        XCTAssertLessThanOrEqual(nmt_kernels_limit_vector_bits(512), expected ?? 512, "a test cannot raise the ceiling")
    }
}
