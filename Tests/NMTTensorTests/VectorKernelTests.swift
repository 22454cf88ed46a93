import CNMTKernels
import NMTTensor
import NMTTestSupport
import XCTest

/// The C kernels (CNMTKernels) at every vector width: each against the portable path
/// (width 0) and against references computed here, bit for bit where the contract
/// promises it and to a stated tolerance where sums run in another order.
final class VectorKernelTests: XCTestCase {
    override func tearDown() { _ = nmt_kernels_limit_vector_bits(512) }

    /// Runs `body` once per vector width this CPU has, the portable path (0) first.
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
    /// small logits, labels 0 and 1002 among them. Relative 2e-6 between widths: the sums of
    /// 1003 exponentials differ by a few ulp between 16 lanes, 8 lanes and 8 partial sums.
    /// Against the loss computed here in double precision, 1e-5 relative: the float
    /// exponentials' few ulp and the log's rounding.
    func testCrossEntropyMatchesAcrossWidthsAndADoublePrecisionReference() {
        let logits = patternTensor([37, 1003], frequency: 0.37, amplitude: 9)
        let labels = IndexTensor((0..<36).map { Int32($0 * 27 % 1003) } + [1002])
        let (on, off): (Float, Float) = (0.9, 0.1 / 1002)
        compareWidths({
            let (loss, gradients) = valueAndGradient(at: [logits]) { x in
                x[0].softmaxCrossEntropy(labels: labels, onValue: on, offValue: off).sum()
            }
            return [logits.softmaxCrossEntropy(labels: labels, onValue: on, offValue: off), loss, gradients[0]]
        }, tolerance: 2e-6, "cross entropy")
        let x = logits.scalars, y = labels.scalars
        let expected = (0..<37).map { row -> Float in
            let values = x[(row * 1003)..<((row + 1) * 1003)].map(Double.init)
            let maximum = values.max()!
            let lse = Foundation.log(values.reduce(0) { $0 + Foundation.exp($1 - maximum) }) + maximum
            return Float(values.indices.reduce(0.0) { total, j in
                total - Double(j - values.startIndex == Int(y[row]) ? on : off) * (values[j] - lse)
            })
        }
        assertClose(
            logits.softmaxCrossEntropy(labels: labels, onValue: on, offValue: off), Tensor(expected), absoluteTolerance: 1e-5,
            relativeTolerance: 1e-5, "cross entropy against double precision")
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

    /// e^x and the row maximum give, at every width, the floats of the Swift e^x below
    /// (the Cephes polynomial NMTTensor used before the kernels moved to C) and of the
    /// scalar scan, bit for bit (so softmax, log-softmax and beam search do not change with
    /// the CPU): a sweep through the whole range with the overflow and underflow edges,
    /// zeros, infinities and NaN; a row maximum after a NaN.
    func testExpAndRowMaximumEqualTheSwiftReferenceBitForBit() {
        let sweep = stride(from: -100 as Float, through: 100, by: 0.0173).map { $0 }
        let edges: [Float] = [88.3762626, 88.37627, -86.9, -86.90001, 0, -0, .infinity, -.infinity, .nan, 1e-30, -1e-30]
        let x = sweep + edges
        let expected = x.map { Self.referenceExp($0).bitPattern }
        let rows = patternTensor([7, 1003], frequency: 0.37, amplitude: 30)
        let expectedMaxima = (0..<7).map { r in rows.scalars[(r * 1003)..<((r + 1) * 1003)].reduce(-Float.infinity) { $1 > $0 ? $1 : $0 } }
        var widths = 0
        for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
            let actual = Tensor(x).exp().scalars.map(\.bitPattern)
            let differing = actual.indices.filter { actual[$0] != expected[$0] }
            XCTAssertTrue(differing.isEmpty, "\(bits)-bit e^x differs in \(differing.count) elements, the first at \(differing.first ?? -1)")
            XCTAssertEqual(rows.max(alongAxis: 1).scalars, expectedMaxima, "\(bits)-bit row maxima")
            XCTAssertEqual(Tensor([.nan, -3, .nan, 2, 1]).max(alongAxis: 0).scalar, 2, "\(bits)-bit: NaN never wins the maximum")
            XCTAssertTrue(Tensor([.nan]).exp().scalar.isNaN, "\(bits)-bit: e^NaN is NaN")
            widths += 1
        }
        XCTAssertGreaterThan(widths, 0)
    }

    /// Beam search's normalizer (`nmt_shifted_exp_sum`): bit for bit the documented sum of
    /// the reference e^(x - max), 8 lanes over whole blocks of 8 added in order from 0, then
    /// the tail, at every width. Lengths around the 8- and 16-lane blocks and the main job's
    /// vocabulary; rows with -inf logits (e^-inf = 0) among them, which take e^x's masked
    /// path, and rows without, whose vectors all lie in its range and skip the masks.
    func testShiftedExponentialSumIsTheRowSumOfTheExponentials() {
        let counts = [0, 1, 7, 8, 9, 15, 16, 17, 24, 100, 8340]
        for (count, withInfinities) in counts.flatMap({ [($0, true), ($0, false)] }) {
            var x = patternTensor([count], frequency: 0.53, amplitude: 40).scalars
            if withInfinities { for i in stride(from: 3, to: count, by: 11) { x[i] = -.infinity } }
            let maximum = x.reduce(-Float.infinity) { $1 > $0 ? $1 : $0 }
            var lanes = [Float](repeating: 0, count: 8)
            let whole = count / 8 * 8
            for i in 0..<whole { lanes[i % 8] += Self.referenceExp(x[i] - maximum) }
            var expected: Float = 0
            for lane in lanes { expected += lane }
            for i in whole..<count { expected += Self.referenceExp(x[i] - maximum) }
            for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
                XCTAssertEqual(
                    nmt_shifted_exp_sum(x, count, maximum).bitPattern, expected.bitPattern,
                    "\(count) values, -inf among them: \(withInfinities), \(bits)-bit")
            }
        }
    }

    /// e^x as NMTTensor's Swift kernel computed it (Cephes expf coefficients, the 1.5·2²³
    /// rounding trick, ln 2 in two parts), one lane: the reference the C kernels keep.
    static func referenceExp(_ x: Float) -> Float {
        if x.isNaN { return x }
        if x > 88.3762626 { return .infinity }
        if x < -86.9 { return 0 }
        let shifted = x * 1.44269504088896341 + 12582912
        let n = shifted - 12582912
        let integerN = Int32(bitPattern: shifted.bitPattern &- 0x4B40_0000)
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p: Float = 1.9875691500e-4
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        return Float(bitPattern: UInt32(bitPattern: Int32(bitPattern: p.bitPattern) &+ (integerN &<< 23)))
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
