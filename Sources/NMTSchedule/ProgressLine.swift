import Foundation
import Logging

/// Training progress: a self-rewriting status line (step, loss, learning rate,
/// tokens/second, ETA) on a terminal, or a log line every 100 steps otherwise.
final class ProgressLine {
    private let logger: Logger
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastLength = 0

    init(logger: Logger) { self.logger = logger }

    func update(step: Int, loss: Float, learningRate: Float, tokensPerSecond: Double, remainingSeconds: Double?) {
        var text = String(format: "step %d  loss %.4f  lr %.3g  %.0f tok/s", step, loss, learningRate, tokensPerSecond)
        if let remainingSeconds, remainingSeconds.isFinite {
            text += String(format: "  ETA %d:%02d", Int(remainingSeconds) / 60, Int(remainingSeconds) % 60)
        }
        if isTerminal {
            let padding = String(repeating: " ", count: max(0, lastLength - text.count))
            FileHandle.standardError.write(Data(("\r" + text + padding).utf8))
            lastLength = text.count
        } else if step % 100 == 0 {
            logger.info("\(text)")
        }
    }

    /// Ends the status line before other output.
    func finish() {
        if isTerminal && lastLength > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        lastLength = 0
    }
}
