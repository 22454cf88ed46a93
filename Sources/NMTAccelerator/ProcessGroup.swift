import Foundation

/// The processes that train one model together (data parallelism across processes and
/// hosts), as the devices and the trainer need them: which one this is, a deterministic
/// sum of gradients, and the small messages that keep every process deciding alike.
///
/// `NMTDistributed.Communicator` implements it over Open MPI; tests may implement it over
/// threads. Every method is collective: each process of the group must call it, in the
/// same order, or the group waits for the missing one.
public protocol ProcessGroup: AnyObject {
    /// This process's index, `0..<size`; process 0 writes the files of a run.
    var rank: Int { get }
    /// Processes in the group.
    var size: Int { get }

    /// Replaces `values` on every process with the element-wise sum of all processes'
    /// `values` (the same count on each). The sum must not depend on timing: every
    /// process receives the same bits, added in rank order.
    ///
    /// - Throws: when the exchange fails (a lost process, a transport error).
    func sum(_ values: UnsafeMutableBufferPointer<Float>) throws

    /// Copies process `root`'s `bytes` into every other process's `bytes` (the same count
    /// on each).
    ///
    /// - Throws: when the exchange fails.
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws

    /// Every process's `bytes` (any length), in rank order.
    ///
    /// - Throws: when the exchange fails.
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]]
}

/// A process that trains alone: the group every device has unless it is one of several.
/// Its sum, broadcast and gather leave every value as it is, so code written for a group
/// runs unchanged (and bit for bit as before) in a single process.
public final class SingleProcessGroup: ProcessGroup, Sendable {
    /// Creates the group of this process alone.
    public init() {}

    /// 0.
    public var rank: Int { 0 }
    /// 1.
    public var size: Int { 1 }

    /// Leaves `values` as they are: the sum over one process.
    public func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {}

    /// Leaves `bytes` as they are: this process is the root.
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws {
        precondition(root == 0, "SingleProcessGroup: broadcast from rank \(root) of 1")
    }

    /// `[bytes]`.
    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
}

/// Processes of a group that disagree, or a group that cannot be used as asked.
public enum ProcessGroupError: Error, Equatable, CustomStringConvertible {
    /// Some processes hold a different value of `what` than process 0 (their ranks, and
    /// each side's value as text).
    case mismatch(what: String, ranks: [Int], rootValue: String, otherValue: String)

    /// A sentence that says what differs and where.
    public var description: String {
        switch self {
        case .mismatch(let what, let ranks, let rootValue, let otherValue):
            let who = ranks.count == 1 ? "rank \(ranks[0])" : "ranks \(ranks.map(String.init).joined(separator: ", "))"
            return "the processes disagree on the \(what): \(who) has \(otherValue), rank 0 has \(rootValue). "
                + "Start every process with the same options, vocabulary and data"
        }
    }
}

extension ProcessGroup {
    /// Whether this process writes checkpoints, summaries and logs (rank 0).
    public var isPrimary: Bool { rank == 0 }

    /// Waits until every process has called it.
    ///
    /// - Throws: when the exchange fails.
    public func barrier() throws { _ = try allGather([]) }

    /// Process `root`'s `value` on every process.
    ///
    /// - Throws: when the exchange fails.
    public func broadcast<Value: BitwiseCopyable>(_ value: Value, from root: Int = 0) throws -> Value {
        var copy = value
        try withUnsafeMutableBytes(of: &copy) { try broadcast($0, from: root) }
        return copy
    }

    /// Process `root`'s `bytes` (any length) on every process.
    ///
    /// - Throws: when the exchange fails.
    public func broadcast(bytes: [UInt8], from root: Int = 0) throws -> [UInt8] {
        let count = try broadcast(bytes.count, from: root)
        var received = rank == root ? bytes : [UInt8](repeating: 0, count: count)
        try received.withUnsafeMutableBytes { try broadcast($0, from: root) }
        return received
    }

    /// Checks that every process holds the same `value` (a description of its
    /// configuration, data or weights), so that processes started differently stop at
    /// once instead of training apart.
    ///
    /// - Parameters:
    ///   - value: this process's value, as text (compared byte for byte).
    ///   - what: what it describes, for the error.
    /// - Throws: ``ProcessGroupError/mismatch(what:ranks:rootValue:otherValue:)`` on every
    ///   process when any differs from process 0.
    public func requireAgreement(on value: String, what: String) throws {
        try requireAgreement(on: [what: value])
    }

    /// Checks that every process holds the same `fields` (name → value as text), in one
    /// exchange.
    ///
    /// - Throws: ``ProcessGroupError/mismatch(what:ranks:rootValue:otherValue:)`` on every
    ///   process, naming the first field (by name) that differs from process 0's and the
    ///   ranks that differ; a field a process lacks reads "none".
    public func requireAgreement(on fields: [String: String]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let all = try allGather(Array(encoder.encode(fields))).map {
            try JSONDecoder().decode([String: String].self, from: Data($0))
        }
        for name in Set(all.flatMap(\.keys)).sorted() {
            let different = all.indices.filter { all[$0][name] != all[0][name] }
            guard let first = different.first else { continue }
            throw ProcessGroupError.mismatch(
                what: name, ranks: different, rootValue: all[0][name] ?? "none", otherValue: all[first][name] ?? "none")
        }
    }
}
