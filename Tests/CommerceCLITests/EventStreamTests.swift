import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LedgerJSON
import Testing

/// `GET /events/stream` against a real server: reconnection by `Last-Event-ID`, filters, and a
/// client that stops reading.
@Suite struct EventStreamTests {
    /// Opens the stream with `headers` and reads until `done` holds for the ids received so far,
    /// on a thread of its own (a blocking read must not hold one of the test tasks' few threads).
    func ids(_ server: ServerProcess, _ query: String, headers: String = "", timeout: TimeInterval = 10,
             until done: @escaping @Sendable ([Int]) -> Bool) async throws -> (ids: [Int], text: String) {
        try await onThread { try readStream(server, query, headers: headers, timeout: timeout, until: done) }
    }

    func readStream(_ server: ServerProcess, _ query: String, headers: String, timeout: TimeInterval,
                    until done: ([Int]) -> Bool) throws -> (ids: [Int], text: String) {
        let connection = try RawConnection(port: server.port)
        connection.send("GET /events/stream\(query) HTTP/1.1\r\nHost: x\r\n\(headers)\r\n")
        var text = ""
        let deadline = Date().addingTimeInterval(timeout)
        var received: [Int] = []
        while Date() < deadline {
            let (chunk, closed) = connection.receive(timeout: 0.2)
            text += chunk
            received = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n").compactMap { $0.hasPrefix("id: ") ? Int($0.dropFirst(4)) : nil }
            if done(received) || closed { break }
        }
        return (received, text)
    }

