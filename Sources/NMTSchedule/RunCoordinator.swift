import Foundation
import Logging
import NMTAccelerator
import NMTTransformer

/// Who does what in a training run of one process or many: the one place that knows
/// about ranks, so the trainer reads the same for both.
///
/// Process 0 (the primary, or the only process) writes the model directory and the
/// summaries, logs the run and evaluates the dev loss; it decides when to stop (time
/// budget, BLEU threshold, patience) and the others follow its decisions. Every process
/// translates its share of the BLEU source. With one process every exchange is the
/// identity, and nothing is sent anywhere.
struct RunCoordinator {
    /// The processes of the run (a ``SingleProcessGroup`` alone).
    let group: any ProcessGroup

    /// Whether this process writes files and summaries, logs progress and evaluates.
    var isPrimary: Bool { group.isPrimary }

    /// `logger`, lowered to warnings on every process but the primary: process 0
    /// reports the run, the others speak only of trouble.
    func logger(_ logger: Logger) -> Logger {
        var logger = logger
        if !isPrimary, logger.logLevel < .warning { logger.logLevel = .warning }
        return logger
    }

    /// The primary's claim on the model directory (nil on the others, which write nothing).
    ///
    /// - Throws: ``TrainingError/modelDirectoryInUse(path:)`` when another run holds it.
    func lockModelDirectory(_ directory: URL) throws -> ModelDirectoryLock? {
        isPrimary ? try ModelDirectoryLock(directory: directory) : nil
    }

    /// The primary's `decision` on every process (their clocks and evaluations could disagree).
    func decided(_ decision: Bool) throws -> Bool {
        group.size == 1 ? decision : try group.broadcast(decision, from: 0)
    }

    /// The checkpoint every process resumes from (nil: start afresh) and, on a process
    /// that received a copy of the primary's, the temporary folder to remove once it is
    /// loaded: the model directory need not be shared between hosts.
    ///
    /// - Throws: checkpoint errors, or the group's errors.
    func newestCheckpoint(in directory: URL, logger: Logger) throws -> (checkpoint: URL?, temporary: URL?) {
        if group.size > 1 { return try CheckpointSharing.newest(in: directory, group: group, logger: logger) }
        let newest = try Checkpoint.newestUsable(in: directory)
        for (checkpoint, reason) in newest.skipped { logger.warning("skipping \(checkpoint.lastPathComponent): \(reason)") }
        return (newest.checkpoint, nil)
    }

    /// Checks that every process starts the same run (`fingerprint` is made only when
    /// there are several: it reads every data file).
    ///
    /// - Throws: `ProcessGroupError.mismatch` naming what differs and where.
    func requireSameStart(_ fingerprint: () throws -> RunFingerprint, logger: Logger) throws {
        guard group.size > 1 else { return }
        try fingerprint().requireAgreement(in: group)
        logger.info("\(group.size) processes agree on options, model, vocabulary, data and weights")
    }

    /// Checks that every process holds the same weights (before a checkpoint).
    ///
    /// - Throws: `ProcessGroupError.mismatch` when a process's weights differ.
    func requireSameWeights(_ model: Transformer, step: Int) throws {
        guard group.size > 1 else { return }
        try group.requireAgreement(on: RunFingerprint.checksum(of: model), what: "weights at step \(step) (FNV-1a of every bit)")
    }

    /// `lines` translated by every process together: each translates its contiguous
    /// share with `translate` and all receive every translation, in order.
    ///
    /// - Throws: `translate`'s errors, or the group's.
    func translate(_ lines: [String], with translate: ([String]) throws -> [String]) throws -> [String] {
        guard group.size > 1 else { return try translate(lines) }
        let share = (group.rank * lines.count / group.size)..<((group.rank + 1) * lines.count / group.size)
        let mine = share.isEmpty ? [] : try translate(Array(lines[share]))
        let gathered = try group.allGather(Array(JSONEncoder().encode(mine)))
        return try gathered.flatMap { try JSONDecoder().decode([String].self, from: Data($0)) }
    }
}
