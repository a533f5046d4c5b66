import Foundation
import Redis
import RedisTestSupport
import Testing

@Suite struct RedisConnectionTests {
    @Test func commandsPipelinesAndErrorsCarryRedisMessages() throws {
        let server = try RedisServer()
        let c = try RedisConnection(server.url)
        #expect(try c.command(["SET", "k", "v"]) == .status("OK"))
        #expect(try c.command(["GET", "k"]) == .string(Array("v".utf8)))
        #expect(try c.command(["GET", "missing"]) == .null)
        // Binary-safe: zero bytes and non-UTF-8 go through unchanged.
        let binary: [UInt8] = [0, 255, 10, 13, 0, 1]
        _ = try c.command([Array("SET".utf8), Array("b".utf8), binary]).checked()
        #expect(try c.command(["GET", "b"]).bytes == binary)
        for i in 0..<100 { try c.append(["RPUSH", "list", String(i)]) }
        let replies = try (0..<100).map { _ in try c.reply() }
        #expect(replies.last == .integer(100))
        let refused = try c.command(["INCR", "k"])
        #expect(refused == .error("ERR value is not an integer or out of range"))
        #expect(throws: RedisError.refused("ERR value is not an integer or out of range")) { try refused.checked() }
        // The connection is still usable after a refusal.
        #expect(try c.command(["PING"]) == .status("PONG"))
    }

    @Test func aLostServerIsAConnectionError() throws {
        let server = try RedisServer()
        let c = try RedisConnection(server.url)
        server.kill()
        #expect(throws: RedisError.self) { try c.command(["PING"]) }
        #expect(!c.isOpen)
        #expect(throws: RedisError.self) { try RedisConnection(server.url, timeout: .milliseconds(500)) }
    }

    @Test func urlsAreParsedOrRefusedWithAReason() throws {
        #expect(try RedisURL("redis://127.0.0.1:6390") == RedisURL(host: "127.0.0.1", port: 6390))
        #expect(try RedisURL("redis://localhost") == RedisURL(host: "localhost"))
        #expect(try RedisURL("redis://:secret@h:1/2") == RedisURL(host: "h", port: 1, password: "secret", database: 2))
        #expect(try RedisURL("redis://u:p@h").user == "u")
        #expect(try RedisURL("redis://:secret@h:1/2").description == "redis://:***@h:1/2")
        for bad in ["http://h", "redis://", "redis://h:0", "redis://h:99999", "redis://h:x", "redis://h/x"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisURL(bad) }
        }
    }
}
