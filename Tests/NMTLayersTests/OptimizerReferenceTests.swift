import NMTLayers
import NMTTensor
import NMTTestSupport
import XCTest

/// AdamW and Adafactor against Scripts/reference/optimizer_reference.py (float64 numpy),
/// three steps on a [3, 4] matrix and a [4] vector with learning rates 0.05, 0.04, 0.03.
final class OptimizerReferenceTests: XCTestCase {
    static let initial: [String: Tensor] = [
        "w": Tensor(shape: [3, 4], scalars: [0.5, -0.3, 0.8, 0.1, -0.6, 0.2, 0.05, -0.9, 0.3, 0.7, -0.4, 0.25]),
        "b": Tensor([0.1, -0.2, 0.3, 0.05]),
    ]
    static let gradients: [(w: [Float], b: [Float])] = [
        ([0.2, -0.1, 0.05, 0.3, 0.0, 0.4, -0.2, 0.1, -0.3, 0.15, 0.25, -0.05], [0.3, -0.1, 0.2, 0.0]),
        ([-0.1, 0.2, 0.3, -0.2, 0.25, -0.05, 0.1, 0.0, 0.1, -0.3, 0.05, 0.2], [-0.2, 0.4, 0.1, 0.05]),
        ([0.05, 0.05, -0.4, 0.1, -0.2, 0.3, 0.0, 0.15, 0.2, 0.1, -0.1, -0.25], [0.1, 0.1, -0.3, 0.2]),
    ]
    static let learningRates: [Float] = [0.05, 0.04, 0.03]

    /// Runs three steps and checks the parameters after each against `expected`.
    func check<Update: Optimizer>(
        _ optimizer: inout Update, expected: [(w: [Float], b: [Float])], file: StaticString = #filePath, line: UInt = #line
    ) {
        var parameters = Self.initial
        for (step, (g, want)) in zip(Self.gradients, expected).enumerated() {
            let gradients = ParameterGradients(
                names: ["b", "w"], tensors: ["w": Tensor(shape: [3, 4], scalars: g.w), "b": Tensor(g.b)])
            optimizer.update(&parameters, along: gradients, learningRate: Self.learningRates[step])
            // Float32 arithmetic against float64 on values near 1: a few ulp.
            assertClose(
                parameters["w"]!, Tensor(shape: [3, 4], scalars: want.w), absoluteTolerance: 2e-6, relativeTolerance: 1e-5,
                "\(optimizer.kind) step \(step + 1), w", file: file, line: line)
            assertClose(
                parameters["b"]!, Tensor(want.b), absoluteTolerance: 2e-6, relativeTolerance: 1e-5,
                "\(optimizer.kind) step \(step + 1), b", file: file, line: line)
        }
        XCTAssertEqual(optimizer.step, 3, file: file, line: line)
    }

    func testAdamWMatchesReference() {
        var adamW = AdamW(weightDecay: 0.1)
        check(&adamW, expected: [
            ([0.447500005, -0.248500009, 0.746000018, 0.049500003, -0.597, 0.149000002, 0.0997499954, -0.945499991,
              0.348499997, 0.646500006, -0.447999996, 0.298749982],
             [0.050000003, -0.150000009, 0.250000005, 0.05]),
            ([0.435053319, -0.26214575, 0.709266993, 0.0435200677, -0.624362577, 0.125491486, 0.110007681, -0.968533761,
              0.363121162, 0.658553748, -0.478344505, 0.275184726],
             [0.0442180677, -0.172370265, 0.212701605, 0.0202494318]),
            ([0.423527966, -0.273830644, 0.710551108, 0.0350294504, -0.62398585, 0.103012528, 0.115858996, -0.990182696,
              0.359622008, 0.659235464, -0.487247336, 0.280892098],
             [0.0358580106, -0.189498637, 0.215160028, -0.00250524795]),
        ])
    }

    func testAdafactorMatchesReference() {
        var adafactor = Adafactor()
        check(&adafactor, expected: [
            ([0.494704562, -0.297824154, 0.798526945, 0.091054536, -0.6, 0.192830548, 0.0548537419, -0.902456289,
              0.307117072, 0.697075661, -0.406599289, 0.251335857],
             [0.0981125414, -0.198112541, 0.298112541, 0.05]),
            ([0.49730083, -0.302010368, 0.790770009, 0.0966149231, -0.607222953, 0.193995175, 0.0519763816, -0.902456289,
              0.304466605, 0.70348607, -0.407919101, 0.24565939],
             [0.099539278, -0.200390586, 0.29694222, 0.0476697946]),
            ([0.495965116, -0.303126954, 0.799832045, 0.0939074627, -0.60137621, 0.186663822, 0.0519763816, -0.906900491,
              0.298663465, 0.701060511, -0.40545842, 0.253011156],
             [0.0986540079, -0.201111029, 0.299301146, 0.0449895187]),
        ])
        // Factored second moments: 3 + 4 numbers for the [3, 4] matrix, not 12.
        let w = adafactor.slotValues["w"]!
        XCTAssertEqual(Set(w.keys), ["vr", "vc"])
        assertClose(w["vr"]!, Tensor([0.042147489, 0.0351957889, 0.0357266745]), absoluteTolerance: 1e-8, relativeTolerance: 1e-5)
        assertClose(
            w["vc"]!, Tensor([0.0314409487, 0.0449922707, 0.0437170671, 0.0306096501]), absoluteTolerance: 1e-8,
            relativeTolerance: 1e-5)
        XCTAssertEqual(Set(adafactor.slotValues["b"]!.keys), ["v"])
    }

