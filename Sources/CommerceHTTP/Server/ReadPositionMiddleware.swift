import CommerceApp
import Hummingbird

/// Reads across machines: a query may name the log position it must see (`?atLeast=` or a
/// `Ledger-Position` request header, as a command's answer gave it) and waits, up to `wait`, for
/// this server's views to have folded that far, else `503 POSITION_NOT_REACHED` with
/// `Retry-After`. On a read replica, commands are sent to the leader (`307`, or `421 NOT_LEADER`
/// when no leader is configured), and queries are refused while the replica has a gap.
struct ReadPositionMiddleware<Context: RequestContext>: RouterMiddleware {
    let ledger: Ledger
    let role: ServerRole
    let wait: Duration

    /// Routes about the server itself, answered whatever the replica's state.
    static func isOperational(_ path: String) -> Bool {
        path == "/health" || path == "/metrics" || path == "/openapi.yaml" || path == "/" || path.hasPrefix("/dashboard") || path == "/admin/session"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if case let .replica(leader, report) = role {
            guard request.method == .get || request.method == .head else {
                guard let leader else { throw APIError.notLeader }
                return Response(status: .temporaryRedirect, headers: [.location: leader + request.uri.description])
            }
            if !Self.isOperational(request.uri.path), let gap = report().gap {
                throw APIError(.serviceUnavailable, "REPLICA_GAP", gap)
            }
        }
        if request.method == .get || request.method == .head, let wanted = try Self.wantedPosition(request) {
            try await waitForViews(at: wanted)
        }
        return try await next(request, context)
    }

    static func wantedPosition(_ request: Request) throws -> UInt64? {
        let text = request.uri.queryParameters.get("atLeast") ?? request.headers[.ledgerPosition]
        guard let text else { return nil }
        guard let value = RequestInput.position(text) else {
            throw APIError.invalid("atLeast (or the Ledger-Position header) must be a log position from 0 to 9223372036854775807")
        }
        return value
    }

    private func waitForViews(at wanted: UInt64) async throws {
        let deadline = ContinuousClock.now + wait
        while true {
            let folded = try ledger.foldedPosition()
            if folded >= wanted { return }
            let now = ContinuousClock.now
            guard now < deadline else {
                throw APIError(.serviceUnavailable, "POSITION_NOT_REACHED",
                               "this server has folded the log up to \(folded); position \(wanted) was not reached within \(wait)").retrying(after: 1)
            }
            await ledger.waitForHead(above: folded, timeout: min(deadline - now, .milliseconds(50)))
        }
    }
}

extension APIError {
    static var notLeader: APIError {
        APIError(.misdirectedRequest, "NOT_LEADER", "this server is a read replica and knows no leader: send commands to the leader")
    }
}
