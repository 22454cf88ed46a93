import CNMTMPI
import Foundation
import NMTAccelerator

/// A failed collective or MPI call: MPI's own error code and class with its
/// explanation, or a failure swift-nmt detected itself (a rank that never arrived, a
/// request MPI cannot express).
public struct MPIError: Error, Equatable, CustomStringConvertible {
    /// Who found the failure.
    public enum Origin: Equatable, Sendable {
        /// MPI returned `code`, of error class `errorClass` (`MPI_Error_class`: the
        /// portable category, such as `MPI_ERR_ROOT` or `MPI_ERR_TRUNCATE`).
        case mpi(code: Int32, errorClass: Int32)
        /// A rank did not reach a collective within the communicator's timeout.
        case timeout
        /// swift-nmt refused the call before MPI saw it (a count beyond MPI's `Int32`, an
        /// unusable setting).
        case invalidUse
    }

    /// The MPI function or collective that failed.
    public var operation: String
    /// Who found the failure, with MPI's code and class when MPI did.
    public var origin: Origin
    /// MPI's explanation of the code (`MPI_Error_string`), or swift-nmt's.
    public var message: String

    /// MPI's return code, when MPI reported the failure.
    public var code: Int32? {
        if case .mpi(let code, _) = origin { return code }
        return nil
    }

    /// MPI's error class of ``code``, when MPI reported the failure.
    public var errorClass: Int32? {
        if case .mpi(_, let errorClass) = origin { return errorClass }
        return nil
    }

    /// A sentence naming the call, MPI's code and class when it reported the failure, and
    /// the reason.
    public var description: String {
        switch origin {
        case .mpi(let code, let errorClass): "\(operation) failed (MPI error \(code), class \(errorClass)): \(message)"
        case .timeout, .invalidUse: "\(operation): \(message)"
        }
    }
}

/// The processes of an MPI job (`MPI_COMM_WORLD`) as a `ProcessGroup`:
/// rank, size, barrier, broadcast, gather, and a deterministic all-reduce (sum) of
/// Float32 buffers.
///
/// Start the program with `mpirun -np N program ...`; a program started without `mpirun`
/// is a group of one. Every call is collective (every rank calls it, in the same order)
/// and must come from one thread at a time. Errors are thrown as ``MPIError``s instead of
/// aborting the job (`MPI_ERRORS_RETURN`).
///
/// The sum is a fixed-order reduce-scatter and all-gather built from data-moving
/// collectives: the buffer is cut into one chunk per rank, rank r receives every rank's
/// chunk r (`MPI_Alltoallv`), adds them in rank order, and every rank gathers the summed
/// chunks (`MPI_Allgatherv`). MPI's own `MPI_Allreduce` may pick its reduction order by
/// message size and timing; here the order is fixed, so every rank gets the same bits
/// every time, and each rank sends and receives 2(N−1)/N of the buffer, as a ring would.
public final class Communicator: ProcessGroup {
    /// This process's rank in the job.
    public let rank: Int
    /// Processes in the job.
    public let size: Int
    /// This process's rank among the job's processes on its host.
    public let localRank: Int
    /// The job's processes on this host (they share its cores).
    public let localSize: Int
    /// The host's name as MPI reports it.
    public let hostName: String

    /// How long one collective may wait for the other ranks (seconds) before it throws an
    /// ``MPIError`` naming the ranks that never arrived.
    public let timeoutSeconds: Double
    /// The default of ``timeoutSeconds``: 300 s, far above a training step or an
    /// evaluation of a development set, well below "forever".
    public static let defaultTimeoutSeconds: Double = 300

    private let world: MPI_Comm
    /// Scratch for ``sum(_:)``: every rank's copy of this rank's chunk.
    private var scratch: [Float] = []
    private var arrivals: ArrivalTracker!

