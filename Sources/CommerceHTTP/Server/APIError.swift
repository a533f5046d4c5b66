import Commerce
import CommerceApp
import Foundation
import Hummingbird
import LedgerJSON
import Logging
import NIOCore

/// An error as clients see it: `{"error":{"code":…,"message":…}}` with a status that fits.
public struct APIError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    /// Extra fields of the error object (e.g. the orderId of a recorded OrderFailed).
    public var details: [(String, JSONValue)] = []
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public static func invalid(_ message: String) -> APIError { .init(.badRequest, "INVALID_INPUT", message) }

    public var json: JSONValue {
        .object([("error", .object([("code", .string(code)), ("message", .string(message))] + details))])
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(status, json)
        response.headers.append(contentsOf: headers)
        return response
    }
}

extension APIError {
    /// Every error a handler can meet, mapped to what the client should see. Only "the store
    /// cannot take writes now" is a 503 with `Retry-After`; anything unexpected is a 500 with an
    /// opaque id, its detail in the server's log and never in the response.
    static func from(_ error: Error, logger: Logger) -> APIError {
        switch error {
        case let e as APIError:
            return e
        case let e as CommerceError:
            return APIError(status(for: e.code), e.code.rawValue, e.message)
        case let e as LedgerError:
            switch e {
            case .storeFull:
                logger.warning("refusing writes: \(e)")
                return APIError(.serviceUnavailable, "STORAGE_FULL", "the store cannot take writes now; retry later").retrying(after: 5)
            case .shuttingDown:
                return APIError(.serviceUnavailable, "SHUTTING_DOWN", "the server is shutting down; retry on its successor").retrying(after: 1)
            case .readOnly:
                return APIError(.serviceUnavailable, "READ_ONLY", "this server serves a read-only snapshot and takes no commands")
            case .storeFailure, .unusable:
                return internalError(e, logger: logger)
            }
        case is NIOTooManyBytesError:
            return tooLarge
        case let e as HTTPError:
            switch e.status {
            case .notFound: return APIError(.notFound, "NOT_FOUND", "no such route")
            case .contentTooLarge: return tooLarge
            case .methodNotAllowed: return APIError(.methodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed on this route")
            default:
                if e.status.code < 500 { return APIError(e.status, "HTTP_\(e.status.code)", e.status.reasonPhrase) }
                return internalError(e, logger: logger)
            }
        default:
            return internalError(error, logger: logger)
        }
    }

    /// Answered, then the connection is closed: the rest of the body is not worth reading.
    static var tooLarge: APIError {
        var error = APIError(.contentTooLarge, "PAYLOAD_TOO_LARGE", "the request body is larger than \(APIServer.maxBodySize) bytes")
        error.headers[.connection] = "close"
        return error
    }

    static func internalError(_ error: Error, logger: Logger) -> APIError {
        let id = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        logger.error("internal error \(id): \(String(reflecting: error))")
        return APIError(.internalServerError, "INTERNAL", "the server failed to answer; the failure is logged as \(id)")
    }

    func retrying(after seconds: Int) -> APIError {
        var error = self
        error.headers[.retryAfter] = String(seconds)
        return error
    }

    static func status(for code: CommerceError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidInput, .minChargeAmount: return .badRequest
        case .productNotFound, .couponNotFound, .orderNotFound, .requestNotFound: return .notFound
        case .idempotencyKeyReused: return .unprocessableContent
        case .balanceLimitExceeded, .couponNotActive, .couponExpired, .couponAlreadyIssued, .couponSoldOut, .couponNotUsable,
             .insufficientStock, .insufficientPoints, .orderNotCompensable, .stockLimitExceeded:
            return .conflict
        }
    }
}

/// Turns every error thrown below it into the JSON error shape; a route that exists but not for
/// this method is a 405 naming the methods it takes.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let methods: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = methods.allowed(for: request.uri.path)
            guard !allowed.isEmpty else { return try APIError.from(error, logger: context.logger).response(from: request, context: context) }
            var api = APIError(.methodNotAllowed, "METHOD_NOT_ALLOWED", "\(request.method) is not allowed on \(request.uri.path); allowed: \(allowed.joined(separator: ", "))")
            api.headers[.allow] = allowed.joined(separator: ", ")
            return try api.response(from: request, context: context)
        } catch {
            return try APIError.from(error, logger: context.logger).response(from: request, context: context)
        }
    }
}
