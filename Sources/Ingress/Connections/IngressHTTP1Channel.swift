import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 connection, with the ingress's own handlers in front of its decoder:
///
///     socket ⇄ IdleConnectionTimer ⇄ WebhookFastPath ⇄ HTTP/1 decoder and encoder ⇄ ProtocolErrorAnswer ⇄ ExpectContinue
///            ⇄ HTTP types ⇄ RequestsInProgress ⇄ RouterAnswers ⇄ … router
///
/// The timer closes connections idle for `http.idle_timeout_seconds` (none when nil). The fast
/// path (none when `lane` is nil: `http.webhook_fast_path: 0`) reads the raw bytes first and
/// answers the deliveries it takes; whatever it passes on is parsed and answered by Hummingbird
/// exactly as without it, except that `ExpectContinue` answers `Expect: 100-continue` and
/// `ProtocolErrorAnswer` gives a request that is not valid HTTP/1.1 the API's JSON error.
struct IngressHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let lane: WebhookFastLane?
    let idleTimeout: TimeAmount?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let fastPath = lane.map { WebhookFastPath(lane: $0) }
        let timer = idleTimeout.map { IdleConnectionTimer(timeout: $0) }
        do {
            let operations = channel.pipeline.syncOperations
            if let timer { try operations.addHandler(timer) }
            if let fastPath { try operations.addHandler(fastPath) }
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        // setup runs on the channel's event loop, and so does what follows it.
        return http1.setup(channel: channel, logger: logger).assumeIsolated().flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let codec = try operations.handler(type: HTTP1ToHTTPServerCodec.self)
            try operations.addHandler(ProtocolErrorAnswer(logger: logger), position: .before(codec))
            try operations.addHandler(ExpectContinue(), position: .before(codec))
            if let fastPath { try operations.addHandler(RouterAnswers(fastPath: fastPath), position: .after(codec)) }
            if let timer { try operations.addHandler(RequestsInProgress(timer: timer), position: .after(codec)) }
            return value
        }.nonisolated()
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

/// Tells the fast path each time the router finishes writing an answer, so that it knows when
/// the router owes none and it may answer requests itself again without breaking their order.
final class RouterAnswers: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let fastPath: WebhookFastPath

    init(fastPath: WebhookFastPath) {
        self.fastPath = fastPath
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        if isEnd {
            // After this write has returned: the fast path may write answers of its own next.
            let fastPath = self.fastPath
            context.eventLoop.assumeIsolated().execute { fastPath.routerAnswered() }
        }
    }
}
