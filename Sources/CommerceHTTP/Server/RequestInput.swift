import Commerce
import Hummingbird
import LedgerJSON
import NIOCore

/// Reading what a client sent, with a 400 and a clear message for anything malformed.
struct RequestInput {
    /// The JSON object in the body; 400 for bad JSON or a non-object, 413 past the size limit.
    static func object(_ request: Request, context: some RequestContext) async throws -> JSONObject {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: APIServer.maxBodySize)
        } catch let error as NIOTooManyBytesError {
            throw error
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw error
        } catch {
            // A body cut short, a broken chunk: the client's fault, and its connection is done.
            var api = APIError(.badRequest, "MALFORMED_BODY", "the request body could not be read to its end")
            api.headers[.connection] = "close"
            throw api
        }
        guard buffer.readableBytes > 0 else { throw APIError(.badRequest, "MALFORMED_JSON", "the request needs a JSON object body") }
        let value: JSONValue
        do {
            value = try JSONParser.parse(buffer.readableBytesView)
        } catch {
            throw APIError(.badRequest, "MALFORMED_JSON", "\(error)")
        }
        guard case let .object(fields) = value else { throw APIError(.badRequest, "MALFORMED_JSON", "the body must be a JSON object") }
        return JSONObject(fields: fields, path: "")
    }

    /// An integer as the contract spells it: an optional minus and ASCII digits (`Int64("+1")`
    /// would also take a plus sign).
    static func integer(_ text: some StringProtocol) -> Int64? {
        guard text.first != "+" else { return nil }
        return Int64(text)
    }

    /// A log position: ASCII digits up to Int64.max.
    static func position(_ text: some StringProtocol) -> UInt64? {
        guard let v = integer(text), v >= 0 else { return nil }
        return UInt64(v)
    }

    /// A positive integer path parameter.
    static func id(_ context: some RequestContext, _ name: String) throws -> Int64 {
        guard let text = context.parameters.get(name), let v = integer(text), v > 0 else {
            throw APIError.invalid("\(name) must be a positive integer")
        }
        return v
    }

    /// An optional integer query parameter within `range`.
    static func query(_ request: Request, _ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let v = integer(text), range.contains(v) else {
            throw APIError.invalid("query parameter \(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return v
    }

    static func limit(_ request: Request, default d: Int = 20, max: Int64 = 100) throws -> Int {
        Int(try query(request, "limit", in: 1...max) ?? Int64(d))
    }

    /// The Idempotency-Key header: printable ASCII, at most 255 characters.
    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[.init("Idempotency-Key")!] else { return nil }
        guard !key.isEmpty, key.utf8.count <= 255, key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw APIError.invalid("Idempotency-Key must be 1 to 255 printable ASCII characters")
        }
        return key
    }
}

/// Typed access to a JSON object's fields; every wrong or missing field is a 400 naming it.
struct JSONObject {
    let fields: [(String, JSONValue)]
    let path: String

    func value(_ key: String) -> JSONValue? {
        fields.first { $0.0 == key }?.1
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func int(_ key: String) throws -> Int64 {
        guard let v = value(key) else { throw APIError.invalid("\(name(key)) is required") }
        guard case let .int(i) = v else { throw APIError.invalid("\(name(key)) must be an integer") }
        return i
    }

    func optionalInt(_ key: String) throws -> Int64? {
        guard let v = value(key), v != .null else { return nil }
        return try int(key)
    }

    func string(_ key: String) throws -> String {
        guard let v = value(key) else { throw APIError.invalid("\(name(key)) is required") }
        guard case let .string(s) = v else { throw APIError.invalid("\(name(key)) must be a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = value(key), v != .null else { return nil }
        return try string(key)
    }

    func time(_ key: String) throws -> Timestamp {
        let text = try string(key)
        guard let t = ISO8601.parse(text) else {
            throw APIError.invalid("\(name(key)) must be an ISO-8601 time with an offset (e.g. 2026-11-25T10:00:00+09:00), \(ISO8601.supportedDescription)")
        }
        return t
    }

    /// A name or a reason: at most `maxLength` Unicode scalars. The rules then refuse control
    /// characters and one that is empty or only white space.
    func text(_ key: String, maxLength: Int) throws -> String {
        let s = try string(key)
        guard s.unicodeScalars.count <= maxLength else { throw APIError.invalid("\(name(key)) is longer than \(maxLength) characters") }
        return s
    }

    func object(_ key: String) throws -> JSONObject {
        guard let v = value(key) else { throw APIError.invalid("\(name(key)) is required") }
        guard case let .object(f) = v else { throw APIError.invalid("\(name(key)) must be an object") }
        return JSONObject(fields: f, path: name(key))
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard let v = value(key) else { throw APIError.invalid("\(name(key)) is required") }
        guard case let .array(a) = v else { throw APIError.invalid("\(name(key)) must be an array") }
        return a
    }
}
