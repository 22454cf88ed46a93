import CNMTKernels
import NMTLayers
import NMTTensor
import NMTTestSupport
import XCTest

final class OptimizerTests: XCTestCase {
    func gradients(_ values: [String: Tensor]) -> ParameterGradients {
        ParameterGradients(names: values.keys.sorted(), tensors: values)
    }

    func testAdamMatchesReference() {
        var parameters = ["theta": Tensor([1, -2, 0.5])]
        var adam = Adam()
        let sequence: [[Float]] = [[0.5, -0.2, 0.1], [-0.3, 0.4, 0], [0.2, 0.1, -1]]
        // Scripts/reference/adam_reference.py, steps 1-3.
        let expected: [[Float]] = [
            [0.9, -1.90000001, 0.40000002], [0.88084568, -1.93659936, 0.33296059], [0.84608366, -1.97817047, 0.39131952],
        ]
        for (g, want) in zip(sequence, expected) {
            adam.update(&parameters, along: gradients(["theta": Tensor(g)]), learningRate: 0.1)
            // Float32 arithmetic against float64: a few ulp of values near 1.
            assertClose(parameters["theta"]!, Tensor(want), absoluteTolerance: 1e-6, relativeTolerance: 1e-6)
        }
        XCTAssertEqual(adam.step, 3)
    }

