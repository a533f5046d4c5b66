import Hummingbird
import Synchronization

/// The methods each route template takes, for `405 Method Not Allowed` with `Allow`. Filled once
/// the routes are added (the middleware that reads it is added before them).
final class RouteMethods: Sendable {
    private let routes = Mutex<[(segments: [Substring], method: String)]>([])

    func load(_ descriptions: [(path: String, method: String)]) {
        routes.withLock { $0 = descriptions.map { (Self.segments($0.path), $0.method) } }
    }

    /// Methods of every route whose template matches `path`; HEAD wherever GET is.
    func allowed(for path: String) -> [String] {
        let wanted = Self.segments(path)
        var methods = Set<String>()
        for route in routes.withLock({ $0 }) where route.segments.count == wanted.count {
            let matches = zip(route.segments, wanted).allSatisfy { template, actual in
                template.hasPrefix(":") || template.hasPrefix("{") || template == actual
            }
            if matches { methods.insert(route.method) }
        }
        if methods.contains("GET") { methods.insert("HEAD") }
        return methods.sorted()
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
}

/// `HEAD` wherever `GET` is: the request is routed as a GET, and the codec sends no body for a
/// HEAD. Wraps the router, since routing happens before any router middleware runs.
public struct HeadAsGetResponder<Base: HTTPResponder>: HTTPResponder {
    public typealias Context = Base.Context
    let base: Base

    public func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .head else { return try await base.respond(to: request, context: context) }
        var head = request.head
        head.method = .get
        var response = try await base.respond(to: Request(head: head, body: request.body), context: context)
        // The length the GET's body would have, and no body.
        response.body = ResponseBody(contentLength: response.body.contentLength) { writer in try await writer.finish(nil) }
        return response
    }
}
