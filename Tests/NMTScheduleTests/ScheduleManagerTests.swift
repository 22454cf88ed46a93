import NMTSchedule
import XCTest

/// Documentation/Reference.md, "Training": the near-seed schedule_test.py values.
final class ScheduleManagerTests: XCTestCase {
    func testMutualExclusivity() {
        XCTAssertThrowsError(try ScheduleManager(trainSteps: 100, trainEpochs: 2, batchTokens: 2048, maxLength: 256)) {
            XCTAssertEqual($0 as? ScheduleError, .bothStepsAndEpochs)
        }
    }

    func testStepBasis() throws {
        let m = try ScheduleManager(trainSteps: 1000, stepsBetweenEvals: 100, batchTokens: 2048, maxLength: 256)
        XCTAssertEqual(m.iterations, 10)
        XCTAssertEqual(m.singleIterationTrainSteps, 100)
        XCTAssertNil(m.singleIterationEvalSteps)
        XCTAssertNil(m.repeatDataset)
        XCTAssertEqual(m.trainIncrementDescription, "100 steps.")
    }

    func testEpochBasis() throws {
        let m = try ScheduleManager(trainEpochs: 10, epochsBetweenEvals: 2, batchTokens: 2048, maxLength: 256)
        XCTAssertEqual(m.iterations, 5)
        XCTAssertNil(m.singleIterationTrainSteps)
        XCTAssertNil(m.singleIterationEvalSteps)
        XCTAssertEqual(m.repeatDataset, 2)
        XCTAssertEqual(m.trainIncrementDescription, "2 epochs.")
    }

    func testStaticBatchConversions() throws {
        let steps = try ScheduleManager(
            trainSteps: 1000, stepsBetweenEvals: 100, batchTokens: 2048, maxLength: 256, staticBatches: true, shards: 8)
        XCTAssertEqual(steps.singleIterationTrainSteps, 100)
        XCTAssertEqual(steps.singleIterationEvalSteps, 375, "3000 · 256 // 2048")
        XCTAssertNil(steps.repeatDataset)
        let epochs = try ScheduleManager(
            trainEpochs: 10, epochsBetweenEvals: 2, batchTokens: 2048, maxLength: 256, staticBatches: true, shards: 8)
        XCTAssertEqual(epochs.singleIterationTrainSteps, 1_143_040, "4572160 · 256 · 2 // 2048")
        XCTAssertEqual(epochs.singleIterationEvalSteps, 375)
        XCTAssertEqual(epochs.repeatDataset, 2)
        XCTAssertEqual(epochs.trainIncrementDescription, "~2 epochs. (1143040 steps)")
        // The reference's base TPU setting: 32768 tokens, one epoch = 35,720 steps, eval 23.
        let base = try ScheduleManager(trainEpochs: 1, batchTokens: 32768, maxLength: 256, staticBatches: true, shards: 8)
        XCTAssertEqual(base.singleIterationTrainSteps, 35_720)
        XCTAssertEqual(base.singleIterationEvalSteps, 23)
    }

    func testShardDivisibility() {
        // 2048 / 256 = 8 sentences do not split across 3 shards.
        XCTAssertThrowsError(try ScheduleManager(trainSteps: 10, batchTokens: 2048, maxLength: 256, staticBatches: true, shards: 3)) {
            XCTAssertEqual($0 as? ScheduleError, .indivisibleBatch(sentences: 8, shards: 3))
        }
        XCTAssertThrowsError(try ScheduleManager(trainSteps: 0, batchTokens: 2048, maxLength: 256))
    }
}
