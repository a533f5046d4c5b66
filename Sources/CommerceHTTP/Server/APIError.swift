import Commerce
import CommerceApp
import Hummingbird
import LedgerJSON
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
    /// Every error a handler can meet, mapped to what the client should see.
    static func from(_ error: Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as CommerceError: return APIError(status(for: e.code), e.code.rawValue, e.message)
        case let e as LedgerError:
            var api: APIError
            switch e {
            case .readOnly: api = APIError(.serviceUnavailable, "READ_ONLY", e.description)
            case .shuttingDown: api = APIError(.serviceUnavailable, "SHUTTING_DOWN", e.description)
            case .storeFull, .storeFailure, .unusable: api = APIError(.serviceUnavailable, "STORE_UNAVAILABLE", e.description)
            }
            api.headers[.retryAfter] = "1"
            return api
        case is NIOTooManyBytesError:
            return APIError(.contentTooLarge, "PAYLOAD_TOO_LARGE", "the request body is larger than \(APIServer.maxBodySize) bytes")
        case let e as HTTPError:
            switch e.status {
            case .notFound: return APIError(.notFound, "NOT_FOUND", "no such route")
            case .methodNotAllowed: return APIError(.methodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed on this route")
            case .contentTooLarge: return APIError(.contentTooLarge, "PAYLOAD_TOO_LARGE", "the request body is larger than \(APIServer.maxBodySize) bytes")
            default: return APIError(e.status, "HTTP_\(e.status.code)", e.body ?? e.status.reasonPhrase)
            }
        default:
            // Not something a client sent: the store or the server itself.
            var api = APIError(.serviceUnavailable, "STORE_UNAVAILABLE", "\(error)")
            api.headers[.retryAfter] = "1"
            return api
        }
    }

    static func status(for code: CommerceError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidInput, .minChargeAmount: return .badRequest
        case .productNotFound, .couponNotFound, .orderNotFound, .requestNotFound: return .notFound
        case .idempotencyKeyReused: return .unprocessableContent
        case .balanceLimitExceeded, .couponNotActive, .couponAlreadyIssued, .couponSoldOut, .couponNotUsable,
             .insufficientStock, .insufficientPoints, .orderNotCompensable, .stockLimitExceeded:
            return .conflict
        }
    }
}

/// Turns every error thrown below it into the JSON error shape.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try APIError.from(error).response(from: request, context: context)
        }
    }
}
