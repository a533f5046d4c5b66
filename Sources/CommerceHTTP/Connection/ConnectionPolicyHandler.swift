import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// What the server does to connections beside answering requests: a request whose body has not
/// arrived within `bodyTimeout` of its head loses its connection (a slow or stalled client must not
/// hold one forever), and a response that says `Connection: close` closes the connection once it is
/// written (after a 413 the rest of an oversized body is not worth reading).
///
/// Slow or idle clients that have not sent a whole request head are cut by the server's idle
/// timeout, which no partial head resets.
///
/// A request that announces a body over the size limit is answered 413 as soon as its head
/// arrives (after the answer being written, if any), and the connection closed:
/// a client that waits for `100 Continue`, or sends slowly, learns at once instead of at the
/// read timeout.
///
/// Bytes that are not an HTTP/1.1 request (a bad request line or header) between requests get a
/// 400 `MALFORMED_HTTP` with the usual JSON error, after any answer still being written, and the
/// connection closed; what follows them cannot be framed. (A body that breaks within a request is
/// the route's to refuse, as `MALFORMED_BODY`.)
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
    /// Requests passed on whose answer has not been written to its end.
    private var unanswered = 0
    /// A request head was passed on and its end was not yet.
    private var inRequest = false
    /// A request too large to read, or bytes that are not a request, arrived: they and what else
    /// arrives are dropped, and this answer is written once no other answer is being written.
    private var refusal: APIError?

    init(bodyTimeout: TimeAmount) {
        self.bodyTimeout = bodyTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard refusal == nil else { return }
        switch unwrapInboundIn(data) {
        case let .head(request):
            let fields = request.headerFields
            // Only the API's POST routes read a body; another method's answer does not depend on one.
            if request.method == .post || request.method == .put || request.method == .patch,
               let length = fields[.contentLength].flatMap(Int.init), length > APIServer.maxBodySize {
                // Behind an answer still being written, the 413 waits for its end.
                refuse(.tooLarge, context: context)
                return
            }
            unanswered += 1
            inRequest = true
            // Only requests that announce a body can stall in the middle of one.
            if fields[.transferEncoding] != nil || (fields[.contentLength].map { $0 != "0" } ?? false) {
                let loop = context.eventLoop.assumeIsolated()
                bodyDeadline = loop.scheduleTask(in: bodyTimeout) { context.close(promise: nil) }
            }
        case .end:
            inRequest = false
            bodyDeadline?.cancel()
            bodyDeadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError, !inRequest, refusal == nil else {
            return context.fireErrorCaught(error)
        }
        // NIO names what it recognises; the rest is "unknown", which tells the client nothing.
        let what = "\(parse)".contains("unknown") ? "" : " (\(parse))"
        refuse(APIError(.badRequest, "MALFORMED_HTTP", "not an HTTP/1.1 request\(what)"), context: context)
    }

    /// Drops what arrives from now on and answers `error` (at once, or after the answer being
    /// written), then closes the connection.
    private func refuse(_ error: APIError, context: ChannelHandlerContext) {
        refusal = error
        if unanswered == 0 { writeRefusal(context: context) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case let .head(response):
            if response.headerFields[.connection]?.lowercased() == "close" { closeAfterResponse = true }
            streaming = response.headerFields[.contentType]?.hasPrefix("text/event-stream") ?? false
            // The client sent its request and hung up before the stream began.
            if streaming && inputClosed { return writeAndClose(context: context, data: data, promise: promise) }
        case .end where closeAfterResponse:
            unanswered = max(0, unanswered - 1)
            return writeAndClose(context: context, data: data, promise: promise)
        case .end:
            unanswered = max(0, unanswered - 1)
            streaming = false
            if refusal != nil && unanswered == 0 {
                context.write(data, promise: promise)
                return writeRefusal(context: context)
            }
        case .body:
            break
        }
        context.write(data, promise: promise)
    }

    private func writeRefusal(context: ChannelHandlerContext) {
        guard let refusal else { return }
        bodyDeadline?.cancel()
        bodyDeadline = nil
        // Written here, beneath the router, so built from the same parts as every JSON answer.
        let body = JSONResponse.body(refusal.json)
        var response = HTTPResponse(status: refusal.status)
        response.headerFields[.contentType] = JSONResponse.contentType
        response.headerFields[.contentLength] = String(body.readableBytes)
        response.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        writeAndClose(context: context, data: wrapOutboundOut(.end(nil)), promise: nil)
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
