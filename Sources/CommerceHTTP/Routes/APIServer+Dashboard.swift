import Foundation
import Hummingbird
import NIOCore

extension APIServer {
    /// The operator dashboard: one page and its script and style, served from this binary's
    /// resources. Without an admin token it is for loopback callers only, like the admin routes;
    /// with one, the page asks for the token and checks it with `GET /admin/session`.
    func addDashboardRoutes(to router: Router<CommerceRequestContext>) {
        router.get("/") { _, _ in
            Response(status: .found, headers: [.location: "/dashboard"])
        }
        router.get("/dashboard") { request, context in
            if adminToken == nil { try requireAdmin(request, context) }
            return try Self.asset("dashboard.html", type: "text/html; charset=utf-8")
        }
        router.get("/dashboard/dashboard.js") { _, _ in try Self.asset("dashboard.js", type: "text/javascript; charset=utf-8") }
        router.get("/dashboard/dashboard.css") { _, _ in try Self.asset("dashboard.css", type: "text/css; charset=utf-8") }
        router.get("/admin/session") { request, context in
            try requireAdmin(request, context)
            return Response(status: .noContent)
        }
    }

    static let dashboardAssets: [String: ByteBuffer] = {
        var assets: [String: ByteBuffer] = [:]
        for (name, ext) in [("dashboard", "html"), ("dashboard", "js"), ("dashboard", "css")] {
            if let url = Bundle.module.url(forResource: name, withExtension: ext), let data = try? Data(contentsOf: url) {
                assets["\(name).\(ext)"] = ByteBuffer(bytes: data)
            }
        }
        return assets
    }()

    static func asset(_ name: String, type: String) throws -> Response {
        guard let body = dashboardAssets[name] else {
            throw APIError(.internalServerError, "INTERNAL", "\(name) is missing from this build")
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: body))
    }
}
