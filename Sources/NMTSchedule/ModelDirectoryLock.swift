import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive claim on a model directory, so that two trainings never write one.
///
/// The claim is an advisory `flock` on `MODEL_DIR/.lock`, held while the value lives and
/// released by the kernel when the process ends in any way (a crash or `kill -9` leaves no
/// stale claim behind). The file records who holds it (process id, host, start time), and a
/// second writer is refused with that record, instead of both writing checkpoints and
/// deleting each other's (two runs once ended with one failing with an empty message and
/// the other going on unaware).
public final class ModelDirectoryLock {
    /// The lock file's name inside the model directory.
    public static let fileName = ".lock"
    private let descriptor: Int32

    /// Claims `directory` (creating it if needed).
    ///
    /// - Throws: ``TrainingError/modelDirectoryInUse(path:holder:)`` when another process
    ///   holds it; ``TrainingError/invalidOption(_:reason:)`` or a file error when the
    ///   directory cannot be created or the lock file opened.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(Self.fileName).path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw TrainingError.invalidOption("model directory", reason: "\(directory.path): cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw TrainingError.modelDirectoryInUse(path: directory.path, holder: holder?.isEmpty == false ? holder! : "another process")
        }
        let record = "process \(getpid()) on \(ProcessInfo.processInfo.hostName) since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(descriptor, 0)
        _ = record.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    deinit {
        // Truncated first, so that a reader never sees a released claim's record as a holder.
        _ = ftruncate(descriptor, 0)
        close(descriptor)
    }
}