    @Test func aReconnectWithLastEventIDGetsEveryLaterEventOnce() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path, extra: ["--stream-heartbeat", "0.2"])
        defer { server.stop() }
        for user in 1...5 { _ = try await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#) }
        let first = try await ids(server, "?after=0", timeout: 60) { $0.count >= 5 }
        #expect(first.ids == [1, 2, 3, 4, 5])
        #expect(first.text.hasPrefix("HTTP/1.1 200"))
        #expect(first.text.lowercased().contains("content-type: text/event-stream"))
        #expect(first.text.contains("event: PointCharged"))
        for user in 6...10 { _ = try await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#) }
        // A browser reconnecting sends the last id it saw; it wins over the URL's `after`.
        let again = try await ids(server, "?after=0", headers: "Last-Event-ID: 3\r\n", timeout: 60) { $0.last == 10 }
        #expect(again.ids == Array(4...10))
        // Nothing new: heartbeats keep the connection alive.
        let idle = try await ids(server, "", timeout: 5) { _ in false }
        #expect(idle.ids.isEmpty && idle.text.contains(": heartbeat"))
        let bad = try await ids(server, "", headers: "Last-Event-ID: x\r\nConnection: close\r\n", timeout: 30) { _ in false }
        #expect(bad.text.hasPrefix("HTTP/1.1 400") && bad.text.contains("INVALID_INPUT"))
    }

    @Test func filtersAndLiveEventsArriveInLogOrder() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        #expect(try await server.call("POST", "/admin/coupons", #"{"name":"Few","discount":{"type":"FIXED","amount":1000},"totalQuantity":3,"issueStartsAt":"2020-01-01T00:00:00Z","issueEndsAt":"2099-01-01T00:00:00Z","validDays":1}"#, admin: true).status == 201)
        // From the head now, however long the connection takes to open.
        let head = try await server.call("GET", "/health").json["head"]?.intValue ?? 0
        let reader = Task { try await ids(server, "?type=CouponIssued&after=\(head)", timeout: 60) { $0.count >= 3 } }
        for user in 1...5 {
            _ = try await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#)
            _ = try await server.call("POST", "/coupons/1/issue", #"{"userId":\#(user)}"#)
        }
        let issued = try await reader.value
        // The three issues, nothing else, in order.
        #expect(issued.ids.count == 3 && issued.ids == issued.ids.sorted())
        #expect(!issued.text.contains("event: PointCharged") && issued.text.components(separatedBy: "event: CouponIssued").count == 4)
    }

    @Test func clientsJoiningAnywhereWhileTheLogGrowsGetEveryEventOnceInOrder() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path, extra: ["--stream-max-lag", "1000000"])
        defer { server.stop() }
        func charge(_ users: ClosedRange<Int>) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<8 {
                    group.addTask {
                        for user in users where user % 8 == lane {
                            let status = try await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#).status
                            #expect(status == 200)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await charge(1...600)
        // The first client starts the batches at the head; later ones join before the batches
        // (read from the log), inside them, at their edges and at the head, while commands run.
        let total = 1_800
        func follow(after: Int, type: String? = nil) -> Task<(ids: [Int], text: String), any Error> {
            Task { try await ids(server, "?after=\(after)" + (type.map { "&type=\($0)" } ?? ""), timeout: 120) { $0.last == total } }
        }
        var followers = [(after: 600, reader: follow(after: 600))]
        try await Task.sleep(for: .milliseconds(300))
        let writes = Task { try await charge(601...1_200) }
        for after in [0, 1, 299, 600] { followers.append((after, follow(after: after))) }
        // A position beyond the head is refused: these wait until the writes have passed them.
        while try await server.call("GET", "/health").json["head"]?.intValue ?? 0 < 700 { try await Task.sleep(for: .milliseconds(20)) }
        for after in [601, 650] { followers.append((after, follow(after: after))) }
        try await writes.value
        let writes2 = Task { try await charge(1_201...1_700) }
        for after in [700, 901, 1_111, 1_200] { followers.append((after, follow(after: after))) }
        try await writes2.value
        // A type filter over the same batches.
        let typed = follow(after: 650, type: "PointCharged")
        let head = try await server.call("GET", "/health").json["head"]?.intValue ?? 0
        followers.append((Int(head), follow(after: Int(head))))
        try await charge(1_701...1_800)
        for (after, reader) in followers {
            let (received, text) = try await reader.value
            let everyEventOnce = received == Array(after + 1...total)
            #expect(everyEventOnce,
                    "after \(after): \(received.count) ids, first \(received.first ?? -1), last \(received.last ?? -1); \(text.prefix(200))")
        }
        let (received, text) = try await typed.value
        let everyChargeOnce = received == Array(651...total)
        #expect(everyChargeOnce, "typed: \(received.count) ids; \(text.prefix(200))")
    }

    @Test func aClientThatStopsReadingIsDisconnectedWithoutGrowingTheServer() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path, extra: ["--stream-write-timeout", "1", "--stream-max-lag", "1000000"])
        defer { server.stop() }
        try await fillLog(server)
        let before = server.residentBytes
        let stalled = try RawConnection(port: server.port, receiveBuffer: 4_096)
        stalled.send("GET /events/stream?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        var clients = -1
        for _ in 0..<100 {
            try await Task.sleep(for: .milliseconds(100))
            clients = try await metric(server, "ledger_event_stream_clients")
            if clients == 1 { break }
        }
        #expect(clients == 1)
        // It never reads: within the write timeout (and a second of the watchdog's) it is cut.
        for _ in 0..<60 {
            try await Task.sleep(for: .milliseconds(100))
            clients = try await metric(server, "ledger_event_stream_clients")
            if clients == 0 { break }
        }
        #expect(clients == 0)
        #expect(server.residentBytes - before < 64 << 20)
        // Held open (unread) until here: the server is what closed it.
        withExtendedLifetime(stalled) {}
        // The rest of the server is unaffected.
        #expect(try await server.call("GET", "/users/1/points").status == 200)
    }

    /// Puts about 6 MB of events in the log: orders of three lines, six events each.
    func fillLog(_ server: ServerProcess) async throws {
        for name in ["A", "B", "C"] {
            _ = try await server.call("POST", "/admin/products", #"{"name":"\#(name)","price":1000,"stock":1000000}"#, admin: true)
        }
        for user in 1...50 { _ = try await server.call("POST", "/users/\(user)/points/charge", #"{"amount":1000000}"#) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<16 {
                group.addTask {
                    for i in 0..<160 {
                        let user = (lane * 160 + i) % 50 + 1
                        _ = try await server.call("POST", "/orders", #"{"userId":\#(user),"items":[{"productId":1,"quantity":1},{"productId":2,"quantity":1},{"productId":3,"quantity":1}]}"#)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func aClientTooFarBehindIsToldWhereToResume() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path, extra: ["--stream-max-lag", "1000", "--stream-write-timeout", "60"])
        defer { server.stop() }
        // Connected at the head, then it stops reading while the log grows by far more than the
        // lag limit and the socket buffers can hold.
        let slow = try RawConnection(port: server.port, receiveBuffer: 4_096)
        slow.send("GET /events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        try await Task.sleep(for: .milliseconds(300))
        try await fillLog(server)
        // When it reads again it gets what was buffered, then where to resume, then the end.
        let (text, closed) = try await onThread { slow.receive(timeout: 20) }
        #expect(closed)
        let resume = try #require(text.range(of: #"event: resume\ndata: \{"after":(\d+)\}"#, options: .regularExpression))
        let after = Int(text[resume].split(separator: ":").last?.dropLast() ?? "") ?? -1
        let head = try await server.call("GET", "/health").json["head"]?.intValue ?? 0
        #expect(after > 0 && Int64(after) < head - 1_000)
        // Asking from there again is refused before the stream begins (a browser then stops
        // retrying), and so is a position beyond the head.
        let again = try await ids(server, "?after=\(after)", headers: "Connection: close\r\n", timeout: 30) { _ in false }
        #expect(again.text.hasPrefix("HTTP/1.1 409") && again.text.contains("STREAM_POSITION_UNAVAILABLE"))
        let beyond = try await ids(server, "?after=\(head + 5)", headers: "Connection: close\r\n", timeout: 30) { _ in false }
        #expect(beyond.text.hasPrefix("HTTP/1.1 409") && beyond.text.contains(#""head":\#(head)"#))
        withExtendedLifetime(slow) {}
    }

    func metric(_ server: ServerProcess, _ name: String) async throws -> Int {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)/metrics")!)
        request.timeoutInterval = 10
        let (data, _) = try await URLSession.shared.data(for: request)
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? -1
    }
}
