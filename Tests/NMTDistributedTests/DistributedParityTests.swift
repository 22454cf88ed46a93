import Foundation
import NMTAccelerator
import NMTDistributed
import NMTTestSupport
import XCTest

/// Data-parallel training across MPI processes: `nmt-distributed-check` under
/// `mpirun -np 2` (loopback) compares 2 processes × B/2 with 1 process × B on the CPU
/// device and 2 processes × 2 static shards with 1 process × 4 shards (loss and weights
/// within 1e-5 over 3 steps, dropout on), checks that the ranks' weights are bit-identical,
/// and that disagreement and MPI errors are thrown.
final class DistributedParityTests: XCTestCase {
    /// `mpirun` on PATH, or nil.
    static var mpirun: URL? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { URL(fileURLWithPath: String($0)).appendingPathComponent("mpirun") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    func testTwoProcessesTrainWhatOneProcessTrains() throws {
        guard let mpirun = Self.mpirun else {
            throw XCTSkip("mpirun is not installed (Scripts/ci/install-deps.sh installs openmpi-bin)")
        }
        // mpirun refuses root without the flag; --oversubscribe allows 2 ranks on fewer cores.
        let check = productURL("nmt-distributed-check", testCase: Self.self).path
        let (output, error, status) = try runProgram(
            mpirun, ["--allow-run-as-root", "--oversubscribe", "-np", "2", check])
        XCTAssertEqual(status, 0, "output:\n\(output)\nerrors:\n\(error)")
        for check in [
            "cpu parity (2 processes vs 1", "cpu weights identical", "cpu accumulation parity (2 processes vs 1",
            "static parity (2 processes × 2 shards vs 1 × 4",
            "static weights identical", "sum of 1001 values", "disagreement detected", "invalid root refused",
        ] {
            XCTAssertTrue(output.contains("rank 0/2 \(check)") && !output.contains("FAILED"), "\(check):\n\(output)\n\(error)")
        }
    }

    /// A stopped rank ends the job: rank 0's collective gives up after the timeout (2 s
    /// here) with an error naming rank 1, sleeping rather than spinning while it waits (it
    /// used to spin at 100 % CPU forever), and the job ends.
    func testAStoppedRankEndsTheJobWithAnErrorNamingIt() throws {
        guard let mpirun = Self.mpirun else {
            throw XCTSkip("mpirun is not installed (Scripts/ci/install-deps.sh installs openmpi-bin)")
        }
        let check = productURL("nmt-distributed-check", testCase: Self.self).path
        let start = Date()
        let (output, error, status) = try runProgram(
            mpirun, ["--allow-run-as-root", "--oversubscribe", "-np", "2", check, "--stopped-rank"])
        XCTAssertNotEqual(status, 0, "the job was aborted")
        XCTAssertLessThan(Date().timeIntervalSince(start), 60)
        let line = try XCTUnwrap(output.split(separator: "\n").first { $0.contains("stopped-rank check") }, "\(output)\n\(error)")
        XCTAssertTrue(line.contains("rank 0 waited 2 s for rank 1, which never reached collective 1"), String(line))
        // 0.5 s of polling, then 1 ms sleeps: far below the 2 s a spinning wait would use.
        let cpu = try XCTUnwrap(line.split(separator: " ").firstIndex(of: "using").map { Double(line.split(separator: " ")[$0 + 1])! })
        XCTAssertLessThan(cpu, 1.2, String(line))
    }

    /// A process started without mpirun is a group of one: the sum leaves values as they are.
    func testASingleProcessIsAGroupOfOne() throws {
        let (output, error, status) = try runProduct("nmt-distributed-check", [], testCase: Self.self)
        XCTAssertEqual(status, 0, "output:\n\(output)\nerrors:\n\(error)")
        XCTAssertTrue(output.contains("rank 0/1 cpu parity (1 processes vs 1, 3 steps, dropout 0.1): ok (max difference 0.0)"), output)
    }
}

/// `nmt-train-distributed` end to end under mpirun (Scripts/distributed/distributed-check.sh on the
/// built programs): 2 processes match 1, checkpoints resume on 1 and 2 processes, a
/// killed rank ends the job within seconds with a message naming it and the restart
/// resumes, and processes with different options are refused.
final class DistributedTrainingTests: XCTestCase {
    func testDataParallelTrainingEndToEnd() throws {
        guard DistributedParityTests.mpirun != nil else {
            throw XCTSkip("mpirun is not installed (Scripts/ci/install-deps.sh installs openmpi-bin)")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let products = productURL("nmt-train", testCase: Self.self).deletingLastPathComponent()
        let (output, error, status) = try runProgram(
            URL(fileURLWithPath: "/bin/bash"), [root.appendingPathComponent("Scripts/distributed/distributed-check.sh").path, products.path])
        XCTAssertEqual(status, 0, "output:\n\(output)\nerrors:\n\(error)")
        XCTAssertTrue(output.contains("distributed-check: all passed"), output + error)
    }
}
