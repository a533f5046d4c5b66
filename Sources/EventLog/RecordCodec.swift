import BinaryCodec

/// The stored form of an event: `[format][crc32c of the rest, 4 bytes BE][fields as varints/strings]`.
/// The position is the key, not part of the value.
///
/// Format 1: stream, version, type, schema, timestamp, command id, idempotency key?, payload.
/// Format 2 (written now) adds the command's fingerprint? after the key: the canonical bytes of
/// the command on the first event of a keyed command, so the log alone tells a retry from a reuse.
enum RecordCodec {
    static let format: UInt8 = 2

    static func encode(_ event: NewEvent, streamVersion: UInt64, metadata: AppendMetadata, fingerprint: [UInt8]?) -> (bytes: [UInt8], checksum: UInt32) {
        var w = BinaryWriter(capacity: 48 + event.payload.count + event.stream.utf8.count + event.type.utf8.count + (fingerprint?.count ?? 0))
        w.write(format)
        w.write(bigEndian: UInt32(0))
        w.write(string: event.stream)
        w.write(varint: streamVersion)
        w.write(string: event.type)
        w.write(varint: UInt64(event.schemaVersion))
        w.write(varint: metadata.timestamp)
        w.write(varint: metadata.commandId)
        w.write(optional: metadata.idempotencyKey) { $0.write(string: $1) }
        w.write(optional: fingerprint) { $0.write(bytes: $1) }
        w.write(bytes: event.payload)
        var bytes = w.bytes
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[5...])) }
        bytes[1] = UInt8(truncatingIfNeeded: crc >> 24)
        bytes[2] = UInt8(truncatingIfNeeded: crc >> 16)
        bytes[3] = UInt8(truncatingIfNeeded: crc >> 8)
        bytes[4] = UInt8(truncatingIfNeeded: crc)
        return (bytes, crc)
    }

    /// The checksum a record carries, unverified (nil for a value too short to hold one).
    static func storedChecksum(_ raw: UnsafeRawBufferPointer) -> UInt32? {
        guard raw.count >= 5 else { return nil }
        return UInt32(raw[1]) << 24 | UInt32(raw[2]) << 16 | UInt32(raw[3]) << 8 | UInt32(raw[4])
    }

    static func decode(position: UInt64, _ raw: UnsafeRawBufferPointer, verify: Bool = true) throws -> EventRecord {
        do {
            var r = BinaryReader(raw)
            let format = try r.readByte()
            guard format == 1 || format == 2 else { throw DecodingError("unknown record format \(format)") }
            let stored = try r.readBigEndianUInt32()
            if verify {
                let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[5...]))
                guard actual == stored else { throw DecodingError("checksum mismatch") }
            }
            let stream = try r.readString()
            let version = try r.readVarUInt()
            let type = try r.readString()
            let schema = try r.readVarUInt()
            guard schema <= UInt64(UInt16.max) else { throw DecodingError("schema version \(schema)") }
            let timestamp = try r.readVarInt()
            let commandId = try r.readVarUInt()
            let key = try r.readOptional { try $0.readString() }
            let fingerprint = format >= 2 ? try r.readOptional { try $0.readBytes() } : nil
            let payload = try r.readBytes()
            guard r.isAtEnd else { throw DecodingError("\(r.remaining) trailing bytes") }
            return EventRecord(
                position: position, stream: stream, streamVersion: version, type: type,
                schemaVersion: UInt16(schema), timestamp: timestamp, commandId: commandId,
                idempotencyKey: key, commandFingerprint: fingerprint, payload: payload
            )
        } catch let error as DecodingError {
            throw EventLogError.corruptRecord(position: position, reason: error.reason)
        }
    }
}
