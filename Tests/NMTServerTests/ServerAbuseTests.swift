import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NMTServer
import XCTest

/// A plain TCP connection to the server, for what an HTTP client will not send: half a
/// request, a broken chunked body, a disconnect mid-body.
final class RawConnection {
    private let socket: Int32

    /// Connects to 127.0.0.1:`port`; reads wait at most `readTimeout` seconds.
    init(port: Int, readTimeout: Double = 10) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EMFILE) }
        var timeout = timeval(tv_sec: Int(readTimeout), tv_usec: Int((readTimeout - readTimeout.rounded(.down)) * 1e6))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(socket); throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(socket) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything the server sends until it closes the connection, or nil if it is still
    /// open when the read timeout passes.
    func readUntilClosed() -> String? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count == 0 { return String(decoding: received, as: UTF8.self) }
            if count < 0 { return errno == ECONNRESET ? String(decoding: received, as: UTF8.self) : nil }
            received += buffer[0..<count]
        }
    }
}

/// What a hostile or broken client does to nmt-serve: every request field past its bound,
/// clients that stop mid-request, broken bodies, and a shutdown while a client is stuck.
final class ServerAbuseTests: XCTestCase {
    func port(_ running: TranslationServerTests.Running) -> Int { Int(running.url.split(separator: ":").last!)! }

    func metricLine(_ running: TranslationServerTests.Running, _ prefix: String) async throws -> String {
        let metrics = try await TranslationServerTests.send("GET", running.url + "/metrics").text
        return metrics.split(separator: "\n").filter { $0.hasPrefix(prefix) }.joined(separator: "\n")
    }

    /// Every search field is bounded before anything is allocated: a beam of 2⁴⁰ once
    /// aborted the server ("failed to allocate 8796093022240 bytes"), 2⁶³ − 1 crashed it, and
    /// a beam of 5,000 took 1.4 GB. Each gets 400 naming the field and its range.
    func testOutOfRangeSearchFieldsGet400NamingTheField() async throws {
        let running = try await TranslationServerTests.start()
        let cases: [(String, String)] = [
            (#""beam_size": 1099511627776"#, #""beam_size" is 1099511627776; must be in 1...16 (this server's limit)"#),
            (#""beam_size": 9223372036854775807"#, #""beam_size" is 9223372036854775807; must be in 1...16 (this server's limit)"#),
            (#""beam_size": 5000"#, #""beam_size" is 5000; must be in 1...16 (this server's limit)"#),
            (#""beam_size": 9223372036854775808"#, #""beam_size" must be an integer"#),
            (#""alpha": 1e30"#, #""alpha" is 1e+30; must be in 0...10"#),
            (#""alpha": -1"#, #""alpha" is -1.0; must be in 0...10"#),
            (#""mode": "sample", "temperature": 1e9"#, #""temperature" is 1e+09; must be more than 0 and at most 100"#),
            (#""mode": "sample", "top_k": 9223372036854775807"#, #""top_k" is 9223372036854775807; must be in 1...1000000"#),
            (#""mode": "sample", "top_p": 2"#, #""top_p" is 2.0; must be more than 0 and at most 1"#),
        ]
        for (fields, message) in cases {
            let reply = try await TranslationServerTests.post(running, "{\"text\": \"Good morning.\", \(fields)}")
            XCTAssertEqual(reply.status, 400, fields)
            XCTAssertEqual(reply.json["error"] as? String, message, fields)
        }
        let fine = try await TranslationServerTests.post(running, #"{"text": "Good morning.", "beam_size": 16}"#)
        XCTAssertEqual(fine.status, 200, fine.text)
        try await running.stop()
    }

    /// A client that never finishes its headers is disconnected after the header timeout,
    /// and the connection limit makes further clients wait for a free slot instead of
    /// taking every descriptor: with 2 slots both held by stalled clients, a normal request
    /// is served once the stalled ones time out.
    func testStalledClientsAreDisconnectedAndCannotStarveOthers() async throws {
        var limits = ServerLimits()
        limits.headerTimeoutSeconds = 0.5
        limits.maximumConnections = 2
        let running = try await TranslationServerTests.start(limits)
        let start = Date()
        let stalled = try (0..<2).map { _ in try RawConnection(port: port(running), readTimeout: 3) }
        for connection in stalled { connection.send("POST /translate HTTP/1.1\r\nHost: x\r\nContent-Le") }
        // Give the server time to accept both before the request connects: a loaded machine
        // (CI) once accepted the request first, which then had a free slot.
        try await Task.sleep(nanoseconds: 200_000_000)
        let reply = try await TranslationServerTests.post(running, #"{"text": "Good morning."}"#)
        XCTAssertEqual(reply.status, 200, reply.text)
        // The stalled clients hold both slots until their 0.5 s header timeout.
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.45, "the request waited for a free connection slot")
        for connection in stalled { XCTAssertEqual(connection.readUntilClosed(), "", "the server closed the stalled connection") }
        let timeouts = try await metricLine(running, "nmt_client_timeouts_total")
        XCTAssertTrue(timeouts.contains(#"nmt_client_timeouts_total{phase="headers"} 2"#), timeouts)
        try await running.stop()
    }

    /// A graceful shutdown while a client has sent half a body ends within the body
    /// timeout, or within the shutdown deadline when that is shorter (it used to wait for
    /// the rest of the body forever).
    func testShutdownWithAHalfSentBodyEnds() async throws {
        for (bodyTimeout, deadline) in [(1.0, 30.0), (30.0, 1.0)] {
            var limits = ServerLimits()
            limits.bodyTimeoutSeconds = bodyTimeout
            limits.shutdownDeadlineSeconds = deadline
            let running = try await TranslationServerTests.start(limits)
            let connection = try RawConnection(port: port(running))
            connection.send("POST /translate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"text\": \"Go")
            try await Task.sleep(for: .milliseconds(200))
            let start = Date()
            try await running.stop(within: 10)
            XCTAssertLessThan(Date().timeIntervalSince(start), 5, "body timeout \(bodyTimeout) s, deadline \(deadline) s")
            XCTAssertNotNil(connection.readUntilClosed(), "the stuck connection was closed")
        }
    }

    /// A malformed chunked body gets 400 (it got 500, "strict mode assertion"), and a client
    /// that disconnects mid-body is counted as a client error, not a server error.
    func testBrokenBodiesAreClientErrors() async throws {
        let running = try await TranslationServerTests.start()
        let chunked = try RawConnection(port: port(running))
        chunked.send("POST /translate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nnot hex\r\n0\r\n\r\n")
        let answer = chunked.readUntilClosed() ?? ""
        XCTAssertFalse(answer.contains(" 500 "), answer)
        do {
            // Closed at the end of this block, with 90 bytes of its body unsent.
            let leaving = try RawConnection(port: port(running))
            leaving.send("POST /translate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"text\"")
            try await Task.sleep(for: .milliseconds(100))
            withExtendedLifetime(leaving) {}
        }
        try await Task.sleep(for: .milliseconds(300))
        let requests = try await metricLine(running, "nmt_requests_total")
        XCTAssertFalse(requests.contains(#"status="500""#), requests)
        XCTAssertTrue(requests.contains(#"nmt_requests_total{route="translate",status="400"}"#), requests)
        let fine = try await TranslationServerTests.post(running, #"{"text": "Good morning."}"#)
        XCTAssertEqual(fine.status, 200)
        try await running.stop()
    }
}
