import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// What the server does to connections beside answering requests: a request whose body has not
/// arrived within `bodyTimeout` of its head loses its connection (a slow or stalled client must not
/// hold one forever), and a response that says `Connection: close` closes the connection once it is
/// written (after a 413 the rest of an oversized body is not worth reading).
///
/// Slow or idle clients that have not sent a whole request head are cut by the server's idle
/// timeout, which no partial head resets.
///
/// A client of an event stream whose side of the connection ends (a killed process or a closed
/// tab sends FIN) has gone: its connection is closed at once. Without that, the server keeps
/// connections half-open and the stream would go on until a write to it failed, a heartbeat away.
final class ConnectionPolicyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let bodyTimeout: TimeAmount
    private var bodyDeadline: Scheduled<Void>?
    private var closeAfterResponse = false
    private var streaming = false
    private var inputClosed = false

    init(bodyTimeout: TimeAmount) {
        self.bodyTimeout = bodyTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(request):
            // Only requests that announce a body can stall in the middle of one.
            let fields = request.headerFields
            if fields[.transferEncoding] != nil || (fields[.contentLength].map { $0 != "0" } ?? false) {
                let loop = context.eventLoop.assumeIsolated()
                bodyDeadline = loop.scheduleTask(in: bodyTimeout) { context.close(promise: nil) }
            }
        case .end:
            bodyDeadline?.cancel()
            bodyDeadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case let .head(response):
            if response.headerFields[.connection]?.lowercased() == "close" { closeAfterResponse = true }
            streaming = response.headerFields[.contentType]?.hasPrefix("text/event-stream") ?? false
            // The client sent its request and hung up before the stream began.
            if streaming && inputClosed { return writeAndClose(context: context, data: data, promise: promise) }
        case .end where closeAfterResponse:
            return writeAndClose(context: context, data: data, promise: promise)
        case .end:
            streaming = false
        case .body:
            break
        }
        context.write(data, promise: promise)
    }

    private func writeAndClose(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.writeAndFlush(data, promise: promise)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client may half-close after its request and still read the answer; an event stream's
        // answer never ends, so its client has gone.
        context.fireUserInboundEventTriggered(event)
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            if streaming { context.close(promise: nil) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        bodyDeadline?.cancel()
        bodyDeadline = nil
    }
}
