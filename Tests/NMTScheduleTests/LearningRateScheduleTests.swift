import NMTSchedule
import XCTest

/// Documentation/Reference.md, "Training": computed values of the reference learning rate.
final class LearningRateScheduleTests: XCTestCase {
    let table: [(step: Int, base: Float, big: Float)] = [
        (0, 0, 0), (1, 4.36732e-8, 3.08816e-8), (100, 4.36732e-6, 3.08816e-6), (8000, 3.493856e-4, 2.470529e-4),
        (16000, 6.987712e-4, 4.941059e-4), (32000, 4.941059e-4, 3.493856e-4), (100_000, 2.795085e-4, 1.976424e-4),
        (250_000, 1.767767e-4, 1.25e-4),
    ]

    func testReferenceValues() {
        let base = WarmupRsqrtSchedule(hiddenSize: 512), big = WarmupRsqrtSchedule(hiddenSize: 1024)
        for row in table {
            // The table has 7 significant digits; 1e-6 relative covers its rounding.
            XCTAssertEqual(base.learningRate(atStep: row.step), row.base, accuracy: row.base * 1e-6, "base, step \(row.step)")
            XCTAssertEqual(big.learningRate(atStep: row.step), row.big, accuracy: row.big * 1e-6, "big, step \(row.step)")
        }
    }

    func testPeakIsAtWarmupEnd() {
        let schedule = WarmupRsqrtSchedule(hiddenSize: 512, warmupSteps: 100)
        XCTAssertLessThan(schedule.learningRate(atStep: 99), schedule.learningRate(atStep: 100))
        XCTAssertGreaterThan(schedule.learningRate(atStep: 100), schedule.learningRate(atStep: 101))
    }
}
