import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client is too slow: one that has not sent a request's headers
/// within the header timeout (counted from the connection's start or the end of the
/// previous response, so it is also the keep-alive idle timeout), or a request's body
/// within the body timeout after its headers.
///
/// Without it a client that sends half a request and stops holds its connection, a file
/// descriptor and (mid-body) a request that a graceful shutdown waits for, forever. The
/// handler sits after Hummingbird's HTTP/1 decoding, so it sees whole request parts; while
/// the server computes a response no deadline runs (a translation may take long).
final class ClientDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What the connection waits for.
    private enum State {
        case awaitingHead, receivingBody, responding
    }

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let onTimeout: @Sendable (_ duringBody: Bool) -> Void
    private var state = State.awaitingHead
    private var deadline: Scheduled<Void>?

    /// - Parameters:
    ///   - onTimeout: called on the event loop when a deadline closes a connection (for
    ///     metrics), with whether the client was sending a body.
    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount, onTimeout: @escaping @Sendable (Bool) -> Void) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.onTimeout = onTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The pipeline is built for an accepted connection: the header clock starts now.
        schedule(headerTimeout, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) { cancel() }

    func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            state = .receivingBody
            schedule(bodyTimeout, context: context)
        case .body:
            break
        case .end:
            state = .responding
            cancel()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), state == .responding {
            // The response is complete: the next request's header clock starts.
            state = .awaitingHead
            schedule(headerTimeout, context: context)
        }
        context.write(data, promise: promise)
    }

    private func schedule(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        cancel()
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.deadline = nil
            handler.onTimeout(handler.state == .receivingBody)
            context.close(promise: nil)
        }
    }

    private func cancel() {
        deadline?.cancel()
        deadline = nil
    }
}
