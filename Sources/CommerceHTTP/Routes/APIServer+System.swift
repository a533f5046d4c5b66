import Foundation
import Hummingbird
import LedgerJSON
import NIOCore

extension APIServer {
    func addSystemRoutes(to router: Router<CommerceRequestContext>) {
        router.get("/health") { _, _ in
            let head = try ledger.head()
            var fields: [(String, JSONValue)] = [("head", .int(Int64(head))), ("timeZone", .string(ledger.timeZoneIdentifier))]
            var healthy = true
            switch try replicationState() {
            case nil:
                fields.append(("role", .string("leader")))
            case let .relay(report, lagEvents, lagSeconds)?:
                fields += [("role", .string("leader")), ("relay", .object([
                    ("target", .string(report.target)), ("stream", .string(report.stream)), ("connected", .bool(report.connected)),
                    ("position", .int(Int64(report.position))), ("lagEvents", .int(Int64(lagEvents))), ("lagSeconds", .double(lagSeconds)),
                    ("lastError", .optional(report.lastError)),
                ]))]
            case let .replica(report)?:
                healthy = report.gap == nil
                fields += [("role", .string("replica")), ("replication", .object([
                    ("source", .string(report.source)), ("stream", .string(report.stream)), ("leader", .optional(report.leader)),
                    ("connected", .bool(report.connected)), ("position", .int(Int64(report.position))),
                    ("streamTop", .int(Int64(report.streamTop))), ("lagEvents", .int(Int64(report.lagEvents))),
                    ("lagSeconds", .double(report.lagSeconds)), ("gap", .optional(report.gap)), ("lastError", .optional(report.lastError)),
                ]))]
            }
            // A replica with a gap answers no query: a load balancer should take it out.
            return JSONResponse.make(healthy ? .ok : .serviceUnavailable, .object([("status", .string(healthy ? "ok" : "gap"))] + fields))
        }

        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metrics.render(ledger: ledger, streamClients: broadcast.clients, replication: try replicationState()))))
        }

        router.get("/openapi.yaml") { _, _ in
            guard let text = Self.openAPIDocument else {
                throw APIError(.serviceUnavailable, "STORE_UNAVAILABLE", "the OpenAPI document is missing from this build")
            }
            return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// The relay's or the replica's state now, with the relay's lag read from the log.
    func replicationState() throws -> ReplicationState? {
        switch role {
        case .leader(relay: nil): return nil
        case let .leader(relay: report?):
            let r = report()
            let head = try ledger.head()
            guard head > r.position else { return .relay(r, lagEvents: 0, lagSeconds: 0) }
            let oldest = try ledger.event(at: r.position + 1)?.timestamp ?? ledger.clock.now()
            return .relay(r, lagEvents: head - r.position, lagSeconds: max(0, Double(ledger.clock.now() - oldest) / 1000))
        case let .replica(_, report): return .replica(report())
        }
    }

    /// The OpenAPI 3.1 document of this API, shipped as a resource.
    public static let openAPIDocument: String? = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else { return nil }
        return try? String(contentsOf: url, encoding: .utf8)
    }()
}
