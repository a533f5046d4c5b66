import Commerce
import CommerceApp
import Foundation
import Hummingbird
import LedgerJSON
import Logging
import NIOCore

/// The HTTP API over one ledger: routes, admin access, metrics.
public struct APIServer: Sendable {
    public static let maxBodySize = 64 * 1024

    public let ledger: Ledger
    /// The single writer commands go through; nil on a read replica.
    public let writer: LedgerWriter?
    /// Leader (with the state of its relay to the bus, if any) or read replica.
    public var role: ServerRole = .leader(relay: nil)
    /// How long a query with `atLeast` waits for this server's views to reach that position.
    public var positionWait: Duration = .seconds(2)
    /// Admin routes need `Authorization: Bearer <token>`; with none, only loopback callers are admitted.
    public let adminToken: String?
    public let metrics: APIMetrics
    /// How `GET /events/stream` treats its clients.
    public var eventStream = EventStreamSettings()
    /// New events cut into batches for the event stream, shared by its clients.
    let broadcast: EventBroadcast
    let render: ViewRendering

    public init(ledger: Ledger, writer: LedgerWriter?, adminToken: String?, metrics: APIMetrics = APIMetrics()) {
        self.ledger = ledger
        self.writer = writer
        self.adminToken = adminToken?.isEmpty == true ? nil : adminToken
        self.metrics = metrics
        render = ViewRendering(calendar: ledger.calendar)
        broadcast = EventBroadcast(ledger: ledger, render: render)
        metrics.observe(ledger)
    }

    /// The API's router. `benchBaseline` adds `GET /bench/baseline`, a bare route with a constant
    /// body and no middleware, so a benchmark can measure the HTTP layer alone in the same run.
    public func makeRouter(benchBaseline: Bool = false) -> Router<CommerceRequestContext> {
        let router = Router(context: CommerceRequestContext.self)
        if benchBaseline {
            router.get("/bench/baseline") { _, _ in
                Response(status: .ok, headers: [.contentType: "application/json"],
                         body: .init(byteBuffer: ByteBuffer(string: "{\"userId\":1,\"balance\":10000}")))
            }
        }
        // Our own request counting (outermost, so it sees error responses too): Hummingbird's
        // MetricsMiddleware, through the swift-metrics facade, cost a quarter of a read's throughput.
        router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
        let methods = RouteMethods()
        router.add(middleware: APIErrorMiddleware(methods: methods))
        router.add(middleware: ReadPositionMiddleware(ledger: ledger, role: role, wait: positionWait))
        addSystemRoutes(to: router)
        addPointRoutes(to: router)
        addProductRoutes(to: router)
        addCouponRoutes(to: router)
        addOrderRoutes(to: router)
        addEventStreamRoute(to: router)
        addDashboardRoutes(to: router)
        addEventRoutes(to: router)
        methods.load(router.routes.map { ("\($0.path)", $0.method.rawValue) })
        return router
    }

    /// The API's responder: the router, answering HEAD wherever it answers GET.
    public func makeResponder(benchBaseline: Bool = false) -> HeadAsGetResponder<RouterResponder<CommerceRequestContext>> {
        HeadAsGetResponder(base: makeRouter(benchBaseline: benchBaseline).buildResponder())
    }

    /// Runs a command through the group-commit writer, counting it by type and outcome.
    func submit(_ command: CommerceCommand, _ request: Request) async throws -> CommandOutcome {
        let key = try RequestInput.idempotencyKey(request)
        guard let writer else { throw APIError.notLeader }
        do {
            let outcome = try await writer.submit(command, idempotencyKey: key)
            metrics.command(command.name, outcome: outcome.replayed ? "replayed" : outcome.outcomeLabel)
            return outcome
        } catch let error as CommerceError {
            metrics.command(command.name, outcome: error.code.rawValue)
            throw error
        } catch {
            metrics.command(command.name, outcome: "STORE_ERROR")
            throw error
        }
    }

    /// Decides `command` and answers it: the same JSON the CLI prints, with a status that fits; a
    /// recorded order failure is a 409 naming the order.
    /// Every answer carries the log position it reflects (`Ledger-Position`, and `position` in a
    /// success's body): a client that sends it back as `atLeast` to a replica reads its own write.
    func answer(_ command: CommerceCommand, _ request: Request) async throws -> Response {
        let outcome = try await submit(command, request)
        let position = outcome.logPosition
        switch render.answer(to: command, outcome, now: ledger.clock.now()) {
        case let .success(kind, body):
            var response: Response
            switch kind {
            case .created: response = JSONResponse.make(.created, body)
            case .changed: response = JSONResponse.make(.ok, body)
            case .accepted: response = JSONResponse.make(.accepted, body)
            }
            response.headers[.ledgerPosition] = String(position)
            return response
        case let .refused(error, details):
            var api = APIError(APIError.status(for: error.code), error.code.rawValue, error.message)
            api.details = details
            api.headers[.ledgerPosition] = String(position)
            throw api
        }
    }

    /// Admits an admin call: the configured bearer token, or with none configured a loopback peer.
    func requireAdmin(_ request: Request, _ context: CommerceRequestContext) throws {
        if let adminToken {
            // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
            guard let header = request.headers[.authorization], header.utf8.count > 7,
                  header.prefix(7).lowercased() == "bearer ",
                  Self.constantTimeEqual(String(header.dropFirst(7)), adminToken) else {
                throw APIError(.unauthorized, "UNAUTHORIZED", "admin calls need Authorization: Bearer <token>")
            }
            return
        }
        guard let address = context.remoteAddress?.ipAddress, Self.isLoopback(address) else {
            throw APIError(.unauthorized, "UNAUTHORIZED", "no admin token is configured: admin calls are accepted from loopback only")
        }
    }
}

extension APIServer {
    /// 127.0.0.0/8 and ::1, and 127.0.0.0/8 as an IPv6 socket bound to `::` sees it (::ffff:127.x.y.z).
    static func isLoopback(_ address: String) -> Bool {
        let address = address.lowercased()
        return address == "::1" || address.hasPrefix("127.") || address.hasPrefix("::ffff:127.")
    }

    /// Compares without an early exit, so the time taken does not leak how much of a token matched.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}

extension CommandOutcome {
    var outcomeLabel: String {
        if case let .orderFailed(_, reason, _, _) = result { return reason.rawValue }
        return "OK"
    }
}