    /// Joins the job: initializes MPI on the first call (a process started without
    /// `mpirun` becomes a job of one).
    ///
    /// - Parameter timeoutSeconds: how long a collective may wait for the other ranks (a
    ///   stopped or hung process otherwise holds the job forever); must be positive.
    /// - Throws: ``MPIError`` when MPI cannot start or lacks the thread support needed
    ///   (one thread at a time).
    public init(timeoutSeconds: Double = Communicator.defaultTimeoutSeconds) throws {
        guard timeoutSeconds > 0, timeoutSeconds.isFinite else {
            throw MPIError(operation: "Communicator", origin: .invalidUse, message: "the collective timeout is \(timeoutSeconds) s; it must be positive")
        }
        self.timeoutSeconds = timeoutSeconds
        var initialized: Int32 = 0
        try Self.check(MPI_Initialized(&initialized), "MPI_Initialized")
        if initialized == 0 {
            var provided: Int32 = 0
            try Self.check(MPI_Init_thread(nil, nil, nmt_mpi_thread_serialized(), &provided), "MPI_Init_thread")
            guard provided >= nmt_mpi_thread_serialized() else {
                throw MPIError(
                    operation: "MPI_Init_thread", origin: .invalidUse,
                    message: "this MPI offers thread level \(provided); swift-nmt needs MPI_THREAD_SERIALIZED (\(nmt_mpi_thread_serialized()))")
            }
        }
        world = nmt_mpi_comm_world()
        try Self.check(MPI_Comm_set_errhandler(world, nmt_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var value: Int32 = 0
        try Self.check(MPI_Comm_rank(world, &value), "MPI_Comm_rank")
        rank = Int(value)
        try Self.check(MPI_Comm_size(world, &value), "MPI_Comm_size")
        size = Int(value)
        var local: MPI_Comm? = nmt_mpi_comm_null()
        try Self.check(
            MPI_Comm_split_type(world, nmt_mpi_comm_type_shared(), Int32(rank), nmt_mpi_info_null(), &local),
            "MPI_Comm_split_type")
        try Self.check(MPI_Comm_rank(local, &value), "MPI_Comm_rank")
        localRank = Int(value)
        try Self.check(MPI_Comm_size(local, &value), "MPI_Comm_size")
        localSize = Int(value)
        MPI_Comm_free(&local)
        var name = [CChar](repeating: 0, count: Int(MPI_MAX_PROCESSOR_NAME) + 1)
        var length: Int32 = 0
        try Self.check(MPI_Get_processor_name(&name, &length), "MPI_Get_processor_name")
        hostName = String(decoding: name.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        arrivals = ArrivalTracker(world: world, rank: rank, size: size)
    }

    /// Ends MPI for this process (call once, after the last collective; MPI cannot be
    /// started again).
    ///
    /// - Throws: ``MPIError`` when MPI reports a failure.
    public func finalize() throws {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { try Self.check(MPI_Finalize(), "MPI_Finalize") }
    }

    /// Ends every process of the job with `code` (the way out when this process fails and
    /// the others would wait for it forever).
    public func abort(code: Int32) -> Never {
        MPI_Abort(world, code)
        exit(code)
    }

    /// Sums `values` over the job in a fixed order (see the type's description).
    ///
    /// Rank r owns chunk r, `values[r·n/N ..< (r+1)·n/N]`. The chunks move straight out
    /// of and back into `values` (`MPI_Alltoallv`, then an in-place `MPI_Allgatherv`),
    /// so a sum copies no more than the exchange itself needs. It waits by polling, as
    /// MPI does (the wait is short, since the processes arrive together at each step), and
    /// sleeps between polls once it has waited half a second.
    ///
    /// - Throws: ``MPIError`` when the exchange fails or a rank does not arrive within
    ///   ``timeoutSeconds``.
    public func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        guard size > 1, !values.isEmpty else { return }
        guard values.count <= Int(Int32.max) else {
            throw MPIError(operation: "sum", origin: .invalidUse, message: "\(values.count) values exceed MPI's Int32 counts")
        }
        let ranks = size
        let bounds = (0...ranks).map { Int32($0 * values.count / ranks) }
        var counts = (0..<ranks).map { bounds[$0 + 1] - bounds[$0] }
        var offsets = Array(bounds.dropLast())
        let owned = Int(counts[rank])
        // Every rank's copy of chunk `rank`, one after another in rank order.
        var received = [Int32](repeating: Int32(owned), count: ranks)
        var receivedOffsets = (0..<ranks).map { Int32($0 * owned) }
        if scratch.count < owned * ranks { scratch = [Float](repeating: 0, count: owned * ranks) }
        let base = values.baseAddress!
        try beginCollective()
        try scratch.withUnsafeMutableBufferPointer { receive in
            var request: MPI_Request? = nmt_mpi_request_null()
            try Self.check(
                MPI_Ialltoallv(
                    base, &counts, &offsets, nmt_mpi_float(), receive.baseAddress, &received, &receivedOffsets, nmt_mpi_float(),
                    world, &request),
                "MPI_Ialltoallv")
            try complete(&request, "MPI_Ialltoallv", spinSeconds: Self.sumSpinSeconds)
            // Chunk `rank` of every process, added in rank order into this rank's chunk.
            let total = base + Int(offsets[rank])
            total.update(from: receive.baseAddress!, count: owned)
            for source in 1..<ranks {
                let addend = receive.baseAddress! + source * owned
                for i in 0..<owned { total[i] += addend[i] }
            }
            try Self.check(
                MPI_Iallgatherv(nmt_mpi_in_place(), 0, nmt_mpi_float(), base, &counts, &offsets, nmt_mpi_float(), world, &request),
                "MPI_Iallgatherv")
            try complete(&request, "MPI_Iallgatherv", spinSeconds: Self.sumSpinSeconds)
        }
        try settleArrivals()
    }

    /// Copies rank `root`'s bytes to every rank.
    ///
    /// - Throws: ``MPIError`` when the exchange fails.
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws {
        guard size > 1, !bytes.isEmpty else { return }
        var request: MPI_Request? = nmt_mpi_request_null()
        try beginCollective()
        try Self.check(MPI_Ibcast(bytes.baseAddress, Int32(bytes.count), nmt_mpi_byte(), Int32(root), world, &request), "MPI_Ibcast")
        try complete(&request, "MPI_Ibcast", spinSeconds: Self.controlSpinSeconds)
        try settleArrivals()
    }

    /// Every rank's bytes, in rank order (lengths may differ).
    ///
    /// - Throws: ``MPIError`` when the exchange fails.
    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        var lengths = [Int32](repeating: 0, count: size)
        var length = Int32(bytes.count)
        var request: MPI_Request? = nmt_mpi_request_null()
        try beginCollective()
        try Self.check(MPI_Iallgather(&length, 1, nmt_mpi_int(), &lengths, 1, nmt_mpi_int(), world, &request), "MPI_Iallgather")
        try complete(&request, "MPI_Iallgather", spinSeconds: Self.controlSpinSeconds)
        var offsets = [Int32](repeating: 0, count: size)
        for index in 1..<size { offsets[index] = offsets[index - 1] + lengths[index - 1] }
        var gathered = [UInt8](repeating: 0, count: Int(offsets[size - 1] + lengths[size - 1]))
        var sent = bytes
        try Self.check(
            MPI_Iallgatherv(&sent, length, nmt_mpi_byte(), &gathered, &lengths, &offsets, nmt_mpi_byte(), world, &request),
            "MPI_Iallgatherv")
        try complete(&request, "MPI_Iallgatherv", spinSeconds: Self.controlSpinSeconds)
        try settleArrivals()
        return (0..<size).map { Array(gathered[Int(offsets[$0])..<Int(offsets[$0] + lengths[$0])]) }
    }

    /// How long a sum polls without sleeping (0.5 s): MPI moves a large message only while
    /// a call polls, and the ranks normally arrive together, so a sum of the base model
    /// (85 ms here) never sleeps; a rank that waits longer for a slower one sleeps instead
    /// of spinning.
    static let sumSpinSeconds = 0.5
    /// How long a control message (a broadcast, a gather) polls without sleeping (2 ms): a
    /// rank waiting for rank 0's evaluation leaves the cores to it.
    static let controlSpinSeconds = 0.002

    /// Waits for a non-blocking collective: polls, then sleeps 1 ms between polls once it
    /// has waited `spinSeconds`, and gives up after ``timeoutSeconds`` with an error naming
    /// the ranks that never arrived.
    private func complete(_ request: inout MPI_Request?, _ operation: String, spinSeconds: Double) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        var done: Int32 = 0
        while true {
            try Self.check(MPI_Test(&request, &done, nil), operation)
            if done != 0 { return }
            let waited = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if waited >= timeoutSeconds { throw try timeout(operation, waited: waited) }
            if waited >= spinSeconds { usleep(1_000) }
        }
    }