    /// Adam (CNMTKernels) gives the floats of TensorFlow's ApplyAdam written out in Swift
    /// below, bit for bit, at every width this CPU has (0, the portable C path, included):
    /// 1,003 elements (a tail for every width), three steps.
    func testAdamEqualsTheScalarArithmeticBitForBitAtEveryWidth() {
        defer { _ = nmt_kernels_limit_vector_bits(512) }
        let initial = patternTensor([1003], frequency: 0.3, amplitude: 2).scalars
        let steps = (0..<3).map { patternTensor([1003], frequency: 0.7 + Double($0), amplitude: 0.01 * Double($0 + 1)).scalars }
        // The reference: ApplyAdam's arithmetic in Swift, which never fuses a multiply-add.
        var (p, m, v) = (initial, [Float](repeating: 0, count: 1003), [Float](repeating: 0, count: 1003))
        var (beta1Power, beta2Power): (Float, Float) = (1, 1)
        for g in steps {
            beta1Power *= 0.9
            beta2Power *= 0.997
            let stepSize = Float(0.05) * (1 - beta2Power).squareRoot() / (1 - beta1Power)
            for i in 0..<1003 {
                m[i] = m[i] + (g[i] - m[i]) * (1 - 0.9)
                v[i] = v[i] + (g[i] * g[i] - v[i]) * (1 - 0.997)
                p[i] = p[i] - (m[i] * stepSize) / (v[i].squareRoot() + 1e-9)
            }
        }
        var widths = 0
        for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
            var parameters = ["w": Tensor(initial)]
            var adam = Adam()
            for g in steps { adam.update(&parameters, along: gradients(["w": Tensor(g)]), learningRate: 0.05) }
            XCTAssertEqual(parameters["w"]!.scalars, p, "\(bits)-bit parameters")
            XCTAssertEqual(adam.firstMoments["w"]!.scalars, m, "\(bits)-bit first moments")
            XCTAssertEqual(adam.secondMoments["w"]!.scalars, v, "\(bits)-bit second moments")
            widths += 1
        }
        XCTAssertGreaterThan(widths, 0)
        XCTAssertNotEqual(p, initial, "the steps moved the weights")
    }

    /// The host-side update spreads an element-wise optimizer's blocks of all parameters
    /// across the cores at once; every element gets the floats of the optimizer's
    /// whole-parameter `apply`, here called by hand on raw arrays. A 40,000-element
    /// matrix spans three blocks; a vector takes AdamW's undecayed path.
    func testTheBlockedUpdateGivesTheWholeParameterFloats() {
        func check<Update: Optimizer>(_ make: () -> Update, _ name: String) {
            let shapes: [String: [Int]] = ["big": [200, 200], "small": [7, 3], "vector": [5]]
            var parameters = shapes.mapValues { patternTensor($0, frequency: 0.3, amplitude: 1) }
            var byHand = parameters.mapValues(\.scalars)
            var first = shapes.mapValues { [Float](repeating: 0, count: $0.reduce(1, *)) }, second = first
            var optimizer = make(), reference = make()
            XCTAssertTrue(optimizer.updatesElementwise, name)
            for step in 0..<2 {
                let g = shapes.mapValues { patternTensor($0, frequency: 0.7 + Double(step), amplitude: 0.1) }
                optimizer.update(&parameters, along: gradients(g), learningRate: 0.01)
                let constants = reference.beginStep(learningRate: 0.01)
                for (key, shape) in shapes {
                    let gradient = g[key]!.scalars
                    byHand[key]!.withUnsafeMutableBufferPointer { p in
                        first[key]!.withUnsafeMutableBufferPointer { m in
                            second[key]!.withUnsafeMutableBufferPointer { v in
                                gradient.withUnsafeBufferPointer { g in
                                    reference.apply(constants, to: ParameterMemory(
                                        name: key, shape: shape, parameter: p.baseAddress!, gradient: g.baseAddress!,
                                        slots: [m.baseAddress!, v.baseAddress!]))
                                }
                            }
                        }
                    }
                }
            }
            for key in shapes.keys {
                let differing = zip(parameters[key]!.scalars, byHand[key]!).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "\(name): elements of \(key) differ")
                XCTAssertNotEqual(byHand[key]!, patternTensor(shapes[key]!, frequency: 0.3, amplitude: 1).scalars, "\(name): \(key) moved")
            }
        }
        check({ Adam() }, "Adam")
        check({ LazyAdam() }, "LazyAdam")
        check({ AdamW(weightDecay: 0.1) }, "AdamW")
    }

    /// Updating along a weighted sum of gradients (a device's replicas) gives the floats of
    /// summing them into zeros, term by term, and updating along the sum: for Adam, whose
    /// blocks sum and update in one pass, and Adafactor, which sums first. One term lacks a
    /// parameter; a 40,000-element matrix spans three blocks, and a 21-element one leaves
    /// vector tails. At every vector width the CPU has (`nmt_weighted_sum`).
    func testUpdatingAlongASumEqualsSummingThenUpdating() {
        defer { _ = nmt_kernels_limit_vector_bits(512) }
        func check<Update: Optimizer>(_ make: () -> Update) {
            let shapes: [String: [Int]] = ["big": [200, 200], "small": [7, 3]]
            let initial = shapes.mapValues { patternTensor($0, frequency: 0.3, amplitude: 1) }
            var (fused, separate) = (initial, initial)
            var (fusedOptimizer, separateOptimizer) = (make(), make())
            for step in 0..<2 {
                let terms: [(scale: Float, gradients: ParameterGradients)] = (0..<3).map { term in
                    let present = term == 1 ? ["big"] : ["big", "small"]
                    let values = Dictionary(uniqueKeysWithValues: present.map { name in
                        (name, patternTensor(shapes[name]!, frequency: 0.7 + Double(step + term), amplitude: 0.1, phase: Double(term)))
                    })
                    return (Float(term + 1) / 7, gradients(values))
                }
                var expected: [String: [Float]] = [:]
                for (name, shape) in shapes {
                    var sum = [Float](repeating: 0, count: shape.reduce(1, *))
                    for term in terms {
                        guard let g = term.gradients[name]?.scalars else { continue }
                        for i in sum.indices { sum[i] += g[i] * term.scale }
                    }
                    expected[name] = sum
                }
                let returned = fusedOptimizer.update(&fused, alongSumOf: terms, learningRate: 0.01)
                let sums = Dictionary(uniqueKeysWithValues: shapes.map { ($0.key, Tensor(shape: $0.value, scalars: expected[$0.key]!)) })
                separateOptimizer.update(&separate, along: gradients(sums), learningRate: 0.01)
                for name in shapes.keys {
                    XCTAssertEqual(returned[name]!.scalars.map(\.bitPattern), expected[name]!.map(\.bitPattern), "\(fusedOptimizer.kind): sum of \(name)")
                    let differing = zip(fused[name]!.scalars, separate[name]!.scalars).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(differing, 0, "\(fusedOptimizer.kind), step \(step): elements of \(name) differ")
                }
            }
            XCTAssertNotEqual(fused["small"]!.scalars, initial["small"]!.scalars)
        }
        for bits: Int32 in [0, 256, 512] where nmt_kernels_limit_vector_bits(bits) == bits {
            check { Adam() }
            check { Adafactor() }
        }
    }

    func testConstantGradientMovesByTheLearningRate() {
        // Bias correction makes every step exactly lr · sign(g) for a constant gradient.
        var parameters = ["w": Tensor([1])]
        var adam = Adam()
        for step in 1...5 {
            adam.update(&parameters, along: gradients(["w": Tensor([0.5])]), learningRate: 0.1)
            XCTAssertEqual(parameters["w"]!.scalar, 1 - 0.1 * Float(step), accuracy: 1e-6)
        }
    }

    /// LazyAdam is Adam bit for bit over several steps (the Transformer's embedding
    /// gradient is dense), under its own kind, and its state restores into either.
    func testLazyAdamIsAdamUnderItsOwnName() throws {
        let table = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        var lazy = LazyAdam(), dense = Adam()
        var lazyParameters = ["table": table], denseParameters = ["table": table]
        for step in 0..<3 {
            let g = gradients(["table": Tensor(shape: [3, 2], scalars: [0.1, 0.2, 0, 0, 0.3, -0.4].map { $0 * Float(step + 1) })])
            lazy.update(&lazyParameters, along: g, learningRate: 0.01)
            dense.update(&denseParameters, along: g, learningRate: 0.01)
        }
        XCTAssertEqual(lazyParameters["table"]!.scalars, denseParameters["table"]!.scalars)
        XCTAssertNotEqual(lazyParameters["table"]!.scalars, table.scalars, "the steps moved the weights")
        XCTAssertEqual(lazy.secondMoments["table"]!.scalars, dense.secondMoments["table"]!.scalars)
        XCTAssertEqual(lazy.kind, .lazyAdam)
        var restored = Adam()
        try restored.restore(lazy.state)
        XCTAssertEqual(restored.step, 3)
    }

    func testStateSaveAndRestoreContinuesIdentically() throws {
        var parameters = ["w": Tensor([1, 2])]
        var adam = Adam()
        let g1 = gradients(["w": Tensor([0.3, -0.1])]), g2 = gradients(["w": Tensor([-0.2, 0.5])])
        adam.update(&parameters, along: g1, learningRate: 0.05)
        var restored = Adam()
        try restored.restore(adam.state)
        var copy = parameters
        adam.update(&parameters, along: g2, learningRate: 0.05)
        restored.update(&copy, along: g2, learningRate: 0.05)
        XCTAssertEqual(parameters["w"]!.scalars, copy["w"]!.scalars)
        var empty = Adam()
        XCTAssertThrowsError(try empty.restore([:])) { XCTAssertEqual($0 as? ParameterError, .missing("step")) }
    }
}
