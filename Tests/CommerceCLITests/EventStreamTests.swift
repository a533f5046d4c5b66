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

    /// (id, event type) of every message in a stream's text.
    func messages(_ text: String) -> [(id: Int, type: String)] {
        var out: [(id: Int, type: String)] = []
        var id: Int?
        for line in text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n") {
            if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) }
            if line.hasPrefix("event: "), let current = id {
                out.append((current, String(line.dropFirst(7))))
                id = nil
            }
        }
        return out
    }

    @Test func clientsJoiningAnywhereWhileTheLogGrowsGetEveryEventOnceInOrder() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path, extra: ["--stream-max-lag", "1000000"])
        defer { server.stop() }
        // Charges, and every 25th command a product: two event types, in an order the lanes decide.
        func write(_ commands: ClosedRange<Int>) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<8 {
                    group.addTask {
                        for n in commands where n % 8 == lane {
                            let status = n % 25 == 0
                                ? try await server.call("POST", "/admin/products", #"{"name":"P\#(n)","price":1000,"stock":10}"#, admin: true).status
                                : try await server.call("POST", "/users/\(n)/points/charge", #"{"amount":10000}"#).status
                            #expect(status == 200 || status == 201)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        func head() async throws -> Int { Int(try await server.call("GET", "/health").json["head"]?.intValue ?? 0) }
        func follow(after: Int, until total: Int, type: String? = nil) -> Task<(ids: [Int], text: String), any Error> {
            Task { try await ids(server, "?after=\(after)" + (type.map { "&type=\($0)" } ?? ""), timeout: 120) { $0.last ?? 0 >= total } }
        }
        func expectEveryEventOnce(_ followers: [(after: Int, reader: Task<(ids: [Int], text: String), any Error>)], through total: Int) async throws {
            for (after, reader) in followers {
                let (received, text) = try await reader.value
                let everyEventOnce = received == Array(after + 1...total)
                #expect(everyEventOnce, "after \(after): \(received.count) ids, first \(received.first ?? -1), last \(received.last ?? -1); \(text.prefix(200))")
            }
        }
        try await write(1...600)
        // The first client starts the batches at the head; later ones join before the batches
        // (read from the log), inside them, at their edges and at the head, while commands run.
        // The last event of the first part is a charge (written last, alone), so that the typed
        // client below knows where to stop.
        var total = 1_801
        var followers = [(after: 600, reader: follow(after: 600, until: total))]
        try await Task.sleep(for: .milliseconds(300))
        let writes = Task { try await write(601...1_200) }
        for after in [0, 1, 299, 600] { followers.append((after, follow(after: after, until: total))) }
        // A position beyond the head is refused: these wait until the writes have passed them.
        while try await head() < 700 { try await Task.sleep(for: .milliseconds(20)) }
        for after in [601, 650] { followers.append((after, follow(after: after, until: total))) }
        try await writes.value
        let writes2 = Task { try await write(1_201...1_700) }
        for after in [700, 901, 1_111, 1_200] { followers.append((after, follow(after: after, until: total))) }
        try await writes2.value
        // A type filter over the same batches: the charges only, not the products between them.
        let typed = follow(after: 650, until: total, type: "PointCharged")
        let now = try await head()
        followers.append((now, follow(after: now, until: total)))
        try await write(1_701...1_800)
        #expect(try await server.call("POST", "/users/1801/points/charge", #"{"amount":10000}"#).status == 200)
        try await expectEveryEventOnce(followers, through: total)
        let all = try #require(followers.first { $0.after == 650 })
        let charges = messages(try await all.reader.value.text).filter { $0.type == "PointCharged" }.map(\.id)
        // Products among them, which the filter leaves out.
        #expect(charges.count > 1_000 && charges.count < 1_150)
        let (received, text) = try await typed.value
        let theChargesOnce = received == charges
        #expect(theChargesOnce, "typed: \(charges.count) charges, last \(charges.last ?? -1); \(received.count) ids; \(text.prefix(200))")
        #expect(!text.contains("event: ProductCreated"))

        // Every client gone: the task cutting batches stops and lets them go. The next clients
        // start it again, behind the head and at it.
        for _ in 0..<100 where try await metric(server, "ledger_event_stream_clients") > 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await metric(server, "ledger_event_stream_clients") == 0)
        total = 2_000
        followers = [(1_500, follow(after: 1_500, until: total)), (1_800, follow(after: 1_800, until: total))]
        try await Task.sleep(for: .milliseconds(300))
        try await write(1_802...2_000)
        try await expectEveryEventOnce(followers, through: total)
    }

    @Test func clientsThatHangUpAreLetGoAndCostTheServerNothing() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        _ = try await server.call("POST", "/users/1/points/charge", #"{"amount":10000}"#)
        // A client that sends its request and hangs up at once: closed as the stream begins.
        let gone = try RawConnection(port: server.port)
        gone.send("GET /events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        gone.finishSending()
        let (_, closed) = try await onThread { gone.receive(timeout: 5) }
        #expect(closed)
        // Streams at the head of a quiet log, waiting for a batch when their clients hang up.
        var connections: [RawConnection] = []
        for _ in 0..<4 {
            let connection = try RawConnection(port: server.port)
            connection.send("GET /events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            connections.append(connection)
        }
        for _ in 0..<50 where try await metric(server, "ledger_event_stream_clients") != 4 { try await Task.sleep(for: .milliseconds(100)) }
        let connected = try await metric(server, "ledger_event_stream_clients")
        #expect(connected == 4)
        try await Task.sleep(for: .milliseconds(300))
        // Half of them read what came and close (FIN, as a killed process or a closed tab does),
        // the others close with it unread (RST).
        for connection in connections.prefix(2) { _ = connection.receive(timeout: 0.2) }
        connections.removeAll()
        for _ in 0..<50 where try await metric(server, "ledger_event_stream_clients") > 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await metric(server, "ledger_event_stream_clients") == 0)
        // Nothing left spinning: over two idle seconds the server uses a small part of one core.
        func cpuTicks() -> Int {
            let stat = (try? String(contentsOfFile: "/proc/\(server.process.processIdentifier)/stat", encoding: .utf8)) ?? ""
            let fields = stat[(stat.lastIndex(of: ")") ?? stat.startIndex)...].split(separator: " ")
            return fields.count > 13 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : 0
        }
        let before = cpuTicks()
        try await Task.sleep(for: .seconds(2))
        let used = cpuTicks() - before
        #expect(used < Int(sysconf(Int32(_SC_CLK_TCK))) / 2, "\(used) ticks of CPU in 2 idle seconds")
        #expect(try await server.call("GET", "/users/1/points").status == 200)
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
