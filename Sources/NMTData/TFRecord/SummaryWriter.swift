import Foundation
import SwiftProtobuf

/// Writes scalar summaries to a TensorBoard event file
/// (`events.out.tfevents.<seconds>.<host>`): a TFRecord file of `tensorflow.Event`
/// protos, starting with the `brain.Event:2` version record, each scalar a
/// `Summary.Value` with `simple_value`, which TensorBoard shows under its tag.
public final class SummaryWriter {
    /// The event file.
    public let url: URL
    private let writer: TFRecordWriter

    /// Creates a new event file in `directory` (created if needed).
    ///
    /// - Throws: ``TFRecordError`` when the file cannot be created.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let now = Date().timeIntervalSince1970
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        url = directory.appendingPathComponent("events.out.tfevents.\(Int(now)).\(host).\(ProcessInfo.processInfo.processIdentifier)")
        writer = try TFRecordWriter(url: url)
        var version = Tensorflow_Event()
        version.wallTime = now
        version.fileVersion = "brain.Event:2"
        try write(version)
        try writer.flush()
    }

    private func write(_ event: Tensorflow_Event) throws {
        try writer.write(try event.serializedData())
    }

    /// Records scalars at a global step.
    public func add(_ scalars: [String: Float], step: Int) throws {
        var event = Tensorflow_Event()
        event.wallTime = Date().timeIntervalSince1970
        event.step = Int64(step)
        event.summary.value = scalars.keys.sorted().map { tag in
            var value = Tensorflow_Summary.Value()
            value.tag = tag
            value.simpleValue = scalars[tag]!
            return value
        }
        try write(event)
    }

    /// Makes everything written so far visible to readers.
    public func flush() throws { try writer.flush() }

    /// Flushes and closes the file.
    public func close() throws { try writer.close() }
}
