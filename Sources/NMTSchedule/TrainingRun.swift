import Foundation
import Logging
import NMTAccelerator
import NMTData

/// What one call of ``Trainer/run()`` keeps while it runs: the schedule, the data, the
/// summary writers, the progress line, the clock and the report so far.
final class TrainingRun {
    /// Steps between progress lines in a log (a terminal gets a live line).
    static let progressInterval = 100

    let schedule: ScheduleManager
    let learningRates: WarmupRsqrtSchedule
    let batcher: TrainingBatcher
    /// TensorBoard event writers: nil on every process but the one that writes files.
    let trainSummaries: SummaryWriter?
    let evalSummaries: SummaryWriter?
    let progress: ProgressReporter
    let started = Date()
    let firstStep: Int
    private let timeBudget: Double?
    private let totalSteps: Int?
    var report: TrainingReport

    init(
        schedule: ScheduleManager, learningRates: WarmupRsqrtSchedule, batcher: TrainingBatcher, options: TrainingOptions,
        firstStep: Int, logger: Logger, writesFiles: Bool = true
    ) throws {
        self.schedule = schedule
        self.learningRates = learningRates
        self.batcher = batcher
        self.firstStep = firstStep
        timeBudget = options.maximumSeconds
        totalSteps = options.trainSteps
        // TensorBoard event files where the reference's Estimator puts them.
        trainSummaries = writesFiles ? try SummaryWriter(directory: options.modelDirectory) : nil
        evalSummaries = writesFiles ? try SummaryWriter(directory: options.modelDirectory.appendingPathComponent("eval")) : nil
        // Only the process that reports the run draws a progress line on a terminal.
        progress = ProgressReporter(
            interval: Self.progressInterval, logger: logger, isTerminal: writesFiles && isatty(STDERR_FILENO) != 0)
        report = TrainingReport(
            steps: firstStep, stepsThisRun: 0, trainingSeconds: 0, targetTokens: 0, finalLoss: .nan, losses: [],
            evaluation: [:])
    }

    deinit {
        try? trainSummaries?.close()
        try? evalSummaries?.close()
    }

    /// Whether the time budget is spent.
    var isOutOfTime: Bool { timeBudget.map { Date().timeIntervalSince(started) >= $0 } ?? false }

    /// Records a loop's step summaries (report, TensorBoard, progress line); `step` is the
    /// global step after the loop.
    func record(_ summaries: [StepSummary], targetTokens: Int, step: Int) throws {
        report.targetTokens += targetTokens
        report.losses += summaries.map(\.loss)
        report.finalLoss = summaries.last?.loss ?? report.finalLoss
        for summary in summaries {
            var scalars = ["training/learning_rate": summary.learningRate, "training/minibatch_loss": summary.loss]
            scalars["training/gradient_norm"] = summary.gradientNorm
            try trainSummaries?.add(scalars, step: summary.step)
        }
        let elapsed = Date().timeIntervalSince(started)
        let secondsPerStep = elapsed / Double(max(step - firstStep, 1))
        // Whichever comes first: the remaining steps or the time budget.
        var remaining: Double?
        if let totalSteps { remaining = Double(totalSteps - step) * secondsPerStep }
        if let timeBudget { remaining = min(remaining ?? .infinity, timeBudget - elapsed) }
        var text = String(
            format: "step %d  loss %.4f  lr %.3g  %.0f tok/s", step, report.finalLoss, summaries.last?.learningRate ?? 0,
            elapsed > 0 ? Double(report.targetTokens) / elapsed : 0)
        if let remaining, remaining.isFinite {
            text += String(format: "  ETA %d:%02d", Int(remaining) / 60, Int(remaining) % 60)
        }
        progress.update(text, done: step)
    }
}