    func testAdafactorWithMomentumAndScheduledRateMatchesReference() {
        var adafactor = Adafactor(beta1: 0.9, relativeStep: false)
        check(&adafactor, expected: [
            ([0.497352281, -0.298912077, 0.799263473, 0.095527268, -0.6, 0.196415274, 0.052426871, -0.901228144,
              0.303558536, 0.698537831, -0.403299645, 0.250667928],
             [0.0990562707, -0.199056271, 0.299056271, 0.05]),
            ([0.496008026, -0.299607729, 0.795497272, 0.0937263591, -0.602889694, 0.193654954, 0.0534599063, -0.902333474,
              0.305700843, 0.699786497, -0.406797343, 0.248998074],
             [0.0987798923, -0.199121778, 0.297736913, 0.0490641887]),
            ([0.494397809, -0.300568518, 0.79482408, 0.0912939672, -0.603737831, 0.188973059, 0.054389638, -0.904660442,
              0.305889401, 0.700183224, -0.409207671, 0.249698931],
             [0.0982656179, -0.199396829, 0.297257043, 0.0474180189]),
        ])
        XCTAssertEqual(Set(adafactor.slotValues["w"]!.keys), ["vr", "vc", "m"])
    }

    /// For every optimizer: one step, save the state, restore it into a fresh optimizer,
    /// and two more steps on each give the same parameters and state bit for bit.
    func testEveryOptimizerResumesExactly() throws {
        for kind in OptimizerKind.allCases {
            var original = kind.makeOptimizer()
            try resume(&original)
        }
    }

    private func resume<Update: Optimizer>(_ optimizer: inout Update) throws {
        func gradients(_ step: Int) -> ParameterGradients {
            let g = Self.gradients[step]
            return ParameterGradients(names: ["b", "w"], tensors: ["w": Tensor(shape: [3, 4], scalars: g.w), "b": Tensor(g.b)])
        }
        var parameters = Self.initial
        optimizer.update(&parameters, along: gradients(0), learningRate: 0.05)
        var restored = optimizer.kind.makeOptimizer() as! Update
        try restored.restore(optimizer.state)
        XCTAssertEqual(restored.step, 1, "\(optimizer.kind)")
        var copy = parameters
        for step in 1...2 {
            optimizer.update(&parameters, along: gradients(step), learningRate: 0.04)
            restored.update(&copy, along: gradients(step), learningRate: 0.04)
        }
        for name in ["w", "b"] { XCTAssertEqual(parameters[name]!.scalars, copy[name]!.scalars, "\(optimizer.kind) \(name)") }
        XCTAssertEqual(optimizer.state.mapValues(\.scalars), restored.state.mapValues(\.scalars), "\(optimizer.kind)")
        var empty = optimizer.kind.makeOptimizer() as! Update
        XCTAssertThrowsError(try empty.restore([:])) { XCTAssertEqual($0 as? ParameterError, .missing("step")) }
    }

    /// The update runs in place: a copy of the parameters taken before keeps its values.
    func testUpdateDoesNotWriteThroughACopy() {
        var parameters = Self.initial
        let before = parameters
        var adam = Adam()
        let g = Self.gradients[0]
        adam.update(
            &parameters, along: ParameterGradients(names: ["b", "w"], tensors: ["w": Tensor(shape: [3, 4], scalars: g.w), "b": Tensor(g.b)]),
            learningRate: 0.05)
        XCTAssertEqual(before["w"]!.scalars, Self.initial["w"]!.scalars)
        XCTAssertNotEqual(parameters["w"]!.scalars, before["w"]!.scalars)
    }

    /// A matrix large enough to be updated on several threads gives the first step of the
    /// paper's formulas, computed here in double precision: `V̂ = vr·vcᵀ / mean(vr)` from
    /// `G² + ε1`, `U = G / √V̂` clipped to RMS 1, `θ -= 1e-2 · max(1e-3, RMS(θ)) · U`.
    func testAdafactorFirstStepOnALargeMatrix() {
        let (rows, columns) = (256, 300)
        let theta = Tensor.randomNormal([rows, columns], key: RandomKey(seed: 7))
        let g = Tensor.randomNormal([rows, columns], key: RandomKey(seed: 8)) * 0.01
        var parameters = ["w": theta]
        var adafactor = Adafactor()
        adafactor.update(&parameters, along: ParameterGradients(names: ["w"], tensors: ["w": g]), learningRate: 0)
        let t = theta.scalars.map(Double.init), gd = g.scalars.map(Double.init)
        let squared = gd.map { $0 * $0 + 1e-30 }
        let vr = (0..<rows).map { r in (0..<columns).reduce(0.0) { $0 + squared[r * columns + $1] } / Double(columns) }
        let vc = (0..<columns).map { c in (0..<rows).reduce(0.0) { $0 + squared[$1 * columns + c] } / Double(rows) }
        let meanRow = vr.reduce(0, +) / Double(rows)
        var u = [Double](repeating: 0, count: rows * columns)
        for r in 0..<rows { for c in 0..<columns { u[r * columns + c] = gd[r * columns + c] / (vr[r] * vc[c] / meanRow).squareRoot() } }
        func rms(_ x: [Double]) -> Double { (x.reduce(0) { $0 + $1 * $1 } / Double(x.count)).squareRoot() }
        let size = 1e-2 * max(1e-3, rms(t)) / max(1, rms(u))
        let expected = zip(t, u).map { Float($0 - size * $1) }
        assertClose(parameters["w"]!, Tensor(shape: [rows, columns], scalars: expected), absoluteTolerance: 1e-6)
        XCTAssertNotEqual(parameters["w"]!.scalars, theta.scalars)
    }
}
