import Hummingbird
import LedgerJSON
import NIOCore

enum JSONResponse {
    static let contentType = "application/json; charset=utf-8"

    static func make(_ status: HTTPResponse.Status = .ok, _ value: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: body(value)))
    }

    /// The body of an answer: the JSON and a newline.
    static func body(_ value: JSONValue) -> ByteBuffer {
        var bytes = value.renderBytes()
        bytes.append(UInt8(ascii: "\n"))
        return ByteBuffer(bytes: bytes)
    }
}