    /// Announces this rank's arrival at a collective, after settling the notes of the one
    /// before (which may have ended in an error before its own settling).
    private func beginCollective() throws {
        try settleArrivals()
        try arrivals.announce()
    }

    /// Completes this collective's arrival notes (every rank has reached it by now, so
    /// they are in flight or done).
    private func settleArrivals() throws {
        let start = DispatchTime.now().uptimeNanoseconds
        while try !arrivals.isSettled() {
            let waited = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if waited >= timeoutSeconds { throw try timeout("arrival notes", waited: waited) }
            if waited >= Self.controlSpinSeconds { usleep(1_000) }
        }
    }

    /// The error of a collective that waited too long: who never came, or who is in
    /// another collective.
    private func timeout(_ operation: String, waited: Double) throws -> MPIError {
        let (missing, elsewhere) = try arrivals.laggards()
        let limit = "the collective timeout is \(Int(timeoutSeconds)) s (nmt-train --collective-timeout)"
        let message: String
        if !missing.isEmpty {
            message = "rank \(rank) waited \(Int(waited)) s for rank\(missing.count > 1 ? "s" : "") "
                + "\(missing.map(String.init).joined(separator: ", ")), which never reached collective \(arrivals.currentCollective) "
                + "(stopped, hung or cut off from the network?); \(limit)"
        } else if !elsewhere.isEmpty {
            message = "rank \(rank) is in collective \(arrivals.currentCollective) but "
                + elsewhere.map { "rank \($0.rank) is in collective \($0.collective)" }.joined(separator: ", ")
                + ": the processes run different code paths"
        } else {
            message = "every rank reached collective \(arrivals.currentCollective), but it did not finish within \(Int(waited)) s; \(limit)"
        }
        return MPIError(operation: operation, origin: .timeout, message: message)
    }

    /// Throws the MPI error of a failed call, with its class and MPI's explanation.
    static func check(_ code: Int32, _ operation: String) throws(MPIError) {
        guard code != MPI_SUCCESS else { return }
        var errorClass: Int32 = 0
        if MPI_Error_class(code, &errorClass) != MPI_SUCCESS { errorClass = MPI_ERR_UNKNOWN }
        var text = [CChar](repeating: 0, count: Int(nmt_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        throw MPIError(
            operation: operation, origin: .mpi(code: code, errorClass: errorClass),
            message: String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
