import NMTLayers
import NMTTensor
import XCTest

final class InitializerTests: XCTestCase {
    func testFansFollowTensorFlow() {
        XCTAssertTrue(Initializer.fans(of: [512, 2048]) == (512, 2048))
        XCTAssertTrue(Initializer.fans(of: [3, 3, 16, 32]) == (144, 288))
        XCTAssertTrue(Initializer.fans(of: [7]) == (7, 7))
    }

    func testVarianceScalingUniformBoundsAndVariance() {
        // [512, 2048]: fan_avg 1280, limit sqrt(3/1280) = 0.048412; variance limit²/3 = 1/1280.
        let kernel = Initializer.varianceScalingUniform(gain: 1)([512, 2048], key: RandomKey(seed: 1))
        let values = kernel.scalars
        let limit = (3.0 / 1280.0).squareRoot()
        XCTAssertTrue(values.allSatisfy { abs(Double($0)) <= limit })
        XCTAssertGreaterThan(values.map { abs(Double($0)) }.max()!, limit * 0.999)
        let variance = values.reduce(0) { $0 + Double($1) * Double($1) } / Double(values.count)
        // 1M samples: relative standard error of the variance about 0.1%.
        XCTAssertEqual(variance, 1.0 / 1280, accuracy: 1.0 / 1280 * 0.01)
    }

    func testEmbeddingNormalAndConstants() {
        let table = Initializer.normal(standardDeviation: 1 / Float(512).squareRoot())([1000, 512], key: RandomKey(seed: 2))
        let variance = table.scalars.reduce(0) { $0 + Double($1) * Double($1) } / Double(table.scalarCount)
        XCTAssertEqual(variance, 1.0 / 512, accuracy: 1.0 / 512 * 0.01)
        XCTAssertEqual(Initializer.ones([3], key: RandomKey(seed: 0)).scalars, [1, 1, 1])
        XCTAssertEqual(Initializer.zeros([2], key: RandomKey(seed: 0)).scalars, [0, 0])
    }
}
