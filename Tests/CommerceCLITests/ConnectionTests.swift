import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LedgerJSON
import Testing

/// A raw TCP connection to a server on the loopback, for what an HTTP client library would not
/// send: broken bodies, bytes one at a time, a body too large to read.
final class RawConnection: @unchecked Sendable {
    private let fd: Int32

    /// `receiveBuffer`: a small one makes a client that does not read fill up sooner.
    init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, connected == 0 else { throw ServerProcess.ServerError("connect: \(String(cString: strerror(errno)))") }
        var noSignal: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &noSignal, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// Sends everything it can; false once the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// No more bytes from this side.
    func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// What arrives until the server closes the connection or `timeout` passes.
    func receive(timeout: TimeInterval) -> (text: String, closed: Bool) {
        var data: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return (String(decoding: data, as: UTF8.self), true) }
            data.append(contentsOf: buffer[..<n])
        }
        return (String(decoding: data, as: UTF8.self), false)
    }
}

@Suite(.serialized) struct ConnectionTests {
    static let charge = "POST /users/1/points/charge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

    @Test func brokenRequestsAreTheClientsFaultNotAnOutage() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        // A chunk-size line that is not hex.
        let chunked = try RawConnection(port: server.port)
        chunked.send(Self.charge + "Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n")
        let badChunk = chunked.receive(timeout: 5)
        #expect(badChunk.text.hasPrefix("HTTP/1.1 400") && badChunk.text.contains("MALFORMED_BODY") && badChunk.closed, "\(badChunk)")
        // A body cut short: 16 of 100 bytes, then nothing more.
        let truncated = try RawConnection(port: server.port)
        truncated.send(Self.charge + "Content-Length: 100\r\n\r\n{\"amount\":10000")
        truncated.finishSending()
        let cut = truncated.receive(timeout: 5)
        #expect(cut.closed && (cut.text.isEmpty || cut.text.hasPrefix("HTTP/1.1 400")), "\(cut)")
        // Neither is counted as the store failing, and nothing was charged.
        let metrics = try await server.text("/metrics")
        #expect(!metrics.contains(#"status="503""#) && !metrics.contains(#"status="500""#))
        #expect(try await server.call("GET", "/users/1/points").json["balance"] == .int(0))
        // Bytes that are not a request: the usual JSON error, and the connection closed.
        for garbage in ["GE T / HTTP/1.1\r\nHost: x\r\n\r\n", "GET /health HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
                        Self.charge + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "\u{16}\u{03}\u{01}\u{02}\u{00}\u{01}"] {
            let connection = try RawConnection(port: server.port)
            connection.send(garbage)
            let answer = connection.receive(timeout: 5)
            #expect(answer.text.hasPrefix("HTTP/1.1 400") && answer.text.contains(#""code":"MALFORMED_HTTP""#) && answer.closed, "\(garbage.debugDescription): \(answer)")
        }
        // Behind a request, after its answer: the request is answered in full, then the 400.
        let body = #"{"amount":10000}"#
        let pipelined = try RawConnection(port: server.port)
        pipelined.send(Self.charge + "Content-Length: \(body.utf8.count)\r\n\r\n" + body + "BROKEN\r\n\r\n")
        let both = pipelined.receive(timeout: 5)
        #expect(both.text.hasPrefix("HTTP/1.1 200") && both.text.contains("MALFORMED_HTTP") && both.closed, "\(both)")
        #expect(try await server.call("GET", "/users/1/points").json["balance"] == .int(10_000))
    }

    @Test func anOversizedBodyIsAnsweredAndItsConnectionClosed() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        for size in [70 * 1024, 10 * 1024 * 1024] {
            let connection = try RawConnection(port: server.port)
            connection.send(Self.charge + "Content-Length: \(size)\r\n\r\n")
            // The server may close before it has read all of it; a failed send is expected then.
            connection.send([UInt8](repeating: UInt8(ascii: " "), count: size))
            let answer = connection.receive(timeout: 5)
            #expect(answer.text.hasPrefix("HTTP/1.1 413") && answer.text.lowercased().contains("connection: close"), "\(size): \(answer.text.prefix(200))")
            #expect(answer.closed, "\(size): the connection stayed open")
        }
        // Announced and never sent (or held back for 100 Continue): answered at once, not at the
        // body timeout, and nothing charged.
        for extra in ["", "Expect: 100-continue\r\n"] {
            let connection = try RawConnection(port: server.port)
            connection.send(Self.charge + extra + "Content-Length: 99999999999\r\n\r\n{\"amount\":10000")
            let started = Date()
            let answer = connection.receive(timeout: 5)
            #expect(answer.text.hasPrefix("HTTP/1.1 413") && answer.text.contains("PAYLOAD_TOO_LARGE") && answer.closed, "\(extra): \(answer.text.prefix(200))")
            #expect(Date().timeIntervalSince(started) < 4, "\(extra): answered only after \(Date().timeIntervalSince(started)) s")
        }
        // Behind a request still being answered, the oversized one waits its turn: the first is
        // answered in full, then the 413.
        let pipelined = try RawConnection(port: server.port)
        let body = #"{"amount":10000}"#
        pipelined.send(Self.charge + "Content-Length: \(body.utf8.count)\r\n\r\n" + body + Self.charge + "Content-Length: 99999999999\r\n\r\n")
        let both = pipelined.receive(timeout: 5)
        #expect(both.text.hasPrefix("HTTP/1.1 200") && both.text.contains("HTTP/1.1 413") && both.closed, "\(both.text.prefix(400))")
        #expect(try await server.call("GET", "/users/1/points").json["balance"] == .int(10_000))
    }

    @Test func slowAndIdleClientsAreCutWithoutStarvingOthers() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path, extra: ["--read-timeout", "1", "--body-timeout", "2"])
        defer { server.stop() }
        // 500 clients sending a request head a byte at a time, 100 sending a body that way, 100 idle.
        let slowHeads = try (0..<500).map { _ in try RawConnection(port: server.port) }
        let slowBodies = try (0..<100).map { _ in try RawConnection(port: server.port) }
        let idle = try (0..<100).map { _ in try RawConnection(port: server.port) }
        for c in slowBodies { c.send(Self.charge + "Content-Length: 100\r\n\r\n{") }
        let head = Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let started = Date()
        var slowest: TimeInterval = 0
        var served = 0
        for tick in 0..<16 {
            // One more byte from each slow client every 250 ms...
            for c in slowHeads where tick < head.count { c.send([head[tick]]) }
            for c in slowBodies { c.send("1") }
            // ...while a normal client is still answered promptly.
            let t0 = Date()
            if try await server.call("GET", "/health").status == 200 { served += 1 }
            slowest = max(slowest, Date().timeIntervalSince(t0))
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(served == 16)
        // Bounded, not timed: a loaded test machine runs other suites meanwhile.
        #expect(slowest < 5, "a normal request took \(slowest) s beside the slow clients")
        // By now (at least 4 s, past both timeouts) every slow and idle client has been disconnected.
        #expect(Date().timeIntervalSince(started) >= 4)
        for (name, group) in [("slow head", slowHeads), ("slow body", slowBodies), ("idle", idle)] {
            let open = group.filter { !$0.receive(timeout: 0.05).closed }.count
            #expect(open == 0, "\(open) \(name) connections still open")
        }
    }
}

extension ServerProcess {
    /// A GET whose body is text (e.g. /metrics).
    func text(_ path: String) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)")!.appending(path: path))
        return String(decoding: data, as: UTF8.self)
    }
}
