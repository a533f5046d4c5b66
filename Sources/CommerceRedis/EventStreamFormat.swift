import BinaryCodec
import Commerce
import Foundation
import EventLog
import LedgerJSON
import Redis

/// How the log looks on a Redis stream: one entry per event, its id `<position>-0`, fields for
/// the envelope, the payload as JSON (for consumers such as the data platform) and the record as
/// the log stores it (for replicas, which keep a byte-for-byte copy and check its checksum).
public enum EventStreamFormat {
    public static let defaultStream = "commerce:events"

    /// The hash beside the stream that says whose log it carries and how that log counts days.
    public static func metaKey(_ stream: String) -> String { stream + ":meta" }

    public static func entryId(_ position: UInt64) -> String { "\(position)-0" }

    /// The position an entry id names; nil for an id this format does not write (positions are
    /// at most Int64.max, as everywhere in the API).
    public static func position(ofId id: String) -> UInt64? {
        guard id.hasSuffix("-0"), let p = UInt64(id.dropLast(2)), p <= UInt64(Int64.max) else { return nil }
        return p
    }

    /// The meta hash's `head`: the last position appended and its record's checksum.
    static func head(_ position: UInt64, _ checksum: UInt32) -> String { "\(position):\(checksum)" }

    static func parseHead(_ text: String) -> (UInt64, UInt32)? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let p = UInt64(parts[0]), p <= UInt64(Int64.max), let c = UInt32(parts[1]) else { return nil }
        return (p, c)
    }

    /// Field names and values of one event's entry, in order.
    static let fieldCount = 8

    /// Adds the `XADD` of one event to `buffer`: the stream, the trimming, the id, the fields.
    /// `scratch` is reused for the payload's JSON.
    /// `previous` is the checksum of the record before it (0 before the first): the entries form a
    /// chain a replica checks against its own copy, so a stream that forked is never followed.
    static func appendAdd(_ record: EventRecord, stored: [UInt8], previous: UInt32, stream: [UInt8], trim: [[UInt8]],
                          to buffer: inout CommandBuffer, scratch: inout [UInt8], times: inout [(timestamp: Int64, text: [UInt8])]) {
        let event = try? CommerceEvent.decode(type: record.type, schemaVersion: record.schemaVersion, payload: record.payload)
        let data: JSONValue
        switch event {
        case .none, .unknown: data = .object([("raw", .string(Hex.encode(record.payload)))])
        case let .some(known): data = known.json
        }
        scratch.removeAll(keepingCapacity: true)
        data.write(into: &scratch)
        buffer.begin(arguments: 3 + trim.count + 2 * fieldCount)
        buffer.add(xadd)
        buffer.add(stream)
        for t in trim { buffer.add(t) }
        var id = entryId(record.position)
        id.withUTF8 { buffer.add($0) }
        buffer.add(Field.type)
        buffer.add(record.type)
        buffer.add(Field.stream)
        buffer.add(record.stream)
        buffer.add(Field.version)
        buffer.add(decimal: record.streamVersion)
        buffer.add(Field.at)
        // The events of one command, and often of one group commit, share their time.
        if times.last?.timestamp != record.timestamp { times = [(record.timestamp, Array(ISO8601.format(record.timestamp).utf8))] }
        buffer.add(times[0].text)
        buffer.add(Field.commandId)
        buffer.add(Hex.encode(record.commandId))
        buffer.add(Field.data)
        buffer.add(scratch)
        buffer.add(Field.record)
        buffer.add(stored)
        buffer.add(Field.previous)
        buffer.add(decimal: UInt64(previous))
    }

    static let xadd = Array("XADD".utf8)

    enum Field {
        static let type = Array("type".utf8)
        static let stream = Array("stream".utf8)
        static let version = Array("version".utf8)
        static let at = Array("at".utf8)
        static let commandId = Array("commandId".utf8)
        static let data = Array("data".utf8)
        static let record = Array("record".utf8)
        static let previous = Array("previous".utf8)
    }

    /// The id Redis last generated for the stream (it stays after trimming), 0 for no stream.
    static func top(of stream: String, on connection: RedisConnection) throws -> UInt64 {
        let reply = try connection.command(["XINFO", "STREAM", stream])
        if case let .error(message) = reply {
            if message.contains("no such key") { return 0 }
            throw RedisError.refused(message)
        }
        guard let id = reply.pairs["last-generated-id"]?.text else { throw RedisError.unexpectedReply("XINFO STREAM without last-generated-id") }
        guard let position = position(ofId: id) else {
            if id == "0-0" { return 0 }
            throw BusError.foreignStream("\(stream) holds entry \(id), which is not an event position: it is not a ledger's stream")
        }
        return position
    }

    /// The stored record of the entry at `position`, nil when the stream no longer holds it.
    static func storedRecord(at position: UInt64, of stream: String, on connection: RedisConnection) throws -> [UInt8]? {
        let id = entryId(position)
        let reply = try connection.command(["XRANGE", stream, id, id]).checked()
        return try entries(reply).first?.field("record")?.bytes
    }

    /// One entry of an XREAD / XREADGROUP / XRANGE reply: its id and fields (nil for an entry
    /// deleted while it was pending).
    struct Entry {
        let id: String
        /// Names and values, alternating, as Redis gave them.
        let fields: [RedisReply]?

        /// The value of field `name` (a scan: an entry has seven).
        func field(_ name: String) -> RedisReply? {
            guard let fields else { return nil }
            var i = 0
            while i + 1 < fields.count {
                if case let .string(bytes) = fields[i], bytes.elementsEqual(name.utf8) { return fields[i + 1] }
                i += 2
            }
            return nil
        }
    }

    static func entries(_ list: RedisReply) throws -> [Entry] {
        guard let items = list.array else { return [] }
        return try items.map { item in
            guard let pair = item.array, pair.count == 2, let id = pair[0].text else { throw RedisError.unexpectedReply("stream entry \(item)") }
            return Entry(id: id, fields: pair[1].array)
        }
    }

    /// The entries of the one stream an XREAD / XREADGROUP asked for; empty on a timeout.
    static func readEntries(_ reply: RedisReply) throws -> [Entry] {
        guard let streams = reply.array, let first = streams.first?.array, first.count == 2 else { return [] }
        return try entries(first[1])
    }
}

/// Why a bus adapter cannot go on as things are (as opposed to Redis being away for a while).
public enum BusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stream carries another ledger's log, or something that is not a ledger's log.
    case foreignStream(String)
    /// The stream and this log disagree about what happened at some position.
    case diverged(String)
    /// The stream no longer holds events this copy needs next.
    case gap(String)

    public var description: String {
        switch self {
        case let .foreignStream(m), let .diverged(m), let .gap(m): m
        }
    }
}

/// Sleeps in short steps so a stop request is seen soon.
func pause(_ duration: Duration, unless stopping: () -> Bool) {
    let end = ContinuousClock.now + duration
    while !stopping(), ContinuousClock.now < end { usleep(20_000) }
}
