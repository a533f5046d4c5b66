import Hummingbird
import NIOCore

/// Request context carrying the peer address, so admin calls without a token can be limited to
/// loopback, and the connection, so an event stream can drop a client that stopped reading.
public struct CommerceRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// Bodies over 64 KiB are refused with 413.
    public var maxUploadSize: Int { APIServer.maxBodySize }
}
