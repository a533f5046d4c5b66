import Hummingbird
import LedgerJSON
import NIOCore

enum JSONResponse {
    static func make(_ status: HTTPResponse.Status = .ok, _ value: JSONValue) -> Response {
        var bytes = value.renderBytes()
        bytes.append(UInt8(ascii: "\n"))
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
