import Foundation
import Hummingbird
import LedgerJSON
import NIOCore

extension APIServer {
    func addSystemRoutes(to router: Router<CommerceRequestContext>) {
        router.get("/health") { _, _ in
            let head = try ledger.head()
            return JSONResponse.make(.ok, .object([("status", .string("ok")), ("head", .int(Int64(head))),
                                                   ("timeZone", .string(ledger.timeZoneIdentifier))]))
        }

        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metrics.render(ledger: ledger, streamClients: renderedEvents.clients))))
        }

        router.get("/openapi.yaml") { _, _ in
            guard let text = Self.openAPIDocument else {
                throw APIError(.serviceUnavailable, "STORE_UNAVAILABLE", "the OpenAPI document is missing from this build")
            }
            return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// The OpenAPI 3.1 document of this API, shipped as a resource.
    public static let openAPIDocument: String? = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else { return nil }
        return try? String(contentsOf: url, encoding: .utf8)
    }()
}
