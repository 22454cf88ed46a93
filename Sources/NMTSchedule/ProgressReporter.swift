import Foundation
import Logging
import Synchronization

/// Progress of long work (training steps, decoding batches, writing shards) for a person
/// watching: on a terminal a status line that rewrites itself in place; otherwise (a log
/// file, CI) a plain line once ``interval`` more units of work are done and at the end, so logs stay
/// short but show that work goes on.
///
/// Every example program and the ``Trainer`` report through it. Threads may report at
/// once (translation workers do): each line is written whole, under one lock.
public final class ProgressReporter: Sendable {
    /// How often a line is written when standard error is not a terminal (in units of work).
    public let interval: Int
    private let logger: Logger?
    private let isTerminal: Bool
    /// The length of the status line on a terminal, and the units done at the last line
    /// written to a log.
    private let written = Mutex((lastLength: 0, lastLogged: 0))

    /// Creates a reporter.
    ///
    /// - Parameters:
    ///   - interval: units of work between lines when not on a terminal.
    ///   - logger: where those lines go (standard error when nil).
    ///   - isTerminal: whether standard error is a terminal (detected by default).
    public init(interval: Int, logger: Logger? = nil, isTerminal: Bool = isatty(STDERR_FILENO) != 0) {
        precondition(interval > 0, "ProgressReporter: interval \(interval) must be positive")
        self.interval = interval
        self.logger = logger
        self.isTerminal = isTerminal
    }

    /// Reports `text` after `done` of `total` units (`total` nil when unknown); the last
    /// unit of a known total always gets a line.
    public func update(_ text: String, done: Int, total: Int? = nil) {
        written.withLock { written in
            if isTerminal {
                let padding = String(repeating: " ", count: max(0, written.lastLength - text.count))
                FileHandle.standardError.write(Data(("\r" + text + padding).utf8))
                written.lastLength = text.count
                if let total, done >= total { Self.endLine(&written.lastLength) }
            } else if done - written.lastLogged >= interval || done == total {
                written.lastLogged = done
                if let logger { logger.info("\(text)") } else { FileHandle.standardError.write(Data((text + "\n").utf8)) }
            }
        }
    }

    /// The `(done, total)` callback of a counted task, reporting "`label` done/total".
    public func counter(_ label: String) -> @Sendable (Int, Int) -> Void {
        { done, total in self.update("\(label) \(done)/\(total)", done: done, total: total) }
    }

    /// Ends the status line before other output.
    public func finish() {
        guard isTerminal else { return }
        written.withLock { Self.endLine(&$0.lastLength) }
    }

    /// Ends a status line of `length` characters on a terminal (nothing when none is shown).
    private static func endLine(_ length: inout Int) {
        if length > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        length = 0
    }
}
