import CNMTMPI

/// Which ranks have reached the current collective: at the start of each one, every rank
/// sends every other a one-integer note (`MPI_Isend`) and posts a receive for each of theirs
/// (`MPI_Irecv`). A collective waits for the slowest rank without saying which it is; when
/// a wait times out, the notes that never came name the ranks that did not arrive (a
/// stopped, hung or cut-off process), and the sequence numbers in them show ranks that
/// called collectives in different orders.
///
/// The notes cost 2(N−1) tiny messages per collective; their buffers live as long as the
/// tracker, since MPI writes them after the posting calls return.
final class ArrivalTracker {
    /// The tag of the notes, apart from any other traffic on the communicator.
    static let tag: Int32 = 28_028

    private let world: MPI_Comm
    private let rank: Int, size: Int
    /// received[r]: rank r's sequence number; sent[0]: ours.
    private let received: UnsafeMutablePointer<Int32>
    private let sent: UnsafeMutablePointer<Int32>
    /// requests[r]: the receive from rank r; requests[size + r]: the send to rank r.
    private let requests: UnsafeMutablePointer<MPI_Request?>
    private var sequence: Int32 = 0
    private var pending = false

    init(world: MPI_Comm, rank: Int, size: Int) {
        (self.world, self.rank, self.size) = (world, rank, size)
        received = .allocate(capacity: size)
        received.initialize(repeating: -1, count: size)
        sent = .allocate(capacity: 1)
        sent.initialize(to: 0)
        requests = .allocate(capacity: 2 * size)
        requests.initialize(repeating: nmt_mpi_request_null(), count: 2 * size)
    }

    deinit {
        received.deallocate()
        sent.deallocate()
        requests.deallocate()
    }

    /// Tells every other rank that this one reached its next collective, and listens for
    /// theirs. The previous collective's notes must be settled (``isSettled()``) first:
    /// their buffers are reused.
    func announce() throws {
        precondition(!pending, "ArrivalTracker: the previous collective's notes were not settled")
        sequence &+= 1
        sent.pointee = sequence
        for peer in 0..<size where peer != rank {
            try Communicator.check(
                MPI_Irecv(received + peer, 1, nmt_mpi_int(), Int32(peer), Self.tag, world, requests + peer), "MPI_Irecv")
            try Communicator.check(
                MPI_Isend(sent, 1, nmt_mpi_int(), Int32(peer), Self.tag, world, requests + size + peer), "MPI_Isend")
        }
        pending = true
    }

    /// Whether every note of this collective has been sent and received.
    func isSettled() throws -> Bool {
        guard pending else { return true }
        var done: Int32 = 0
        try Communicator.check(MPI_Testall(Int32(2 * size), requests, &done, nil), "MPI_Testall")
        if done != 0 { pending = false }
        return done != 0
    }

    /// What is known of the other ranks while a collective waits: those whose note has not
    /// come, and those whose note carries another sequence number (they are in another
    /// collective).
    func laggards() throws -> (missing: [Int], elsewhere: [(rank: Int, collective: Int32)]) {
        var missing: [Int] = [], elsewhere: [(Int, Int32)] = []
        for peer in 0..<size where peer != rank {
            var done: Int32 = 0
            try Communicator.check(MPI_Test(requests + peer, &done, nil), "MPI_Test")
            if done == 0 {
                missing.append(peer)
            } else if received[peer] != sequence {
                elsewhere.append((peer, received[peer]))
            }
        }
        return (missing, elsewhere)
    }

    /// This rank's sequence number of the current collective (1 for the first).
    var currentCollective: Int32 { sequence }
}
