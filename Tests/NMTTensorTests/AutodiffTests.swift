import Dispatch
import NMTTensor
import NMTTestSupport
import XCTest

final class AutodiffTests: XCTestCase {
    func testTensorUsedTwiceAccumulatesBothGradients() {
        let x = Tensor([1, 2, 3])
        // f = x*x + 3x  =>  f' = 2x + 3
        let (value, g) = valueAndGradient(at: [x]) { p in (p[0] * p[0] + p[0] * 3).sum() }
        XCTAssertEqual(value.scalar, 14 + 18)
        XCTAssertEqual(g[0].scalars, [5, 7, 9])
    }

    func testNamedParametersAndUnusedParameter() {
        let parameters: [String: Tensor] = [
            "layer.kernel": Tensor(shape: [2, 1], scalars: [2, -1]),
            "layer.bias": Tensor([0.5]),
            "unused": Tensor([1, 2]),
        ]
        let x = Tensor(shape: [3, 2], scalars: [1, 0, 0, 1, 1, 1])
        let (loss, gradients) = valueAndGradient(of: parameters) { p in
            (x.matmul(p["layer.kernel"]!) + p["layer.bias"]!).sum()
        }
        // Outputs 2.5, -0.5, 1.5.
        XCTAssertEqual(loss.scalar, 3.5)
        XCTAssertEqual(gradients["layer.kernel"]?.scalars, [2, 2])
        XCTAssertEqual(gradients["layer.bias"]?.scalars, [3])
        XCTAssertEqual(gradients["unused"]?.scalars, [0, 0], "an unused parameter gets a zero gradient")
        XCTAssertEqual(gradients.names, ["layer.bias", "layer.kernel", "unused"])
        XCTAssertFalse(loss.isDifferentiable, "the returned value is detached from the tape")
    }

    func testNonScalarValueIsSummed() {
        let (_, g) = valueAndGradient(at: [Tensor([1, 2])]) { $0[0] * 3 }
        XCTAssertEqual(g[0].scalars, [3, 3])
    }

    func testConstantsDoNotReceiveGradients() {
        let constant = Tensor([4, 5])
        let (_, g) = valueAndGradient(at: [Tensor([1, 2])]) { p in (p[0] * constant).sum() }
        XCTAssertEqual(g[0].scalars, [4, 5])
        XCTAssertFalse(constant.isDifferentiable)
    }

    /// Two threads differentiate two copies of a model at once; each must get exactly the
    /// sequential result (there is no shared tape).
    func testConcurrentDifferentiationEqualsSequential() {
        @Sendable func model(seed: UInt64) -> [String: Tensor] {
            ["w1": Tensor.randomNormal([16, 32], key: RandomKey(seed: seed)),
             "w2": Tensor.randomNormal([32, 4], key: RandomKey(seed: seed + 1))]
        }
        let inputs = [Tensor.randomNormal([64, 16], key: RandomKey(seed: 10)),
                      Tensor.randomNormal([64, 16], key: RandomKey(seed: 11))]
        @Sendable func run(_ index: Int) -> (Float, [Float]) {
            let (loss, g) = valueAndGradient(of: model(seed: UInt64(index * 2))) { p in
                inputs[index].matmul(p["w1"]!).relu().matmul(p["w2"]!).logSoftmax().mean()
            }
            return (loss.scalar, g["w1"]!.scalars + g["w2"]!.scalars)
        }
        let sequential = [run(0), run(1)]
        for _ in 0..<5 {
            let results = Parallel.concurrentMap(2) { run($0) }
            for i in 0..<2 {
                XCTAssertEqual(results[i].0, sequential[i].0)
                XCTAssertEqual(results[i].1, sequential[i].1)
            }
        }
    }
}
