import HummingbirdCore
import NIOCore

extension HTTPServerBuilder {
    /// HTTP/1.1 as the API serves it: a client that has not sent a whole request head within
    /// `readTimeout` (idle keep-alive connections included) is disconnected, and so is one whose
    /// request body takes longer than `bodyTimeout`.
    public static func commerceHTTP1(readTimeout: Duration, bodyTimeout: Duration) -> HTTPServerBuilder {
        let body = TimeAmount.nanoseconds(Int64(bodyTimeout / .nanoseconds(1)))
        return .http1(configuration: .init(
            additionalChannelHandlers: [ConnectionPolicyHandler(bodyTimeout: body)],
            idleTimeout: .nanoseconds(Int64(readTimeout / .nanoseconds(1)))))
    }
}
