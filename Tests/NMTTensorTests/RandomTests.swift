import NMTTensor
import NMTTestSupport
import CNMTKernels
import XCTest

final class RandomTests: XCTestCase {
    /// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
    func testPhiloxKnownAnswers() {
        XCTAssertEqual(
            Philox.block(counter: .zero, key: .zero), SIMD4(0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8))
        XCTAssertEqual(
            Philox.block(counter: SIMD4(repeating: 0xFFFF_FFFF), key: SIMD2(repeating: 0xFFFF_FFFF)),
            SIMD4(0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD))
        XCTAssertEqual(
            Philox.block(
                counter: SIMD4(0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344), key: SIMD2(0xA409_3822, 0x299F_31D0)),
            SIMD4(0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1))
    }

    func testDeterministicAndKeyed() {
        let key = RandomKey(seed: 42)
        XCTAssertEqual(Tensor.randomNormal([100], key: key).scalars, Tensor.randomNormal([100], key: key).scalars)
        XCTAssertNotEqual(Tensor.randomNormal([100], key: key).scalars, Tensor.randomNormal([100], key: key.split(1)).scalars)
        XCTAssertNotEqual(key.split(1), key.split(2))
        XCTAssertEqual(key.split(1), key.split(1))
        // A prefix of a longer draw is the shorter draw: element i depends only on (key, i).
        XCTAssertEqual(Array(Tensor.randomUniform([1000], key: key).scalars.prefix(10)), Tensor.randomUniform([10], key: key).scalars)
    }

    func testDistributionMoments() {
        let n = 200_000
        func moments(_ t: Tensor) -> (mean: Double, variance: Double) {
            let v = t.scalars.map(Double.init)
            let mean = v.reduce(0, +) / Double(n)
            return (mean, v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n))
        }
        // Standard errors at n = 200k: mean ≈ 0.0022σ; a 5-sigma band is used.
        let normal = moments(Tensor.randomNormal([n], mean: 1, standardDeviation: 2, key: RandomKey(seed: 5)))
        XCTAssertEqual(normal.mean, 1, accuracy: 0.023)
        XCTAssertEqual(normal.variance, 4, accuracy: 0.07)
        let uniform = Tensor.randomUniform([n], lowerBound: -1, upperBound: 3, key: RandomKey(seed: 6))
        XCTAssertTrue(uniform.scalars.allSatisfy { $0 >= -1 && $0 < 3 })
        let u = moments(uniform)
        XCTAssertEqual(u.mean, 1, accuracy: 0.013)
        XCTAssertEqual(u.variance, 16.0 / 12, accuracy: 0.02)
        let truncated = Tensor.randomTruncatedNormal([n], standardDeviation: 0.5, key: RandomKey(seed: 7))
        XCTAssertTrue(truncated.scalars.allSatisfy { abs($0) <= 1 })
        // Variance of a standard normal truncated to ±2 is 0.774; scaled by 0.25.
        XCTAssertEqual(moments(truncated).variance, 0.25 * 0.7737, accuracy: 0.004)
    }

    func testDropoutRateScaleAndShardConsistency() {
        let x = Tensor.ones([400, 100])
        let key = RandomKey(seed: 9)
        let dropped = x.dropout(rate: 0.1, key: key).scalars
        let kept = dropped.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { $0 == 1 / Float(0.9) })
        // 40k Bernoulli(0.9) draws: standard error of the kept fraction 0.0015.
        XCTAssertEqual(Double(kept.count) / 40_000, 0.9, accuracy: 0.0075)
        // Two halves with element offsets drop exactly what the whole batch drops.
        let top = x.slice(alongAxis: 0, 0..<200).dropout(rate: 0.1, key: key, elementOffset: 0).scalars
        let bottom = x.slice(alongAxis: 0, 200..<400).dropout(rate: 0.1, key: key, elementOffset: 20_000).scalars
        XCTAssertEqual(top + bottom, dropped)
        XCTAssertEqual(x.dropout(rate: 0, key: key).scalars, x.scalars)

        // Some rows of a larger tensor get the masks they would get in it.
        let full = Tensor.ones([6, 5]).dropout(rate: 0.5, key: key, elementOffset: 30)
        let rows = IndexTensor([4, 1, 5])
        let picked = Tensor.ones([3, 5]).dropout(rate: 0.5, key: key, elementOffset: 30, rows: rows)
        XCTAssertEqual(picked.scalars, full.gathering(rows: rows).scalars)
    }

    /// The C kernels' uniforms and dropout equal, bit for bit and at every vector width this
    /// CPU has, the stream computed here element by element from `Philox.block`: at
    /// offsets inside a block, across a carry of the block counter's low word, with tails.
    func testVectorKernelsDrawTheReferenceStream() {
        let key = RandomKey(seed: 0x1234_5678_9ABC_DEF0, stream: 0x0FED_CBA9_8765_4321)
        func reference(_ element: UInt64) -> Float {
            let words = Philox.block(
                counter: SIMD4(UInt32(truncatingIfNeeded: element / 4), UInt32(truncatingIfNeeded: (element / 4) >> 32),
                               UInt32(truncatingIfNeeded: key.stream), UInt32(truncatingIfNeeded: key.stream >> 32)),
                key: SIMD2(UInt32(truncatingIfNeeded: key.seed), UInt32(truncatingIfNeeded: key.seed >> 32)))
            return Float(words[Int(element % 4)] >> 8) * 0x1p-24
        }
        defer { _ = nmt_kernels_limit_vector_bits(512) }
        let widths = [512, 256, 0].filter { nmt_kernels_limit_vector_bits($0) == $0 }
        XCTAssertTrue(widths.contains(0))
        for bits in widths {
            _ = nmt_kernels_limit_vector_bits(Int32(bits))
            for (first, count) in [(0, 1000), (3, 203), (0xFFFF_FFF0 * 4 - 6, 300), (17, 7)] as [(UInt64, Int)] {
                var uniforms = [Float](repeating: -1, count: count)
                nmt_philox_uniform(key.seed, key.stream, first, count, &uniforms)
                XCTAssertEqual(uniforms, (0..<UInt64(count)).map { reference(first + $0) }, "\(bits)-bit, first \(first)")

                let x = (0..<count).map { Float($0) - 50.5 }
                var y = [Float](repeating: .nan, count: count), mask = y
                nmt_dropout(key.seed, key.stream, first, count, 0.3, 0.7, x, &y, &mask)
                let kept = (0..<count).map { reference(first + UInt64($0)) >= 0.3 }
                XCTAssertEqual(mask, kept.map { $0 ? 1 : 0 }, "\(bits)-bit mask, first \(first)")
                XCTAssertEqual(y, (0..<count).map { kept[$0] ? x[$0] / 0.7 : 0 }, "\(bits)-bit output, first \(first)")
                var dx = [Float](repeating: .nan, count: count)
                nmt_dropout_backward(count, 0.7, x, mask, &dx)
                XCTAssertEqual(dx, y, "\(bits)-bit gradient, first \(first)")
            }
        }
    }
}
